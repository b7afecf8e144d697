"""Storing versions read from a web archive as a document's history.

An archive capture is older than (or interleaved with) what the crawl saw, so
it must not become the document's current version just because it was read
last: its `document_versions` row is dated by the capture time, and the
current version stays the one in force at the newest `since`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from policycorpus.db import transaction, utcnow
from policycorpus.duplicates import link_duplicates
from policycorpus.store import Fetched, _insert_snapshot
from policycorpus.structure import join_blocks, sha256


@dataclass
class ArchivedResult:
    snapshot_id: int
    new_snapshot: bool
    new_version_row: bool


def save_archived(db: sqlite_utils.Database, document_id: int, fetched: Fetched, capture: dict) -> ArchivedResult:
    """Store one archive capture of a document (one transaction, with its `archive_captures` row).

    capture: {"archive", "timestamp", "digest", "capture_url", "captured_at"}; fetched.fetched_at is ignored
    (the capture time is the version's date).
    """
    text, blocks = join_blocks(fetched.blocks)
    text_hash = sha256(text)
    captured_at = capture["captured_at"]
    with transaction(db):
        same = next(db["snapshots"].rows_where("document_id = ? and text_hash = ?", [document_id, text_hash],
                                               limit=1), None)
        if same:
            snapshot_id = same["id"]
        else:
            snapshot_id = _insert_snapshot(db, document_id, fetched, text, blocks, text_hash, captured_at, "archive",
                                           capture_url=capture["capture_url"], captured_at=captured_at)
        new_row = _record_version(db, document_id, snapshot_id, captured_at)
        _refresh_document(db, document_id)
        link_duplicates(db, [db.table("documents").get(document_id)["company_id"]])
        _forget_failure(db, document_id, capture)
        db.table("archive_captures").insert({
            "document_id": document_id, "archive": capture["archive"], "timestamp": capture["timestamp"],
            "digest": capture.get("digest"), "capture_url": capture["capture_url"],
            "outcome": "same_text" if same else "new_version", "snapshot_id": snapshot_id, "checked_at": utcnow()})
    return ArchivedResult(snapshot_id, same is None, new_row)


def record_capture_outcome(db: sqlite_utils.Database, document_id: int, capture: dict, outcome: str,
                           error: str | None = None) -> None:
    """Remember a capture that gave no version (empty or failed) so a re-run does not read it again."""
    with transaction(db):
        _forget_failure(db, document_id, capture)
        db.table("archive_captures").insert({
            "document_id": document_id, "archive": capture["archive"], "timestamp": capture["timestamp"],
            "digest": capture.get("digest"), "capture_url": capture["capture_url"], "outcome": outcome,
            "checked_at": utcnow(), "error": (error or "")[:500] or None})


def record_listing_done(db: sqlite_utils.Database, document_id: int, archive: str, params: str, captures: int) -> None:
    """Every kept capture of the document has been read with these listing parameters (what --resume skips)."""
    with transaction(db):
        db.table("archive_listings").upsert({"document_id": document_id, "archive": archive, "params": params,
                                             "captures": captures, "done_at": utcnow()},
                                            pk=("document_id", "archive", "params"))


def _forget_failure(db: sqlite_utils.Database, document_id: int, capture: dict) -> None:
    """A capture that failed before is read again by the next run; its old row gives way."""
    db.execute("delete from archive_captures where document_id = ? and archive = ? and timestamp = ?",
               [document_id, capture["archive"], capture["timestamp"]])


def _record_version(db: sqlite_utils.Database, document_id: int, snapshot_id: int, since: str) -> bool:
    """Insert the capture into the timeline where it belongs; only a change of text is a row.

    The version in force just before the capture decides whether it is a change; the next row, if the capture
    makes it redundant (same text, so no longer a change), is dropped (documents.last_seen keeps the crawl's date).
    """
    before = db.execute("select snapshot_id from document_versions where document_id = ? and since <= ? "
                        "order by since desc, id desc limit 1", [document_id, since]).fetchone()
    if before and before[0] == snapshot_id:
        return False
    db.table("document_versions").insert({"document_id": document_id, "snapshot_id": snapshot_id, "since": since,
                                          "source": "archive"})
    after = db.execute("select id, snapshot_id, source from document_versions where document_id = ? and since > ? "
                       "order by since, id limit 1", [document_id, since]).fetchone()
    if after and after[1] == snapshot_id:  # no longer a change: the text was already in force
        db.execute("delete from document_versions where id = ?", [after[0]])
    return True


def _refresh_document(db: sqlite_utils.Database, document_id: int) -> None:
    """Current version = the one in force at the newest `since`; first_seen = the oldest date known."""
    doc = db.table("documents").get(document_id)
    latest = db.execute("select snapshot_id from document_versions where document_id = ? "
                        "order by since desc, id desc limit 1", [document_id]).fetchone()
    first = db.execute("select min(since) from document_versions where document_id = ?", [document_id]).fetchone()[0]
    update = {"snapshot_count": db["snapshots"].count_where("document_id = ?", [document_id])}
    if first and (not doc["first_seen"] or first < doc["first_seen"]):
        update["first_seen"] = first
    if latest and latest[0] != doc["latest_snapshot_id"]:
        snap = db.table("snapshots").get(latest[0])
        update.update({"latest_snapshot_id": latest[0], "title": snap["title"], "language": snap["language"]})
    db.table("documents").update(document_id, update)
