"""`policycorpus merge`: fold per-worker corpus databases into one corpus.

What is merged, and by which key (so that merging the same file twice adds nothing):

* companies – by name;
* documents – by (company, url); first/last seen widened, latest snapshot recomputed;
* snapshots – by (document, text_hash): one row per distinct text, as in a single crawl;
* crawls – by (started_at, job, worker, settings); their ids are mapped;
* crawl_companies – by (crawl, company);
* candidates – by (crawl, url, judged_at); crawl_log – by (crawl, url, at, outcome, status, worker).

Clauses, tags and the other derived tables are not copied: run `policycorpus segment` and
`policycorpus tag` on the merged corpus. Each source is merged in one transaction.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from policycorpus.db import open_db

COMPANY_FIELDS = ("name", "slug", "homepage", "policy_url", "domains", "industry", "country", "peer_groups", "added_at")
SNAPSHOT_FIELDS = ("fetched_at", "year", "http_status", "content_type", "content_hash", "text_hash", "raw", "raw_size",
                   "title", "text", "structure", "extractor")
CRAWL_KEY = ("started_at", "job", "worker", "settings")
CANDIDATE_KEY = ("url", "judged_at")
LOG_KEY = ("url", "at", "outcome", "status", "worker")


def merge_databases(dest: str | Path, sources: list[str | Path]) -> dict[str, int]:
    """Merge every source corpus into dest (created if missing); returns counts of rows added."""
    dest_path = Path(dest).resolve()
    for source in sources:
        if not Path(source).exists():
            raise FileNotFoundError(f"no corpus database at {source}")
        if Path(source).resolve() == dest_path:
            raise ValueError(f"{source} is the destination itself")
    totals = dict.fromkeys(("companies", "documents", "snapshots", "crawls", "candidates", "crawl_log"), 0)
    db = open_db(dest_path)
    try:
        for source in sources:
            src = open_db(source, create=False)
            try:
                with db.conn:
                    counts = _merge_one(db, src)
            finally:
                src.conn.close()
            for key, value in counts.items():
                totals[key] += value
    finally:
        db.conn.close()
    return totals


def _merge_one(db, src) -> dict[str, int]:
    counts = dict.fromkeys(("companies", "documents", "snapshots", "crawls", "candidates", "crawl_log"), 0)
    company_map = _merge_companies(db, src, counts)
    crawl_map = _merge_crawls(db, src, counts)
    _merge_documents(db, src, company_map, counts)
    _merge_crawl_companies(db, src, company_map, crawl_map)
    counts["candidates"] = _append_rows(db, src, "candidates", CANDIDATE_KEY, company_map, crawl_map)
    counts["crawl_log"] = _append_rows(db, src, "crawl_log", LOG_KEY, company_map, crawl_map)
    return counts


def _merge_companies(db, src, counts) -> dict[int, int]:
    by_name = {r["name"]: r["id"] for r in db.query("select id, name from companies")}
    slugs = {r["slug"] for r in db.query("select slug from companies")}
    mapping = {}
    for row in src.query("select * from companies order by id"):
        if row["name"] in by_name:
            mapping[row["id"]] = by_name[row["name"]]
            continue
        values = {k: row.get(k) for k in COMPANY_FIELDS}
        base, n = values["slug"], 2
        while values["slug"] in slugs:  # same slug, different name: keep both
            values["slug"], n = f"{base}-{n}", n + 1
        new_id = db["companies"].insert(values).last_pk
        by_name[row["name"]], mapping[row["id"]] = new_id, new_id
        slugs.add(values["slug"])
        counts["companies"] += 1
    return mapping


def _crawl_key(row) -> tuple:
    return tuple(row.get(k) for k in CRAWL_KEY)


def _merge_crawls(db, src, counts) -> dict[int, int]:
    existing = {_crawl_key(r): r["id"] for r in db.query("select * from crawls")}
    mapping = {}
    for row in src.query("select * from crawls order by id"):
        key = _crawl_key(row)
        if key in existing:
            dest_id = existing[key]
            # a crawl that went on (resumed) after an earlier merge: take its newer totals
            db["crawls"].update(dest_id, {k: row[k] for k in row if k != "id"})
        else:
            dest_id = db["crawls"].insert({k: row[k] for k in row if k != "id"}).last_pk
            existing[key] = dest_id
            counts["crawls"] += 1
        mapping[row["id"]] = dest_id
    return mapping


def _merge_documents(db, src, company_map, counts) -> None:
    for doc in src.query("select * from documents order by id"):
        company_id = company_map[doc["company_id"]]
        dest = next(db["documents"].rows_where("company_id = ? and url = ?", [company_id, doc["url"]], limit=1), None)
        if dest is None:
            dest_id = db["documents"].insert({
                "company_id": company_id, "url": doc["url"], "source": doc["source"], "title": doc["title"],
                "policy_score": doc["policy_score"], "first_seen": doc["first_seen"], "last_seen": doc["last_seen"],
                "snapshot_count": 0,
            }).last_pk
            counts["documents"] += 1
        else:
            dest_id = dest["id"]
        known = {r["text_hash"] for r in db.query("select text_hash from snapshots where document_id = ?", [dest_id])}
        for snap in src.query("select * from snapshots where document_id = ? order by id", [doc["id"]]):
            if snap["text_hash"] in known:
                continue
            db["snapshots"].insert({"document_id": dest_id, **{k: snap[k] for k in SNAPSHOT_FIELDS}})
            known.add(snap["text_hash"])
            counts["snapshots"] += 1
        _refresh_document(db, dest_id, doc)


def _refresh_document(db, doc_id: int, src_doc: dict) -> None:
    latest = db.execute("select id, title from snapshots where document_id = ? order by fetched_at desc, id desc limit 1",
                        [doc_id]).fetchone()
    span = db.execute("select min(fetched_at), max(fetched_at), count(*) from snapshots where document_id = ?",
                      [doc_id]).fetchone()
    row = db["documents"].get(doc_id)
    first_seen = min(filter(None, [row["first_seen"], src_doc["first_seen"], span[0]]), default=None)
    last_seen = max(filter(None, [row["last_seen"], src_doc["last_seen"], span[1]]), default=None)
    update = {"first_seen": first_seen, "last_seen": last_seen, "snapshot_count": span[2]}
    if latest:
        update.update({"latest_snapshot_id": latest[0], "title": latest[1] or row["title"]})
        if src_doc["latest_snapshot_id"] and src_doc["last_seen"] == last_seen:
            update["policy_score"] = src_doc["policy_score"]
    db["documents"].update(doc_id, update)


def _merge_crawl_companies(db, src, company_map, crawl_map) -> None:
    for row in src.query("select * from crawl_companies"):
        db["crawl_companies"].upsert({**row, "crawl_id": crawl_map.get(row["crawl_id"], row["crawl_id"]),
                                      "company_id": company_map.get(row["company_id"], row["company_id"])},
                                     pk=("crawl_id", "company_id"))


def _append_rows(db, src, table: str, key: tuple[str, ...], company_map, crawl_map) -> int:
    """Copy rows not already present (by crawl and key); returns how many were added."""
    added = 0
    for src_crawl, dest_crawl in crawl_map.items():
        cols = ", ".join(key)
        # a multiset: the same key may legitimately occur twice in one source (two outcomes in one second)
        existing = Counter(tuple(r) for r in db.execute(f"select {cols} from {table} where crawl_id = ?", [dest_crawl]))
        batch = []
        for row in src.query(f"select * from {table} where crawl_id = ? order by id", [src_crawl]):
            ident = tuple(row[k] for k in key)
            if existing[ident] > 0:
                existing[ident] -= 1
                continue
            row = {k: v for k, v in row.items() if k != "id"}
            row["crawl_id"] = dest_crawl
            if row.get("company_id") is not None:
                row["company_id"] = company_map.get(row["company_id"], row["company_id"])
            batch.append(row)
        if batch:
            db[table].insert_all(batch)
            added += len(batch)
    return added
