"""Backfilling documents' history from a web archive (CDX listing + raw `id_` captures).

Two CDX flavours are understood:

* the Internet Archive's (`https://web.archive.org`): `/cdx/search/cdx?url=…&output=json` answers an array of
  arrays whose first row names the fields (urlkey, timestamp, original, mimetype, statuscode, digest, length);
  without `output=json` it answers space-separated lines in that order; raw captures are at
  `/web/<timestamp>id_/<url>`;
* pywb's (`http://host:port/<collection>`): `/<collection>/cdx?url=…&output=json` answers one JSON object per
  line (`url`, `mime`, `status`, `timestamp`, `digest`); raw captures at `/<collection>/<timestamp>id_/<url>`.

An archive URL without a path is the Internet Archive flavour, one with a path is a pywb collection.

Fetching is a bounded, polite, sequential client (not Scrapy): one request at a time, at most one per
`delay` seconds (1 s by default), a timeout and a size limit on every response, `Retry-After` honoured on 429
and 503 (the Internet Archive's rate limiting) with a bounded number of retries, and redirects followed only
within the archive's own host. Every URL passes crawler.safety's checks, so a loopback or private archive must
be allowed explicitly (--allow-host / --allow-private).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlite_utils

from crawler.safety import check_url, parse_networks
from policycorpus.archived import record_capture_outcome, save_archived
from policycorpus.db import transaction, utcnow
from policycorpus.errors import InputError
from policycorpus.store import Fetched

if TYPE_CHECKING:
    from policycorpus.extract import Extracted

DEFAULT_ARCHIVE = "https://web.archive.org"
IA_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
MAX_CDX_BYTES = 20 * 1024 * 1024
MAX_CAPTURE_BYTES = 10 * 1024 * 1024
MAX_RETRY_AFTER = 120.0
USER_AGENT = "PolicyCorpus-history/0.1 (+https://github.com/policycorpus; research; 1 request/s)"
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


# --------------------------------------------------------------------------- the archive client

class ArchiveClient:
    """CDX listings and raw captures from one archive, one polite request at a time."""

    def __init__(self, base: str, *, delay: float = 1.0, timeout: float = 30.0, retries: int = 3,
                 allow_private: bool = False, allow_hosts: tuple[str, ...] = (),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        base = base.rstrip("/")
        try:
            self.networks = parse_networks(allow_hosts)
        except ValueError as exc:
            raise InputError(f"--allow-host: {exc}") from None
        self.allow_private = allow_private
        reason = check_url(base + "/", allow_private, self.networks)
        if reason:
            raise InputError(f"archive {base}: {reason}")
        self.base = base
        parts = urllib.parse.urlsplit(base)
        self.host = parts.netloc
        self.pywb = parts.path not in ("", "/")
        self.delay, self.timeout, self.retries, self.sleep = delay, timeout, retries, sleep
        self._last = 0.0
        self.requests = 0
        self._opener = urllib.request.build_opener(_SameHostRedirects(self))
        self._no_redirects = urllib.request.build_opener(_NoRedirects())

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

    def list(self, url: str, since: int | None = None, until: int | None = None) -> list[Capture]:
        status, body, _ = self.get(self.cdx_url(url, since, until), MAX_CDX_BYTES)
        if status == 404:  # pywb and the IA answer 404 / empty for a URL never captured
            return []
        if status != 200:
            raise ArchiveError(f"CDX query answered HTTP {status}")
        return parse_cdx(body)

    def get(self, url: str, max_bytes: int = MAX_CAPTURE_BYTES) -> tuple[int, bytes, str]:
        """(status, body, content type); waits out 429/503 with Retry-After, at most `retries` times."""
        for attempt in range(self.retries + 1):
            status, body, ctype, retry_after = self._get_once(url, max_bytes)
            if status not in (429, 503) or attempt == self.retries:
                return status, body, ctype
            self.sleep(min(retry_after if retry_after is not None else self.delay * 2 ** (attempt + 2),
                           MAX_RETRY_AFTER))
        raise AssertionError("unreachable")

    def redirect_target(self, capture: Capture) -> str | None:
        """Where a 3xx capture pointed (the archive's rewritten Location unwrapped), or None."""
        reason = check_url(self.replay_url(capture), self.allow_private, self.networks)
        if reason:
            raise ArchiveError(reason)
        wait = self._last + self.delay - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last = time.monotonic()
        self.requests += 1
        req = urllib.request.Request(self.replay_url(capture), headers={"User-Agent": USER_AGENT})
        try:
            with self._no_redirects.open(req, timeout=self.timeout) as resp:
                location = resp.headers.get("Location")
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location") if exc.headers else None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ArchiveError(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None
        if not location:
            return None
        location = urllib.parse.urljoin(capture.original, location)
        wrapped = re.search(r"/\d{4,14}(?:[a-z]{2}_)?/(https?://.+)$", location)
        return wrapped.group(1) if wrapped else location

    def _get_once(self, url: str, max_bytes: int) -> tuple[int, bytes, str, float | None]:
        reason = check_url(url, self.allow_private, self.networks)
        if reason:
            raise ArchiveError(reason)
        wait = self._last + self.delay - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        self._last = time.monotonic()
        self.requests += 1
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return resp.status, _read(resp, max_bytes), resp.headers.get("Content-Type", ""), None
        except urllib.error.HTTPError as exc:
            return exc.code, _read(exc, max_bytes), exc.headers.get("Content-Type", ""), _retry_after(exc.headers)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ArchiveError(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None


class ArchiveError(Exception):
    """One archive request failed (recorded per capture; the backfill goes on)."""


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, client: ArchiveClient):
        self.client = client

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        parts = urllib.parse.urlsplit(newurl)
        if parts.netloc != self.client.host or check_url(newurl, self.client.allow_private, self.client.networks):
            return None  # the 3xx is returned as an HTTPError and the capture counts as failed
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _read(resp, max_bytes: int) -> bytes:
    body = resp.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise ArchiveError(f"response larger than {max_bytes} bytes")
    return body


def _retry_after(headers) -> float | None:
    value = (headers.get("Retry-After") or "").strip() if headers else ""
    return float(value) if value.isdigit() else None


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


# --------------------------------------------------------------------------- the backfill

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


def backfill(db: sqlite_utils.Database, client: ArchiveClient, *, since: int | None = None, until: int | None = None,
             per_year: int = 2, resume: bool = False, document_ids: list[int] | None = None,
             progress: Callable[[str], None] | None = None) -> HistoryStats:
    """Read every document's archived captures into its history; re-running reads nothing twice."""
    stats = HistoryStats()
    params = json.dumps({"since": since, "until": until, "per_year": per_year}, sort_keys=True)
    for doc in _documents(db, document_ids):
        if resume and db["archive_listings"].count_where("document_id = ? and archive = ? and params = ?",
                                                         [doc["id"], client.base, params]):
            stats.skipped_documents += 1
            continue
        stats.documents += 1
        try:
            listed = client.list(doc["url"], since, until)
        except (ArchiveError, InputError) as exc:
            stats.failed += 1
            if progress:
                progress(f"{doc['url']}: CDX listing failed ({exc})")
            continue
        listed = listed + _moved_from(db, client, doc, since, until)
        kept = select_captures(listed, per_year, since, until)
        stats.captures_listed += len(listed)
        stats.captures_kept += len(kept)
        for capture in kept:
            _read_capture(db, client, doc, capture, stats)
        with transaction(db):
            db.table("archive_listings").upsert({"document_id": doc["id"], "archive": client.base, "params": params,
                                                 "captures": len(kept), "done_at": utcnow()},
                                                pk=("document_id", "archive", "params"))
        if progress:
            progress(f"{doc['url']}: {len(listed)} captures listed, {len(kept)} kept")
    stats.requests = client.requests
    return stats


def _moved_from(db: sqlite_utils.Database, client: ArchiveClient, doc: dict, since: int | None,
                until: int | None) -> list[Capture]:
    """Captures of the page before it moved to the document's URL.

    The company's known policy URL, when it differs from the document's, is looked up too; if one of its
    captures redirects to the document's URL, its 200 captures from before that redirect are the document's
    earlier versions (read from the old URL)."""
    company = db.table("companies").get(doc["company_id"])
    old = (company.get("policy_url") or "").strip()
    if not old or old == doc["url"] or not old.startswith(("http://", "https://")):
        return []
    try:
        captures = client.list(old, since, until)
        moved_at = None
        for c in sorted((c for c in captures if c.status in ("301", "302", "307", "308")), key=lambda c: c.timestamp):
            if _same_page(client.redirect_target(c), doc["url"]):
                moved_at = c.timestamp
                break
    except (ArchiveError, InputError):
        return []
    if moved_at is None:
        return []
    return [c for c in captures if c.status == "200" and c.timestamp < moved_at]


def _same_page(a: str | None, b: str) -> bool:
    strip = lambda u: urllib.parse.urlsplit(u)._replace(fragment="").geturl().rstrip("/")  # noqa: E731
    return bool(a) and strip(a) == strip(b)


def _documents(db: sqlite_utils.Database, ids: list[int] | None) -> list[dict]:
    where = "url like 'http://%' or url like 'https://%'"
    rows = list(db["documents"].rows_where(where, order_by="id"))
    return [r for r in rows if ids is None or r["id"] in ids]


def _read_capture(db: sqlite_utils.Database, client: ArchiveClient, doc: dict, capture: Capture,
                  stats: HistoryStats) -> None:
    if db["archive_captures"].count_where("document_id = ? and archive = ? and timestamp = ? and outcome != 'failed'",
                                          [doc["id"], client.base, capture.timestamp]):
        stats.already_read += 1
        return
    record = {"archive": client.base, "timestamp": capture.timestamp, "digest": capture.digest,
              "capture_url": client.replay_url(capture), "captured_at": capture.captured_at}
    try:
        status, body, ctype = client.get(record["capture_url"])
        if status != 200:
            raise ArchiveError(f"HTTP {status}")
        extracted = extract_capture(strip_archive_markup(body), doc["url"], ctype or capture.mime)
    except ArchiveError as exc:
        stats.failed += 1
        record_capture_outcome(db, doc["id"], record, "failed", str(exc))
        return
    if not extracted.ok:
        stats.empty += 1
        record_capture_outcome(db, doc["id"], record, "empty", "; ".join(extracted.warnings))
        return
    fetched = Fetched(url=doc["url"], raw=body, content_type=ctype or capture.mime, blocks=extracted.blocks,
                      title=extracted.title, http_status=status, extractor=extracted.extractor,
                      language=extracted.language, dates=extracted.dates)
    result = save_archived(db, doc["id"], fetched, record)
    if result.new_snapshot:
        stats.new_versions += 1
    else:
        stats.same_text += 1
