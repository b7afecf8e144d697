"""Records every response in crawl_log straight from Scrapy's signals.

Logging from a signal instead of yielding an item per page keeps the
per-page cost of the spider low (items pass through every spider middleware
and pipeline); failures without a response are logged by the spider's
errback through CrawlLogPipeline.
"""

from __future__ import annotations

from scrapy import signals

from crawler.pipelines import corpus_db
from policycorpus.db import utcnow


def outcome_of(status: int) -> str:
    return "ok" if status < 400 else "http_error"


class CrawlLogExtension:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        return ext

    def response_received(self, response, request, spider=None):
        spider = spider or self.crawler.spider
        company_id = request.meta.get("company_id")
        if company_id is None and hasattr(spider, "company_for_url"):
            company_id = spider.company_for_url(response.url)
        elapsed = request.meta.get("download_latency")
        conn = corpus_db(self.crawler)
        conn.buffer("crawl_log", {
            "crawl_id": conn.crawl_id, "company_id": company_id, "url": response.url, "status": response.status,
            "outcome": outcome_of(response.status),
            "reason": "robots.txt" if response.url.endswith("/robots.txt") else "",
            "content_type": response.headers.get(b"Content-Type", b"").decode("latin-1").lower(),
            "size": len(response.body), "elapsed_ms": round(elapsed * 1000, 1) if elapsed is not None else None,
            "at": utcnow(),
        })
