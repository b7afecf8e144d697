"""Benchmark: what reading a document's own metadata costs, on the real policies of ../shared/realcorpus.

Prints the one-off load of the language model, then per document (median and maximum over the files):
extraction with its title and dates, language detection on the extracted blocks, and the MinHash signature
that near-duplicate detection keeps per snapshot.

    python bench/document_metadata.py
    python bench/document_metadata.py --folder some/policies --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=str(ROOT.parent / "shared" / "realcorpus"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per document; the fastest counts")
    args = parser.parse_args()

    from policycorpus.duplicates import signature_bytes
    from policycorpus.extract.dispatch import TEXT_FORMATS, extract
    from policycorpus.extract.metadata import _identifier, detect_language

    files = sorted(p for p in Path(args.folder).rglob("*") if p.suffix.lower() in TEXT_FORMATS)
    if not files:
        sys.exit(f"no documents under {args.folder}")
    started = time.perf_counter()
    _identifier()
    print(f"language model load: {time.perf_counter() - started:.2f} s (once per process)")
    extract(files[0].read_bytes(), files[0].name, fmt=files[0].suffix, detect=False)  # imports

    rows = {"extraction with title and dates": [], "language detection": [], "MinHash signature": []}
    for path in files:
        body = path.read_bytes()
        seconds, result = timed(lambda: extract(body, path.name, fmt=path.suffix, detect=False), args.repeat)
        rows["extraction with title and dates"].append(seconds)
        rows["language detection"].append(timed(lambda: detect_language(result.blocks), args.repeat)[0])
        rows["MinHash signature"].append(timed(lambda: signature_bytes(result.text), args.repeat)[0])
    print(f"{len(files)} documents, {sum(f.stat().st_size for f in files) / 1024:.0f} KB")
    for name, values in rows.items():
        print(f"{name}: median {statistics.median(values) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
