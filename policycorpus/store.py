"""Writing documents and snapshots: one distinct version per extracted text."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field

import sqlite_utils

from policycorpus.db import inserted_id, transaction, utcnow
from policycorpus.duplicates import link_duplicates, signature_bytes
from policycorpus.extract.metadata import PolicyDate, dates_to_json, http_date, policy_date
from policycorpus.keys import document_key
from policycorpus.structure import Block, join_blocks, sha256, structure_json


@dataclass
class Fetched:
    """A policy document as fetched or read, with its extracted blocks."""

    url: str
    raw: bytes
    content_type: str
    blocks: list[Block]
    title: str | None = None
    http_status: int | None = None
    extractor: str = ""
    policy_score: float | None = None
    fetched_at: str | None = None
    file_name: str | None = None  # an imported file's name (its local path is never shown)
    metadata: dict[str, str] | None = None  # extra columns of an import sidecar, kept with the document
    rendered: bool = False  # the crawl read it from a headless browser's rendering
    language: str | None = None  # ISO 639-1 code of the text (declared by the page or detected)
    audience: str | None = None  # employees, members, volunteers or mixed
    dates: list[PolicyDate] = field(default_factory=list)  # the dates the document states about itself
    last_modified: str | None = None  # the HTTP Last-Modified header of a fetched page

    def all_dates(self) -> list[PolicyDate]:
        """The document's own dates and, for a fetched page, its HTTP Last-Modified."""
        served = http_date(self.last_modified)
        extra = ([PolicyDate(served, "updated", "HTTP Last-Modified", (self.last_modified or "")[:100])]
                 if served else [])
        return list(self.dates) + extra


@dataclass
class SaveResult:
    document_id: int
    snapshot_id: int
    new_document: bool
    new_snapshot: bool


def save_document(db: sqlite_utils.Database, company_id: int, fetched: Fetched, source: str = "crawl") -> SaveResult:
    """Store a fetched policy; add a snapshot only if its extracted text is new for the document.

    The document's current version becomes the text just seen, even when it
    equals an older snapshot (a policy that returns to earlier text); each
    change of current version is recorded in document_versions. Runs in one
    transaction so a killed process leaves either the whole write or nothing.
    """
    text, blocks = join_blocks(fetched.blocks)
    text_hash = sha256(text)
    now = fetched.fetched_at or utcnow()
    with transaction(db):
        doc = next(db["documents"].rows_where("company_id = ? and url = ?", [company_id, fetched.url], limit=1), None)
        new_document = doc is None
        doc_id = doc["id"] if doc is not None else _insert_document(db, company_id, fetched, source, now)
        same = next(db["snapshots"].rows_where("document_id = ? and text_hash = ?", [doc_id, text_hash], limit=1), None)
        if same:
            snapshot_id = same["id"]
            refresh_snapshot_facts(db, same, fetched)
        else:
            snapshot_id = _insert_snapshot(db, doc_id, fetched, text, blocks, text_hash, now, source)
        current = None if doc is None else doc["latest_snapshot_id"]
        if snapshot_id != current:
            db.table("document_versions").insert(
                {"document_id": doc_id, "snapshot_id": snapshot_id, "since": now, "source": source})
        update = {"last_seen": now, "latest_snapshot_id": snapshot_id, "title": fetched.title,
                  "language": fetched.language, **_provenance(fetched)}
        if snapshot_id != current:
            update.update({"policy_score": fetched.policy_score,
                           "snapshot_count": db["snapshots"].count_where("document_id = ?", [doc_id])})
            update.update({k: v for k, v in (("language", fetched.language), ("audience", fetched.audience)) if v})
        db.table("documents").update(doc_id, update)
        link_duplicates(db, [company_id])
    return SaveResult(doc_id, snapshot_id, new_document, same is None)


def _provenance(fetched: Fetched) -> dict:
    out: dict = {}
    if fetched.file_name:
        out["file_name"] = fetched.file_name
    if fetched.metadata:
        out["metadata"] = json.dumps(fetched.metadata, ensure_ascii=False, sort_keys=True)
    return out


def snapshot_facts(fetched: Fetched) -> dict:
    """The snapshot columns of what a document states about itself: title, language and its own dates."""
    dates = fetched.all_dates()
    chosen = policy_date(dates)
    return {
        "title": fetched.title,
        "language": fetched.language,
        "policy_date": chosen.date if chosen else None,
        "policy_date_kind": chosen.kind if chosen else None,
        "policy_date_source": f"{chosen.source}: {chosen.evidence}" if chosen else None,
        "policy_dates": json.dumps(dates_to_json(dates), ensure_ascii=False) if dates else None,
    }


def refresh_snapshot_facts(db: sqlite_utils.Database, snapshot: dict, fetched: Fetched) -> None:
    """The same text seen again: its title, language and dates are read anew (the rules may have improved since);
    dates already stored stay when this sighting states none."""
    facts = snapshot_facts(fetched)
    if not facts["policy_dates"] and snapshot.get("policy_dates"):
        facts = {k: v for k, v in facts.items() if not k.startswith("policy_date")}
    changed = {k: v for k, v in facts.items() if snapshot.get(k) != v}
    if changed:
        db.table("snapshots").update(snapshot["id"], changed)


def _insert_document(db: sqlite_utils.Database, company_id: int, fetched: Fetched, source: str, now: str) -> int:
    company = db.execute("select name from companies where id = ?", [company_id]).fetchone()
    return inserted_id(db.table("documents").insert(
        {
            "key": document_key(company[0] if company else "", fetched.url),
            "company_id": company_id,
            "url": fetched.url,
            "source": source,
            "title": fetched.title,
            "policy_score": fetched.policy_score,
            "first_seen": now,
            "last_seen": now,
            "snapshot_count": 0,
        }
    ))


def _insert_snapshot(db: sqlite_utils.Database, doc_id: int, fetched: Fetched, text: str, blocks: list[Block],
                     text_hash: str, now: str, source: str = "crawl", **extra) -> int:
    return inserted_id(db.table("snapshots").insert(
        {
            "document_id": doc_id,
            "fetched_at": now,
            "year": int(now[:4]),
            "http_status": fetched.http_status,
            "content_type": fetched.content_type,
            "content_hash": sha256(fetched.raw),
            "text_hash": text_hash,
            "raw": zlib.compress(fetched.raw, 6),
            "raw_size": len(fetched.raw),
            **snapshot_facts(fetched),
            "minhash": signature_bytes(text),
            "text": text,
            "structure": structure_json(blocks),
            "extractor": fetched.extractor,
            "source": source,
            **({"rendered": 1} if fetched.rendered else {}),
            **extra,
        }
    ))


def raw_bytes(snapshot_row: dict) -> bytes:
    return zlib.decompress(snapshot_row["raw"]) if snapshot_row.get("raw") else b""
