"""`make demo`: the whole pipeline on the bundled demo web.

Serves the demo web (demo/webserver.py) on its 127.0.0.x hosts, imports its
company list, crawls it, switches the changing policy to its second version
and crawls again, then segments, tags, compares the peer group, clusters,
finds templates, prints a summary and (with --serve) publishes the corpus
with Datasette.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from demo.archive import InternetArchiveServer, demo_captures
from demo.webserver import DemoWeb

ROOT = Path(__file__).resolve().parents[1]


def policycorpus(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "policycorpus", *args]
    print(f"$ policycorpus {' '.join(args)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT)
    print(f"  ({time.monotonic() - started:.1f} s)", flush=True)
    if check and result.returncode != 0:
        sys.exit(f"demo: 'policycorpus {args[0]}' failed with exit status {result.returncode}")
    return result


def peer_group(web: DemoWeb) -> tuple[str, list[str]]:
    """The demo's peer group with the most members, and their names."""
    groups: dict[str, list[str]] = {}
    for company in web.companies():
        for group in filter(None, (company.get("peer_group") or "").split(";")):
            groups.setdefault(group, []).append(company["name"])
    name = max(groups, key=lambda g: len(groups[g]))
    return name, groups[name]


SUMMARY_QUERIES = {
    "companies": "select count(*) from companies",
    "policies found": "select count(*) from documents",
    "snapshots": "select count(*) from snapshots",
    "crawls": "select count(*) from crawls where coalesce(kind, 'crawl') = 'crawl'",
    "pages fetched": "select coalesce(sum(pages), 0) from crawls where coalesce(kind, 'crawl') = 'crawl'",
    "errors": "select coalesce(sum(errors), 0) from crawls where coalesce(kind, 'crawl') = 'crawl'",
    "archive requests": "select count(*) from crawl_log where crawl_id in (select id from crawls where kind = 'history')",
    "clauses": "select count(*) from clauses where kind = 'clause'",
    "tags": "select count(*) from tags",
    "template families": "select count(*) from template_families",
}


def summary(db_path: Path) -> str:
    from policycorpus.db import open_db

    db = open_db(db_path)
    return "\n".join(f"  {label + ':':20}{db.execute(sql).fetchone()[0]:>6}" for label, sql in SUMMARY_QUERIES.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="demo-out/corpus.db")
    parser.add_argument("--out", default="demo-out")
    parser.add_argument("--port", type=int, default=8631)
    parser.add_argument("--serve", action="store_true", help="end by serving the corpus with Datasette")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    db = Path(args.db)
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)

    with DemoWeb(port=args.port, generation=1) as web:
        csv_path = web.write_companies_csv(out / "companies.csv")
        print(f"Demo web: {len(web.companies())} company sites on 127.0.0.x:{args.port}", flush=True)
        policycorpus("companies", "import", str(csv_path), "--db", str(db))
        policycorpus("crawl", "--allow-private", "--db", str(db))
        web.set_generation(2)
        print("Demo web: the changing policy is now at its second version; crawling again", flush=True)
        policycorpus("crawl", "--allow-private", "--db", str(db))
        with InternetArchiveServer(demo_captures(web)) as archive:
            print("Demo archive: older captures of the changing policy; backfilling its history", flush=True)
            policycorpus("history", "--archive", archive.url, "--allow-host", "127.0.0.1", "--delay", "0",
                         "--db", str(db))
        group, members = peer_group(web)

    policycorpus("segment", "--db", str(db))
    policycorpus("tag", "--db", str(db))
    policycorpus("compare", "--peer-group", group, "--format", "all", "-o", str(out), "--db", str(db))
    policycorpus("cluster", "--db", str(db))
    policycorpus("templates", "--matrix", str(out / "doc-similarity.csv"), "--db", str(db))
    policycorpus("plot", "heatmap", "--peer-group", group, "-o", str(out / "heatmap"), "--db", str(db))
    policycorpus("plot", "dendrogram", "-o", str(out / "dendrogram"), "--db", str(db))
    policycorpus("plot", "map", "-o", str(out / "clause-map"), "--db", str(db))
    print("\nDemo corpus summary\n" + summary(db), flush=True)
    print(f"Reports in {out}/ (peer group {group}: {', '.join(members)})", flush=True)
    if args.serve:
        policycorpus("serve", "--db", str(db))
    return 0


if __name__ == "__main__":
    sys.exit(main())
