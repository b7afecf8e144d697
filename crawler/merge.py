"""`policycorpus merge`: fold per-worker corpus databases into one corpus.

What is merged, and by which key (so that merging the same file twice adds nothing):

* companies – by name;
* documents – by (company, url); first/last seen widened; the current version is the one seen
  last by either corpus (a `merge` row in document_versions records it when the histories disagree);
* snapshots – by (document, text_hash): one row per distinct text, as in a single crawl;
* document_versions – by (document, snapshot text, since, source);
* crawls – by (started_at, job, worker, settings); their ids are mapped;
* crawl_companies – by (crawl, company);
* candidates – by (crawl, url, judged_at); crawl_log – by (crawl, url, at, outcome, status, worker).

Clauses, tags and the other derived tables are not copied: run `policycorpus segment` and
`policycorpus tag` on the merged corpus.

Each source is merged in one transaction (BEGIN IMMEDIATE): it takes the corpus's write lock
before reading what the destination already holds, so concurrent merges serialise, and as every
row is matched by its key, a second merge of the same sources adds nothing. The columns copied
are those `policycorpus.db.TABLES` declares, so a new column is merged without a change here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from policycorpus.db import TABLES_BY_NAME, open_db, sqlite_errors, transaction
from policycorpus.duplicates import link_duplicates
from policycorpus.errors import InputError, NotFoundError


def columns(table: str, *computed: str) -> tuple[str, ...]:
    """The schema's columns of a table, less its row id and the columns the merge computes itself."""
    return tuple(c.name for c in TABLES_BY_NAME[table].columns if c.name not in ("id", *computed))


COMPANY_FIELDS = columns("companies")
# duplicate_of names a document id of the source corpus: the merge links duplicates anew in its own ids
DOCUMENT_FIELDS = columns("documents", "company_id", "latest_snapshot_id", "snapshot_count", "duplicate_of",
                          "duplicate_similarity")
SNAPSHOT_FIELDS = columns("snapshots", "document_id")
CRAWL_FIELDS = columns("crawls")
VERSION_FIELDS = columns("document_versions")
COUNTED = ("companies", "documents", "snapshots", "crawls", "candidates", "crawl_log", "document_versions")
CRAWL_KEY = ("started_at", "job", "worker", "settings")
CANDIDATE_KEY = ("url", "judged_at")
LOG_KEY = ("url", "at", "outcome", "status", "worker")


def merge_databases(dest: str | Path, sources: list[str | Path]) -> dict[str, int]:
    """Merge every source corpus into dest (created if missing); returns counts of rows added."""
    dest_path = Path(dest).resolve()
    for source in sources:
        if not Path(source).exists():
            raise NotFoundError(f"no corpus database at {source}")
        if Path(source).resolve() == dest_path:
            raise InputError(f"{source} is the destination itself")
    totals = dict.fromkeys(COUNTED, 0)
    with sqlite_errors(dest_path):
        db = open_db(dest_path)
    try:
        for source in sources:
            with sqlite_errors(source):
                src = open_db(source, create=False)
            try:
                with transaction(db):
                    counts = _merge_one(db, src)
            finally:
                src.conn.close()
            for key, value in counts.items():
                totals[key] += value
    finally:
        db.conn.close()
    return totals


def _merge_one(db, src) -> dict[str, int]:
    counts = dict.fromkeys(COUNTED, 0)
    company_map = _merge_companies(db, src, counts)
    crawl_map = _merge_crawls(db, src, counts)
    _merge_documents(db, src, company_map, counts)
    link_duplicates(db, set(company_map.values()))
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
            db["crawls"].update(dest_id, {k: row.get(k) for k in CRAWL_FIELDS})
        else:
            dest_id = db["crawls"].insert({k: row.get(k) for k in CRAWL_FIELDS}).last_pk
            existing[key] = dest_id
            counts["crawls"] += 1
        mapping[row["id"]] = dest_id
    return mapping


def _merge_documents(db, src, company_map, counts) -> None:
    for doc in src.query("select * from documents order by id"):
        company_id = company_map[doc["company_id"]]
        dest = next(db["documents"].rows_where("company_id = ? and url = ?", [company_id, doc["url"]], limit=1), None)
        if dest is None:
            dest_id = db["documents"].insert({**{k: doc.get(k) for k in DOCUMENT_FIELDS}, "company_id": company_id,
                                              "snapshot_count": 0}).last_pk
            counts["documents"] += 1
        else:
            dest_id = dest["id"]
        snapshot_map = _merge_snapshots(db, src, doc["id"], dest_id, counts)
        counts["document_versions"] += _merge_versions(db, src, doc["id"], dest_id, snapshot_map)
        _refresh_document(db, dest_id, dest, doc, snapshot_map)


