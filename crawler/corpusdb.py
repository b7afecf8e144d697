"""The crawl's one connection to corpus.db, as a Scrapy extension.

``CorpusDb`` opens the connection from the settings (``POLICYCORPUS_DB``,
``POLICYCORPUS_CRAWL_ID``, ``POLICYCORPUS_WORKER_ID``, ``POLICYCORPUS_FLUSH_EVERY``)
in ``from_crawler``, flushes buffered rows when the spider closes and closes the
connection when the engine stops. Pipelines, middlewares and other extensions get
it with ``corpus_connection(crawler)`` (``Crawler.get_extension``), so every writer
of the crawl shares it and the crawl never holds two competing write transactions.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Self

from scrapy import signals

from crawler.tally import CrawlTally, tally_from_db
from policycorpus.db import open_db, transaction

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler


class CorpusConnection:
    """The crawl's connection to corpus.db, with buffered writes for log rows."""

    def __init__(self, path: str, crawl_id: int, flush_every: int = 500, flush_seconds: float = 2.0,
                 worker: str | None = None) -> None:
        self.db = open_db(path)
        self.crawl_id = crawl_id
        self.worker = worker
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._buffers: dict[str, list[dict]] = {}
        # what the crawl has counted so far (a resumed crawl starts from its stored rows)
        self.tally: CrawlTally = tally_from_db(self.db, crawl_id)
        self._last_flush = time.monotonic()
        self.closed = False

    def buffer(self, table: str, row: dict) -> None:
        rows = self._buffers.setdefault(table, [])
        rows.append(row)
        self.tally.add(table, row)
        if len(rows) >= self.flush_every or time.monotonic() - self._last_flush > self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        if any(self._buffers.values()):
            with transaction(self.db):
                for table, rows in self._buffers.items():
                    if rows:
                        self.db.table(table).insert_all(rows)
                        rows.clear()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if not self.closed:
            self.flush()
            self.db.conn.close()
            self.closed = True


class CorpusDb:
    """Extension owning the crawl's CorpusConnection (enabled in crawler/settings.py)."""

    def __init__(self, conn: CorpusConnection) -> None:
        self.conn = conn

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        ext = cls(CorpusConnection(settings.get("POLICYCORPUS_DB"), settings.getint("POLICYCORPUS_CRAWL_ID"),
                                   flush_every=settings.getint("POLICYCORPUS_FLUSH_EVERY", 500),
                                   worker=settings.get("POLICYCORPUS_WORKER_ID")))
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def spider_closed(self, spider: Spider, reason: str) -> None:
        self.conn.flush()

    def engine_stopped(self) -> None:
        self.conn.close()


def corpus_connection(crawler: Crawler) -> CorpusConnection:
    """The crawl's CorpusConnection; call it once extensions exist (from_crawler of pipelines and
    middlewares, or a signal handler of another extension)."""
    ext = crawler.get_extension(CorpusDb)
    if ext is None:
        raise RuntimeError("crawler.corpusdb.CorpusDb is not enabled in the EXTENSIONS setting")
    return ext.conn
