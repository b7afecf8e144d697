"""Backfilling documents' history from a web archive: CDX listings and raw `id_` captures (the pure part).

Two CDX flavours are understood:

* the Internet Archive's (`https://web.archive.org`): `/cdx/search/cdx?url=…&output=json` answers an array of
  arrays whose first row names the fields (urlkey, timestamp, original, mimetype, statuscode, digest, length);
  without `output=json` it answers space-separated lines in that order; raw captures are at
  `/web/<timestamp>id_/<url>`;
* pywb's (`http://host:port/<collection>`): `/<collection>/cdx?url=…&output=json` answers one JSON object per
  line (`url`, `mime`, `status`, `timestamp`, `digest`); raw captures at `/<collection>/<timestamp>id_/<url>`.

An archive URL without a path is the Internet Archive flavour, one with a path is a pywb collection.

The fetching is a Scrapy crawl (crawler/history.py, `HistorySpider`): this module has what its callbacks
decide with — parsing and selecting captures, the archive's URLs, dropping archive markup, extracting a
capture, following a page that moved — and which documents a run reads.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlite_utils

from crawler.safety import check_url, parse_networks
from policycorpus.errors import InputError

if TYPE_CHECKING:
    from policycorpus.extract import Extracted

IA_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
MAX_CDX_BYTES = 20 * 1024 * 1024  # a CDX listing's bound (a capture's: history --max-size, DOWNLOAD_MAXSIZE)
_TIMESTAMP = re.compile(r"^\d{4,14}$")


def extract_capture(body: bytes, url: str, content_type: str | None) -> Extracted:
    """The project's extractor (the one place that imports it)."""
    from policycorpus.extract import extract

    return extract(body, url, content_type)


@dataclass(frozen=True)
class Capture:
    timestamp: str  # 14 digits, UTC
    original: str
    mime: str
    status: str
    digest: str

    @property
    def year(self) -> int:
        return int(self.timestamp[:4])

    @property
    def captured_at(self) -> str:
        t = self.timestamp.ljust(14, "0")
        return f"{t[:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}+00:00"


# --------------------------------------------------------------------------- CDX parsing

