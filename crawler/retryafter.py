"""Honour Retry-After: a 429 or 503 that asks to come back in at most POLICYCORPUS_RETRY_AFTER_MAX
seconds is retried after that wait (within RETRY_TIMES), not straight away as Scrapy's RetryMiddleware
would; a longer wait is left to the ordinary retry and, failing that, logged as http_error.

With POLICYCORPUS_RETRY_BACKOFF > 0 (the history crawl: the Internet Archive asks clients to back off on 429),
a 429 or 503 without Retry-After waits that many seconds, doubled at each retry, instead of coming straight
back (at most POLICYCORPUS_RETRY_AFTER_MAX)."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Self

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import task

from crawler.corpusdb import CorpusConnection, corpus_connection
from policycorpus.db import utcnow

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

RETRY_STATUSES = (429, 503)


def retry_after_seconds(value: bytes | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class RetryAfterMiddleware:
    def __init__(self, crawler: Crawler, conn: CorpusConnection) -> None:
        self.crawler = crawler
        self.conn = conn
        self.max_delay = crawler.settings.getfloat("POLICYCORPUS_RETRY_AFTER_MAX", 30.0)
        self.max_retries = crawler.settings.getint("RETRY_TIMES", 2)
        self.enabled = crawler.settings.getbool("RETRY_ENABLED", True)
        self.backoff = crawler.settings.getfloat("POLICYCORPUS_RETRY_BACKOFF", 0.0)
        self.priority_adjust = crawler.settings.getint("RETRY_PRIORITY_ADJUST", -1)  # as Scrapy's RetryMiddleware

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler, corpus_connection(crawler))

    async def process_response(self, request: Request, response: Response, spider: Spider | None = None
                               ) -> Request | Response:
        if not self.enabled or response.status not in RETRY_STATUSES or request.meta.get("dont_retry"):
            return response
        retries = request.meta.get("retry_times", 0)
        delay = retry_after_seconds(response.headers.get(b"Retry-After"))
        if delay is None and self.backoff > 0:
            delay = min(self.backoff * 2 ** retries, self.max_delay)
        if delay is None or delay > self.max_delay or retries >= self.max_retries:
            return response
        self.log(request, response, delay, retries + 1)
        from twisted.internet import reactor  # the reactor Scrapy installed

        await maybe_deferred_to_future(task.deferLater(reactor, delay, lambda: None))
        retry = request.replace(dont_filter=True)
        retry.meta["retry_times"] = retries + 1
        retry.priority = request.priority + self.priority_adjust
        return retry

    def log(self, request: Request, response: Response, delay: float, attempt: int) -> None:
        state_for = getattr(self.crawler.spider, "state_for", None)
        state = state_for(request.meta) if state_for else None
        conn = self.conn
        conn.buffer("crawl_log", {
            "crawl_id": conn.crawl_id, "company_id": state.company_id if state else None, "url": request.url,
            "status": response.status, "outcome": "retry",
            "reason": f"HTTP {response.status}: {asked(response, delay)}; retry {attempt} of {self.max_retries} "
                      "after that wait",
            "content_type": (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower(),
            "size": len(response.body), "elapsed_ms": None, "at": utcnow(), "worker": conn.worker,
        })


def asked(response: Response, delay: float) -> str:
    """What the wait before a retry comes from, for crawl_log."""
    if response.headers.get(b"Retry-After"):
        return f"server asked to retry after {delay:g} s"
    return f"no Retry-After; backing off {delay:g} s"
