"""Records every response in crawl_log straight from Scrapy's signals.

Logging from a signal instead of yielding an item per page keeps the
per-page cost of the spider low (items pass through every spider middleware
and pipeline); failures without a response are logged by the spider's
errback through CrawlLogPipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from scrapy import signals
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.utils.httpobj import urlparse_cached
from twisted.python.failure import Failure

from crawler.corpusdb import CorpusConnection, corpus_connection
from crawler.outcomes import describe_failure, outcome_of, reason_of
from policycorpus.db import utcnow

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.robotstxt import RobotParser


class CrawlLogExtension:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._conn: CorpusConnection | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        ext = cls(crawler)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        return ext

    @property
    def conn(self) -> CorpusConnection:
        if self._conn is None:  # not in from_crawler: the extension manager is still being built then
            self._conn = corpus_connection(self.crawler)
        return self._conn

    def response_received(self, response: Response, request: Request, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        state_for, company_for_url = getattr(spider, "state_for", None), getattr(spider, "company_for_url", None)
        state = state_for(request.meta) if state_for else None
        company_id = state.company_id if state is not None else None
        if company_id is None and company_for_url:
            company_id = company_for_url(response.url)
        elapsed = request.meta.get("download_latency")
        conn = self.conn
        conn.buffer("crawl_log", {
            "crawl_id": conn.crawl_id, "company_id": company_id, "url": response.url, "status": response.status,
            "outcome": outcome_of(response), "reason": reason_of(response, request),
            "content_type": (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower(),
            "size": len(response.body), "elapsed_ms": round(elapsed * 1000, 1) if elapsed is not None else None,
            "at": utcnow(), "worker": conn.worker, "rendered": 1 if request.meta.get("rendered") else None,
        })


def log_robots_failure(crawler: Crawler, url: str, exc: Exception) -> None:
    """A robots.txt that could not be fetched (refused, timed out ...) is logged like any request."""
    company_for_url = getattr(crawler.spider, "company_for_url", None)
    company_id = company_for_url(url) if company_for_url else None
    outcome, status, reason = describe_failure(Failure(exc), crawler.settings.getint("DOWNLOAD_MAXSIZE"))
    conn = corpus_connection(crawler)
    conn.buffer("crawl_log", {
        "crawl_id": conn.crawl_id, "company_id": company_id, "url": url, "status": status, "outcome": outcome,
        "reason": f"robots.txt: {reason} (crawling the site as if it had none)", "content_type": "", "size": 0,
        "elapsed_ms": None, "at": utcnow(), "worker": conn.worker,
    })


class LoggedRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, with failures to fetch robots.txt written to crawl_log."""

    async def robot_parser(self, request: Request) -> RobotParser | None:
        url = urlparse_cached(request)
        self._robots_urls = getattr(self, "_robots_urls", {})
        self._robots_urls.setdefault(url.netloc, f"{url.scheme}://{url.netloc}/robots.txt")
        return await super().robot_parser(request)

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        corpus_connection(crawler)  # fail at start, not at the first robots.txt failure, if it is missing

    def _robots_error(self, exc, netloc):
        log_robots_failure(self.crawler, getattr(self, "_robots_urls", {}).get(netloc, f"//{netloc}/robots.txt"), exc)
        super()._robots_error(exc, netloc)
