"""A progress line on stderr during long crawls: companies done, pages fetched, policies found."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Self

from scrapy import signals
from twisted.internet.task import LoopingCall

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler


class ProgressDisplay:
    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
        self.tty = sys.stderr.isatty()
        # On a terminal one line is rewritten in place; in logs (CI, pipes) a line every 10 s at most.
        self.interval = interval if self.tty else max(interval, 10.0)
        self.started = time.monotonic()
        self.loop: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        ext = cls(crawler, crawler.settings.getfloat("POLICYCORPUS_PROGRESS_INTERVAL", 2.0))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.loop = LoopingCall(self.report, spider)
        self.loop.start(self.interval, now=False)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.loop and self.loop.running:
            self.loop.stop()
        self.report(spider, end="\n")

    def report(self, spider: Spider, end: str | None = None) -> None:
        end = end or ("\r" if self.tty else "\n")
        states = getattr(spider, "state", {}).values()
        total = len(getattr(spider, "companies", []))
        done = sum(s.done for s in states)
        pages = sum(s.pages for s in states)
        policies = sum(s.policies for s in states)
        errors = sum(s.errors for s in states)
        rate = pages / max(time.monotonic() - self.started, 1e-6)
        sys.stderr.write(f"crawl: companies {done}/{total} done · pages {pages} ({rate:.0f}/s) · "
                         f"policies {policies} · errors {errors}   {end}")
        sys.stderr.flush()
