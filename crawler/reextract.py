"""`policycorpus reextract`: rebuild snapshot texts from the stored raw bytes (or the crawl's WARC record) after
an extractor change, adding a snapshot only where the text changes. Where the text is unchanged, the
snapshot's title, language and policy dates are read anew (so a corpus made before they were read gets them).

A new text of a document's current version becomes current (a `document_versions` row, source 'reextract');
older versions stay as they were read, their re-extracted text stored beside them with the same date.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from crawler.archive import extract_capture, strip_archive_markup
from policycorpus.db import transaction, utcnow
from policycorpus.duplicates import link_duplicates
from policycorpus.store import Fetched, _insert_snapshot, raw_bytes, refresh_snapshot_facts
from policycorpus.structure import join_blocks, sha256


@dataclass
class ReextractStats:
    snapshots: int = 0
    unchanged: int = 0
    new_snapshots: int = 0
    empty: int = 0
    no_raw: int = 0


def raw_of(snapshot: dict, corpus_path: str | None) -> bytes:
    """The stored raw body, else the crawl's WARC record of it."""
    raw = raw_bytes(snapshot)
    if not raw and snapshot.get("warc_path") and corpus_path:
        from crawler.warcwriter import read_warc_record

        raw = read_warc_record(corpus_path, snapshot["warc_path"], snapshot["warc_offset"] or 0)[1]
    return raw


def reextract(db: sqlite_utils.Database, corpus_path: str | None = None,
              document_ids: list[int] | None = None) -> ReextractStats:
    stats = ReextractStats()
    where, params = "1 = 1", []
    if document_ids is not None:
        where, params = "document_id in (%s)" % ",".join("?" * len(document_ids)), list(document_ids)
    ids = [r[0] for r in db.execute(f"select id from snapshots where {where} order by id", params).fetchall()]
    for sid in ids:
        snap = db.table("snapshots").get(sid)
        stats.snapshots += 1
        raw = raw_of(snap, corpus_path)
        if not raw:
            stats.no_raw += 1
            continue
        doc = db.table("documents").get(snap["document_id"])
        extracted = extract_capture(strip_archive_markup(raw) if snap.get("source") == "archive" else raw,
                                    doc["url"], snap["content_type"])
        if not extracted.ok:
            stats.empty += 1
            continue
        text, blocks = join_blocks(extracted.blocks)
        text_hash = sha256(text)
        same = next(db["snapshots"].rows_where("document_id = ? and text_hash = ?", [doc["id"], text_hash], limit=1),
                    None)
        if same is not None:
            _refresh_facts(db, doc, same, _fetched(doc, snap, raw, extracted))
            stats.unchanged += 1
            continue
        _store(db, doc, snap, raw, extracted, text, blocks, text_hash)
        stats.new_snapshots += 1
    return stats


def _fetched(doc, snap, raw, extracted) -> Fetched:
    return Fetched(url=doc["url"], raw=raw, content_type=snap["content_type"], blocks=extracted.blocks,
                   title=extracted.title, http_status=snap["http_status"], extractor=extracted.extractor,
                   language=extracted.language, dates=extracted.dates)


def _refresh_facts(db, doc, snapshot, fetched: Fetched) -> None:
    """Title, language and dates of an unchanged snapshot read anew; its document's too when it is current."""
    with transaction(db):
        refresh_snapshot_facts(db, snapshot, fetched)
        if doc["latest_snapshot_id"] == snapshot["id"]:
            db["documents"].update(doc["id"], {"title": fetched.title, "language": fetched.language})
            link_duplicates(db, [doc["company_id"]])


def _store(db, doc, snap, raw, extracted, text, blocks, text_hash) -> None:
    fetched = _fetched(doc, snap, raw, extracted)
    extra = {k: snap.get(k) for k in ("capture_url", "captured_at", "warc_path", "warc_offset")}
    with transaction(db):
        new_id = _insert_snapshot(db, doc["id"], fetched, text, blocks, text_hash, snap["fetched_at"],
                                  snap.get("source") or doc["source"] or "crawl", **extra)
        if doc["latest_snapshot_id"] == snap["id"]:
            db["document_versions"].insert({"document_id": doc["id"], "snapshot_id": new_id, "since": utcnow(),
                                            "source": "reextract"})
            db["documents"].update(doc["id"], {"latest_snapshot_id": new_id, "title": extracted.title,
                                               "language": extracted.language})
        db["documents"].update(doc["id"], {"snapshot_count": db["snapshots"].count_where(
            "document_id = ?", [doc["id"]])})
        link_duplicates(db, [doc["company_id"]])