def parse_cdx(body: bytes) -> list[Capture]:
    """Captures from any CDX answer: IA JSON (array of arrays), IA plain lines, pywb NDJSON or CDXJ lines."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            rows = json.loads(text)
        except ValueError:
            raise InputError("the archive's CDX answer is not valid JSON") from None
        return _from_rows(rows)
    captures = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        obj = _json_part(line)
        if obj is not None:
            c = _from_object(obj)
        else:
            c = _from_plain(line.split(" "))
        if c:
            captures.append(c)
    return captures


def _json_part(line: str) -> dict | None:
    start = line.find("{")
    if start < 0:
        return None
    try:
        obj = json.loads(line[start:])
    except ValueError:
        return None
    if start and isinstance(obj, dict) and "timestamp" not in obj:  # CDXJ: "urlkey timestamp {json}"
        head = line[:start].split()
        if len(head) >= 2:
            obj["timestamp"] = head[1]
    return obj if isinstance(obj, dict) else None


def _from_rows(rows) -> list[Capture]:
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], list):
        return []
    header, out = [str(h) for h in rows[0]], []
    for row in rows[1:]:
        if isinstance(row, list) and len(row) == len(header):
            c = _from_object(dict(zip(header, row)))
            if c:
                out.append(c)
    return out


def _from_plain(parts: list[str]) -> Capture | None:
    if len(parts) < len(IA_FIELDS):
        return None
    return _from_object(dict(zip(IA_FIELDS, parts)))


def _from_object(obj: dict) -> Capture | None:
    ts = str(obj.get("timestamp") or "")
    url = str(obj.get("original") or obj.get("url") or "")
    if not _TIMESTAMP.match(ts) or not url:
        return None
    return Capture(ts, url, str(obj.get("mimetype") or obj.get("mime") or ""),
                   str(obj.get("statuscode") or obj.get("status") or ""), str(obj.get("digest") or ""))


def select_captures(captures: Iterable[Capture], per_year: int, since: int | None = None,
                    until: int | None = None) -> list[Capture]:
    """Status-200 captures in time order, an unchanged re-capture (same digest as the one before) dropped,
    at most per_year of them in each year."""
    kept: list[Capture] = []
    per: dict[int, int] = {}
    last_digest = None
    seen_ts: set[str] = set()
    for c in sorted(captures, key=lambda c: c.timestamp):
        if c.status != "200" or c.timestamp in seen_ts:
            continue
        if (since and c.year < since) or (until and c.year > until):
            continue
        if c.digest and c.digest == last_digest:
            continue
        last_digest = c.digest
        if per.get(c.year, 0) >= per_year:
            continue
        per[c.year] = per.get(c.year, 0) + 1
        seen_ts.add(c.timestamp)
        kept.append(c)
    return kept


# --------------------------------------------------------------------------- the archive's URLs

@dataclass(frozen=True)
class Archive:
    """One web archive: where its CDX API and its raw (`id_`) captures are."""

    base: str

    @property
    def pywb(self) -> bool:
        return urllib.parse.urlsplit(self.base).path not in ("", "/")

    @property
    def netloc(self) -> str:
        return urllib.parse.urlsplit(self.base).netloc.lower()

    def cdx_url(self, url: str, since: int | None = None, until: int | None = None) -> str:
        params = {"url": url, "output": "json"}
        if since:
            params["from"] = str(since)
        if until:
            params["to"] = str(until)
        path = "/cdx" if self.pywb else "/cdx/search/cdx"
        return f"{self.base}{path}?{urllib.parse.urlencode(params)}"

    def replay_url(self, capture: Capture) -> str:
        prefix = self.base if self.pywb else self.base + "/web"
        return f"{prefix}/{capture.timestamp}id_/{capture.original}"


def open_archive(base: str, allow_private: bool = False, allow_hosts: Iterable[str] = ()) -> Archive:
    """The archive at base, refused (InputError) where crawler.safety refuses it: a loopback or private archive
    must be allowed with --allow-host or --allow-private, as for crawls."""
    base = base.strip().rstrip("/")
    try:
        networks = parse_networks(allow_hosts)
    except ValueError as exc:
        raise InputError(f"--allow-host: {exc}") from None
    reason = check_url(base + "/", allow_private, networks)
    if reason:
        raise InputError(f"archive {base}: {reason}")
    return Archive(base)

# --------------------------------------------------------------------------- archive markup

_ARCHIVE_MARKUP = [
    re.compile(rb"<!--\s*BEGIN WAYBACK TOOLBAR INSERT\s*-->.*?<!--\s*END WAYBACK TOOLBAR INSERT\s*-->", re.S | re.I),
    re.compile(rb"<!--\s*WB Insert\s*-->.*?<!--\s*End WB Insert\s*-->", re.S | re.I),
    re.compile(rb"<script[^>]*(?:archive\.org|wombat|wb_frame|/static/wb\.js|_wb_)[^>]*>.*?</script>", re.S | re.I),
    re.compile(rb"<link[^>]*(?:archive\.org/_static|/static/[^\"']*wb)[^>]*>", re.I),
]
_ARCHIVE_COMMENT = re.compile(rb"<!--\s*(?:FILE ARCHIVED ON|playback timings).*?-->", re.S | re.I)


def strip_archive_markup(body: bytes) -> bytes:
    """Drop what an archive inserts into replayed HTML (toolbar, replay scripts, its trailing comment).

    id_ mode should give none of it, but pages that were captured from an archive replay carry it."""
    for pattern in _ARCHIVE_MARKUP:
        body = pattern.sub(b"", body)
    return _ARCHIVE_COMMENT.sub(b"", body)


# --------------------------------------------------------------------------- a page that moved

REDIRECT_STATUSES = ("301", "302", "303", "307", "308")


def moved_from_url(db: sqlite_utils.Database, doc: dict) -> str | None:
    """The company's known policy URL, when it differs from the document's: where the page may have lived
    before it moved (its captures that redirect to the document's URL tell)."""
    company = db.table("companies").get(doc["company_id"])
    old = (company.get("policy_url") or "").strip()
    if not old or _same_page(old, doc["url"]) or not old.startswith(("http://", "https://")):
        return None
    return old


def redirect_captures(captures: Iterable[Capture]) -> list[Capture]:
    """The 3xx captures of a URL in time order: each is looked up (in turn) for where it pointed."""
    return sorted((c for c in captures if c.status in REDIRECT_STATUSES), key=lambda c: c.timestamp)


def redirect_target(location: str | None, original: str) -> str | None:
    """Where a 3xx capture pointed: its Location, with the archive's rewriting (`/<timestamp>[xx_]/<url>`) undone."""
    if not location:
        return None
    location = urllib.parse.urljoin(original, location)
    wrapped = re.search(r"/\d{4,14}(?:[a-z]{2}_)?/(https?://.+)$", location)
    return wrapped.group(1) if wrapped else location


def moved_here(target: str | None, url: str) -> bool:
    """Does a redirect to target lead to the document at url?"""
    return _same_page(target, url)


def captures_before(captures: Iterable[Capture], moved_at: str) -> list[Capture]:
    """The 200 captures of the old URL from before it started redirecting: the document's earlier versions."""
    return [c for c in captures if c.status == "200" and c.timestamp < moved_at]


def _same_page(a: str | None, b: str) -> bool:
    strip = lambda u: urllib.parse.urlsplit(u)._replace(fragment="").geturl().rstrip("/")  # noqa: E731
    return bool(a) and strip(a) == strip(b)


# --------------------------------------------------------------------------- what a run reads

@dataclass
class HistoryStats:
    documents: int = 0
    skipped_documents: int = 0
    captures_listed: int = 0
    captures_kept: int = 0
    already_read: int = 0
    new_versions: int = 0
    same_text: int = 0
    empty: int = 0
    failed: int = 0
    requests: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_crawl(cls, stats: dict, skipped_documents: int = 0) -> HistoryStats:
        """The figures of a history crawl from its Scrapy stats (`history/<name>`, the downloader's count)."""
        out = cls(skipped_documents=skipped_documents, requests=int(stats.get("downloader/request_count", 0)))
        for name in ("documents", "captures_listed", "captures_kept", "already_read", "new_versions", "same_text",
                     "empty", "failed"):
            setattr(out, name, int(stats.get(f"history/{name}", 0)))
        return out


def listing_params(since: int | None, until: int | None, per_year: int) -> str:
    """The listing's parameters as stored in archive_listings (what --resume compares)."""
    return json.dumps({"since": since, "until": until, "per_year": per_year}, sort_keys=True)


def documents_to_read(db: sqlite_utils.Database, archive: Archive, params: str, *, resume: bool = False,
                      document_ids: list[int] | None = None) -> tuple[list[dict], int]:
    """(documents to look up, how many --resume skips): every document with an http(s) URL, in id order, with
    `old_url` set where the page may have moved; with resume, those an earlier run finished are left out."""
    where = "url like 'http://%' or url like 'https://%'"
    docs = [r for r in db["documents"].rows_where(where, order_by="id") if document_ids is None or r["id"] in document_ids]
    todo, skipped = [], 0
    for doc in docs:
        if resume and db["archive_listings"].count_where("document_id = ? and archive = ? and params = ?",
                                                         [doc["id"], archive.base, params]):
            skipped += 1
            continue
        todo.append({"id": doc["id"], "url": doc["url"], "company_id": doc["company_id"],
                     "old_url": moved_from_url(db, doc)})
    return todo, skipped


def already_read(db: sqlite_utils.Database, document_id: int, archive: Archive, capture: Capture) -> bool:
    """A capture an earlier run read (a failed one is read again)."""
    return bool(db["archive_captures"].count_where(
        "document_id = ? and archive = ? and timestamp = ? and outcome != 'failed'",
        [document_id, archive.base, capture.timestamp]))


def capture_record(archive: Archive, capture: Capture) -> dict:
    """The archive_captures facts of a capture (policycorpus.archived.save_archived's `capture`)."""
    return {"archive": archive.base, "timestamp": capture.timestamp, "digest": capture.digest,
            "capture_url": archive.replay_url(capture), "captured_at": capture.captured_at}
