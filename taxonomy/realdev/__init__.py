"""A development set of real policies: the project's labels for units of the non-gold policies in shared/realcorpus.

The text is not ours, so only the labels live here (``labels/*.labels.jsonl``).
The units are rebuilt from ``shared/realcorpus`` by the same importer and
segmenter the pipeline uses. ``build_units`` checks that every labelled
document yields as many clauses as it has labels, so a segmenter change that
would misalign them fails loudly instead of scoring nonsense.

    python -m taxonomy.realdev ../shared/realcorpus -o demo-out/realdev   # writes realdev-A.units.jsonl, ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# the labels are evaluation data of the repository (eval/), not part of the installed package
LABELS_DIR = Path(__file__).resolve().parents[2] / "eval" / "realdev" / "labels"

# The non-gold employee social media policies of shared/realcorpus (INDEX.tsv: in_gold = no), minus one
# in Japanese, one very long developer-relations page, and the files that copy or derive from gold documents.
FILES = {
    "A": ["texts/univ-manchester-social-media-staff-policy.md", "texts/north-coast-church-social-media-acceptable-use.md",
          "texts/cultivate-uk-social-media-policy.md", "pages/csumb-social-media-guidelines.html",
          "texts/deeson-social-media-policy.md", "texts/opus-works-social-networking-policy.md",
          "texts/gsa-tts-18f-social-media.md"],
    "B": ["texts/gitlab-team-member-social-advocacy.md", "texts/mattermost-social-engagement-guidelines.md",
          "texts/pyopensci-communication-social-media.md", "texts/jupyter-media-strategy-charter.md",
          "texts/pyopensci-social-media-platforms.md"],
    "C": ["texts/rladies-chapter-social-media-guide.md", "texts/manordeilo-salem-community-council-online-policy.php",
          "texts/world-ia-day-social-media-guide.md", "texts/linux-australia-communications-policy.md",
          "texts/django-dsf-social-media-working-group.md", "texts/kubernetes-social-media-role-handbook.md",
          "texts/operate-first-social-media-guide.md"],
}


class RealdevError(RuntimeError):
    pass


def document_units(path: Path) -> list[dict]:
    """The taggable clauses of one policy file, as evaluation units {doc, idx, heading, text}."""
    from policycorpus.extract import extract
    from taxonomy.segment import CLAUSE, FRAGMENT, segment_blocks

    extracted = extract(path.read_bytes(), fmt=path.suffix.lower())
    doc = path.name.rsplit(".", 1)[0]
    # fragments stay units (they were labelled); the tagger reads them as fragments again and leaves them untagged
    clauses = [c for c in segment_blocks(extracted.blocks, None) if c.kind in (CLAUSE, FRAGMENT)]
    return [{"doc": doc, "idx": i, "heading": c.heading, "text": c.text} for i, c in enumerate(clauses)]


def labels_path(batch: str) -> Path:
    return LABELS_DIR / f"{batch}.labels.jsonl"


def build_units(realcorpus: str | Path, batch: str) -> list[dict]:
    """The units of one batch, rebuilt from the real corpus and checked against the stored labels."""
    from taxonomy.training import json_objects

    root = Path(realcorpus)
    units = []
    for rel in FILES[batch]:
        if not (root / rel).exists():
            raise RealdevError(f"{root / rel} not found (the real corpus lives in ../shared/realcorpus)")
        units += document_units(root / rel)
    labelled = [row for _, row in json_objects(labels_path(batch), RealdevError, require_text=False)]
    if [(u["doc"], u["idx"]) for u in units] != [(r["doc"], r["idx"]) for r in labelled]:
        raise RealdevError(f"batch {batch}: the segmenter now cuts these files into other units than were labelled "
                           f"({len(units)} units, {len(labelled)} labels)")
    return units


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m taxonomy.realdev", description=__doc__.splitlines()[0])
    parser.add_argument("realcorpus", help="the shared/realcorpus directory")
    parser.add_argument("-o", "--output-dir", default=".", help="where to write <batch>.units.jsonl")
    args = parser.parse_args(argv)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        for batch in FILES:
            units = build_units(args.realcorpus, batch)
            path = out / f"realdev-{batch}.units.jsonl"
            path.write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in units), encoding="utf-8")
            print(f"{path}: {len(units)} units; labels in {labels_path(batch)}")
    except RealdevError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