def _merge_snapshots(db, src, src_doc_id: int, dest_id: int, counts) -> dict[int, int]:
    """Copy the document's snapshots with a text the destination lacks; returns source id -> destination id."""
    known = {r["text_hash"]: r["id"] for r in db.query("select id, text_hash from snapshots where document_id = ?",
                                                       [dest_id])}
    mapping = {}
    for snap in src.query("select * from snapshots where document_id = ? order by id", [src_doc_id]):
        if snap["text_hash"] not in known:
            row = {"document_id": dest_id, **{k: snap.get(k) for k in SNAPSHOT_FIELDS}}
            known[snap["text_hash"]] = db["snapshots"].insert(row).last_pk
            counts["snapshots"] += 1
        mapping[snap["id"]] = known[snap["text_hash"]]
    return mapping


def _merge_versions(db, src, src_doc_id: int, dest_id: int, snapshot_map: dict[int, int]) -> int:
    """Add the source's history rows of the document that the destination lacks; returns how many."""
    existing = Counter(tuple(r) for r in db.execute(
        "select snapshot_id, since, source from document_versions where document_id = ?", [dest_id]))
    added = 0
    for row in src.query("select * from document_versions where document_id = ? order by id", [src_doc_id]):
        if row["snapshot_id"] not in snapshot_map:
            continue
        values = {k: row.get(k) for k in VERSION_FIELDS}
        values.update(document_id=dest_id, snapshot_id=snapshot_map[row["snapshot_id"]])
        ident = (values["snapshot_id"], values["since"], values["source"])
        if existing[ident] > 0:
            existing[ident] -= 1
            continue
        db["document_versions"].insert(values)
        added += 1
    return added


def _refresh_document(db, doc_id: int, dest_doc: dict | None, src_doc: dict, snapshot_map: dict[int, int]) -> None:
    """The merged document's current text is the one seen last by either side (latest means latest seen)."""
    span = db.execute("select min(fetched_at), max(fetched_at), count(*) from snapshots where document_id = ?",
                      [doc_id]).fetchone()
    row = db["documents"].get(doc_id)
    update = {
        "first_seen": min(filter(None, [row["first_seen"], src_doc["first_seen"], span[0]]), default=None),
        "last_seen": max(filter(None, [row["last_seen"], src_doc["last_seen"], span[1]]), default=None),
        "snapshot_count": span[2],
    }
    current = [(d["last_seen"] or "", i, d["latest_snapshot_id"], d)
               for i, d in ((1, dest_doc), (0, {**src_doc, "latest_snapshot_id": snapshot_map.get(src_doc["latest_snapshot_id"])}))
               if d and d["latest_snapshot_id"]]
    if current:  # the later sighting wins; on a tie the destination's (so merging again changes nothing)
        seen, _, snapshot_id, winner = max(current, key=lambda c: c[:2])
        update.update(latest_snapshot_id=snapshot_id, title=winner["title"], policy_score=winner["policy_score"],
                      language=winner.get("language"))
        in_force = db.execute("select snapshot_id from document_versions where document_id = ? "
                              "order by since desc, id desc limit 1", [doc_id]).fetchone()
        if in_force is None or in_force[0] != snapshot_id:
            # the two histories disagree on what came last: record that the later sighting's text is in force
            db["document_versions"].insert({"document_id": doc_id, "snapshot_id": snapshot_id,
                                            "since": seen or update["last_seen"], "source": "merge"})
    elif span[2]:  # neither side knew its current version (an old crash): take the newest snapshot
        latest = db.execute("select id, title, language from snapshots where document_id = ? "
                            "order by fetched_at desc, id desc limit 1", [doc_id]).fetchone()
        update.update(latest_snapshot_id=latest[0], title=latest[1] or row["title"], language=latest[2])
    db["documents"].update(doc_id, update)


def _merge_crawl_companies(db, src, company_map, crawl_map) -> None:
    fields = columns("crawl_companies")
    for row in src.query("select * from crawl_companies"):
        db["crawl_companies"].upsert({**{k: row.get(k) for k in fields}, "crawl_id": crawl_map.get(row["crawl_id"], row["crawl_id"]),
                                      "company_id": company_map.get(row["company_id"], row["company_id"])},
                                     pk=("crawl_id", "company_id"))


def _append_rows(db, src, table: str, key: tuple[str, ...], company_map, crawl_map) -> int:
    """Copy rows not already present (by crawl and key); returns how many were added."""
    added = 0
    fields = columns(table)
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
            row = {k: row.get(k) for k in fields}
            row["crawl_id"] = dest_crawl
            if row.get("company_id") is not None:
                row["company_id"] = company_map.get(row["company_id"], row["company_id"])
            batch.append(row)
        if batch:
            db[table].insert_all(batch)
            added += len(batch)
    return added
