"""The history spider: a document's earlier versions from a web archive, as a Scrapy crawl.

One spider, one job (`policycorpus history`). For each document, in turn:

1. the archive's CDX listing of the document's URL;
2. where the page may have moved (the company's known policy URL differs), the old URL's listing and, one
   after the other, its 3xx captures (not followed) until one redirects to the document's URL: the old URL's
   200 captures from before then are the document's earlier versions;
3. the kept captures (crawler.archive.select_captures) that no earlier run read, one after the other and oldest
   first, raw (`id_` mode), extracted off the reactor thread and handed to ArchiveStorePipeline; when the
   last is stored the document is done (archive_listings, what --resume skips).

Requests a callback yields go before the next start request (Scrapy's scheduler), so documents are read one
after the other; CONCURRENT_REQUESTS is 1.

Politeness, retries and safety are the crawl's: settings (crawler/settings.py history_settings), the network
guard and Retry-After middlewares, and ArchiveOnlyMiddleware, which keeps every request (redirects included)
on the archive's host. Every response lands in crawl_log (CrawlLogExtension), every failure through the
errback (CrawlLogPipeline), under the run's crawls row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from twisted.python.failure import Failure

from crawler.archive import (
    MAX_CDX_BYTES,
    Archive,
    Capture,
    already_read,
    capture_record,
    captures_before,
    extract_capture,
    moved_here,
    parse_cdx,
    redirect_captures,
    redirect_target,
    select_captures,
    strip_archive_markup,
)
from crawler.corpusdb import corpus_connection
from crawler.items import ArchivedCaptureItem, ListingDoneItem, LogItem
from crawler.outcomes import REDIRECT_STATUSES, describe_failure
from policycorpus.errors import InputError
from policycorpus.store import Fetched

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from crawler.tally import CrawlTally
    from policycorpus.extract import Extracted

HistoryOutput = scrapy.Request | ArchivedCaptureItem | ListingDoneItem | LogItem


@dataclass
class DocumentState:
    """One document's progress through the run."""

    document_id: int
    company_id: int
    url: str
    old_url: str | None = None
    listed: list[Capture] = field(default_factory=list)  # captures of the document (and of its old URL)
    old_captures: list[Capture] = field(default_factory=list)
    redirects: list[Capture] = field(default_factory=list)  # the old URL's 3xx captures still to look up
    kept: int = 0
    to_read: list[Capture] = field(default_factory=list)  # kept captures not read yet, oldest first
    done: bool = False


