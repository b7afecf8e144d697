"""A progress line on stderr during long crawls: companies done, pages fetched, policies found (a history
run: documents done, requests, captures read, new versions).

Its figures come from the crawl's tally (crawler/tally.py), the same counts as the final summary."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Self

from scrapy import signals
from twisted.internet.task import LoopingCall

from crawler.corpusdb import corpus_connection
from crawler.tally import CrawlTally

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
        sys.stderr.write(progress_line(spider, self.tally(), time.monotonic() - self.started) + f"   {end}")
        sys.stderr.flush()

    def tally(self) -> CrawlTally:
        try:
            return corpus_connection(self.crawler).tally
        except RuntimeError:  # no corpus connection (a bare test crawler): nothing counted
            return CrawlTally()


def progress_line(spider: Spider, tally: CrawlTally, seconds: float) -> str:
    """The figures of the final summary (crawler/tally.py), as they grow; a spider with a line of its own
    (the history spider's progress_text) gives that."""
    own = getattr(spider, "progress_text", None)
    if callable(own):
        return str(own(tally, seconds))
    states = getattr(spider, "state", {}).values()
    total = len(getattr(spider, "companies", []))
    done = sum(s.done for s in states)
    rate = tally.pages / max(seconds, 1e-6)
    return (f"crawl: companies {done}/{total} done · pages {tally.pages} ({rate:.0f}/s, {tally.rendered} rendered) · "
            f"policies {tally.policies} · refused {tally.refused} · robots {tally.robots} · errors {tally.errors}")