class ArchiveOnlyMiddleware:
    """Every request of the history crawl, redirects included, stays on the archive's host (Scrapy's
    allowed_domains does not match bare IP hosts, and the archive is one exact host:port)."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls()

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        netloc = getattr(spider, "archive_netloc", None)
        if netloc and urlsplit(request.url).netloc.lower() != netloc:
            raise IgnoreRequest(f"refused: {request.url[:200]} is not on the archive's host {netloc}")


class HistorySpider(scrapy.Spider):
    name = "history"

    def __init__(self, documents: list[dict] | None = None, archive: Archive | None = None,
                 since: int | None = None, until: int | None = None, per_year: int = 2, params: str = "",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if archive is None:
            raise InputError("the history spider needs an archive")
        self.documents = documents or []
        self.archive = archive
        self.archive_netloc = archive.netloc
        self.since, self.until, self.per_year, self.params = since, until, per_year, params
        self.state: dict[int, DocumentState] = {}

    # -- start --------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for doc in self.documents:
            state = DocumentState(doc["id"], doc["company_id"], doc["url"], old_url=doc.get("old_url"))
            self.state[state.document_id] = state
            self.count("documents")
            yield self.cdx_request(state, state.url, "cdx")

    def state_for(self, meta: dict) -> DocumentState | None:
        """The document a request belongs to (CrawlLogExtension and RetryAfterMiddleware log its company)."""
        return self.state.get(meta.get("document_id") or 0)

    def count(self, name: str, by: int = 1) -> None:
        if self.crawler is not None and self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"history/{name}", by)

    # -- requests -------------------------------------------------------------------------

    def request(self, state: DocumentState, url: str, kind: str, callback: Any, **meta: Any) -> scrapy.Request:
        return scrapy.Request(url, callback=callback, errback=self.on_error, dont_filter=True,
                              meta={"document_id": state.document_id, "kind": kind, **meta})

    def cdx_request(self, state: DocumentState, url: str, kind: str) -> scrapy.Request:
        callback = self.parse_listing if kind == "cdx" else self.parse_old_listing
        return self.request(state, self.archive.cdx_url(url, self.since, self.until), kind, callback,
                            handle_httpstatus_list=[404], download_maxsize=MAX_CDX_BYTES)

    def redirect_request(self, state: DocumentState, capture: Capture) -> scrapy.Request:
        return self.request(state, self.archive.replay_url(capture), "redirect", self.parse_redirect,
                            capture=capture, dont_redirect=True, handle_httpstatus_list=[*REDIRECT_STATUSES, 404])

    def capture_request(self, state: DocumentState, capture: Capture) -> scrapy.Request:
        return self.request(state, self.archive.replay_url(capture), "capture", self.parse_capture, capture=capture)

    # -- listings -------------------------------------------------------------------------

    def parse_listing(self, response: Response) -> Iterator[HistoryOutput]:
        state = self.answering_state(response)
        try:
            state.listed = listed_captures(response)
        except InputError as exc:
            self.count("failed")
            state.done = True
            yield LogItem(state.company_id, response.url, "parse_error", response.status, f"CDX: {exc}")
            return
        if state.old_url:
            yield self.cdx_request(state, state.old_url, "cdx-old")
        else:
            yield from self.read_captures(state)

    def parse_old_listing(self, response: Response) -> Iterator[HistoryOutput]:
        state = self.answering_state(response)
        try:
            state.old_captures = listed_captures(response)
        except InputError as exc:  # the move is not followed; the document's own captures are read
            yield LogItem(state.company_id, response.url, "parse_error", response.status, f"CDX: {exc}")
        state.redirects = redirect_captures(state.old_captures)
        yield from self.next_redirect(state)

    def next_redirect(self, state: DocumentState) -> Iterator[HistoryOutput]:
        if state.redirects:
            yield self.redirect_request(state, state.redirects.pop(0))
        else:
            yield from self.read_captures(state)

    def parse_redirect(self, response: Response) -> Iterator[HistoryOutput]:
        state = self.answering_state(response)
        capture: Capture = response.meta["capture"]
        location = (response.headers.get(b"Location") or b"").decode("latin-1").strip() or None
        if moved_here(redirect_target(location, capture.original), state.url):
            state.listed = state.listed + captures_before(state.old_captures, capture.timestamp)
            state.redirects = []
            yield from self.read_captures(state)
        else:
            yield from self.next_redirect(state)

    # -- captures -------------------------------------------------------------------------

    def read_captures(self, state: DocumentState) -> Iterator[HistoryOutput]:
        """Read the kept captures no earlier run read, one after the other, oldest first (a text's snapshot is
        dated by its first capture); the document is done when none is left."""
        kept = select_captures(state.listed, self.per_year, self.since, self.until)
        state.kept = len(kept)
        self.count("captures_listed", len(state.listed))
        self.count("captures_kept", len(kept))
        db = corpus_connection(self.crawler).db
        for capture in kept:
            if already_read(db, state.document_id, self.archive, capture):
                self.count("already_read")
            else:
                state.to_read.append(capture)
        yield from self.next_capture(state)

    def next_capture(self, state: DocumentState) -> Iterator[HistoryOutput]:
        if state.to_read:
            yield self.capture_request(state, state.to_read.pop(0))
        elif not state.done:
            yield self.document_done(state)

    async def parse_capture(self, response: Response) -> AsyncIterator[HistoryOutput]:
        state = self.answering_state(response)
        capture: Capture = response.meta["capture"]
        record = capture_record(self.archive, capture)
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1") or capture.mime
        try:
            extracted = await self.extract(response.body, state.url, content_type)
        except Exception as exc:  # untrusted bytes never stop the run: the capture counts as failed
            yield LogItem(state.company_id, response.url, "parse_error", response.status,
                          f"extraction failed: {type(exc).__name__}: {str(exc)[:300]}")
            yield ArchivedCaptureItem(state.document_id, state.company_id, record, "failed",
                                      error=f"extraction failed: {type(exc).__name__}")
        else:
            yield capture_item(state, record, response, content_type, extracted)
        for output in self.next_capture(state):
            yield output

    async def extract(self, body: bytes, url: str, content_type: str) -> Extracted:
        """extract_capture off the reactor thread (the crawl keeps its timers and log going meanwhile)."""
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet import threads

        return await maybe_deferred_to_future(
            threads.deferToThread(extract_capture, strip_archive_markup(body), url, content_type))

    def document_done(self, state: DocumentState) -> ListingDoneItem:
        state.done = True
        return ListingDoneItem(state.document_id, self.archive.base, self.params, state.kept)

    # -- failures -------------------------------------------------------------------------

    def on_error(self, failure: Failure) -> Iterator[HistoryOutput]:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on a failed download's Failure
        state = self.state_for(request.meta)
        if state is None:
            return
        outcome, status, reason = describe_failure(failure, self.settings.getint("DOWNLOAD_MAXSIZE"))
        if outcome != "http_error":  # responses with an error status are logged by CrawlLogExtension
            yield LogItem(state.company_id, request.url, outcome, status, reason)
        kind = request.meta.get("kind")
        if kind == "cdx":  # no listing: the document stays to do (a later run or --resume lists it again)
            self.count("failed")
            state.done = True
        elif kind in ("cdx-old", "redirect"):  # the move is not followed; the document's own captures are read
            state.redirects = []
            yield from self.read_captures(state)
        elif kind == "capture":
            record = capture_record(self.archive, request.meta["capture"])
            yield ArchivedCaptureItem(state.document_id, state.company_id, record, "failed", error=reason)
            yield from self.next_capture(state)

    def answering_state(self, response: Response) -> DocumentState:
        state = self.state_for(response.meta)
        if state is None:
            raise KeyError(f"a response for a document not in this run: {response.meta.get('document_id')!r}")
        return state

    # -- progress -------------------------------------------------------------------------

    def progress_text(self, tally: CrawlTally, seconds: float) -> str:
        """The progress line (crawler/progress.py): documents, requests and what the captures gave."""
        stats = self.crawler.stats.get_stats() if self.crawler and self.crawler.stats else {}
        done = sum(s.done for s in self.state.values())
        requests = int(stats.get("downloader/request_count", 0))
        read = sum(int(stats.get(f"history/{k}", 0)) for k in ("new_versions", "same_text", "empty", "failed"))
        return (f"history: documents {done}/{len(self.documents)} done · requests {requests} "
                f"({requests / max(seconds, 1e-6):.1f}/s) · captures {read} read of "
                f"{int(stats.get('history/captures_kept', 0))} kept · new versions "
                f"{int(stats.get('history/new_versions', 0))} · errors {tally.errors}")


def listed_captures(response: Response) -> list[Capture]:
    """The captures a CDX answer lists (a 404 answer: none); InputError when it cannot be read."""
    if response.status == 404:  # pywb and the Internet Archive answer 404 or nothing for a URL never captured
        return []
    return parse_cdx(response.body)


def capture_item(state: DocumentState, record: dict, response: Response, content_type: str,
                 extracted: Extracted) -> ArchivedCaptureItem:
    """What a read capture gave: its text (outcome 'read'), or 'empty' with the extractor's notes."""
    if not extracted.ok:
        return ArchivedCaptureItem(state.document_id, state.company_id, record, "empty",
                                   error="; ".join(extracted.warnings))
    fetched = Fetched(url=state.url, raw=response.body, content_type=content_type, blocks=extracted.blocks,
                      title=extracted.title, http_status=response.status, extractor=extracted.extractor,
                      language=extracted.language, dates=extracted.dates)
    return ArchivedCaptureItem(state.document_id, state.company_id, record, "read", fetched=fetched)
