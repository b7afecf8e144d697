"""Item pipelines, one purpose each, ordered by ITEM_PIPELINES in crawler/settings.py.

All of them write through the crawl's one connection to corpus.db, which
the CorpusDb extension owns (crawler/corpusdb.py), so the crawl never holds
two competing write transactions.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Self

import sqlite_utils

from crawler.corpusdb import CorpusConnection, corpus_connection
from crawler.items import ArchivedCaptureItem, CandidateItem, CompanyDoneItem, ListingDoneItem, LogItem
from policycorpus.archived import record_capture_outcome, record_listing_done, save_archived
from policycorpus.db import transaction, utcnow
from policycorpus.store import Fetched, save_document
from policycorpus.structure import Block, join_blocks, sha256

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler


class _CorpusPipeline:
    def __init__(self, crawler, conn: CorpusConnection):
        self.crawler = crawler
        self.conn = conn

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler, corpus_connection(crawler))


class PolicyStorePipeline(_CorpusPipeline):
    """Accepted candidates become documents; a new snapshot only when the text changed."""

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, CandidateItem) and item.accepted:
            self.conn.flush()  # keep log rows ordered before the committed policy
            twin = same_text_elsewhere(self.conn.db, item.company_id, item.url, item.blocks)
            if twin is not None:
                # The same policy under another URL (print view, tracking parameters, mirror): stored once.
                self.conn.buffer("crawl_log", {
                    "crawl_id": self.conn.crawl_id, "company_id": item.company_id, "url": item.url,
                    "status": item.http_status, "outcome": "duplicate_content",
                    "reason": f"same text as {twin[1]} (document {twin[0]}); not stored again",
                    "content_type": item.content_type, "size": len(item.raw), "at": utcnow(),
                    "worker": self.conn.worker,
                })
                self.crawler.stats.inc_value("policycorpus/snapshots_duplicate_url")
                return item
            result = save_document(
                self.conn.db,
                item.company_id,
                Fetched(url=item.url, raw=item.raw, content_type=item.content_type, blocks=item.blocks,
                        title=item.title, http_status=item.http_status, extractor=item.extractor,
                        policy_score=item.policy_score, rendered=item.rendered, language=item.language,
                        audience=item.audience, dates=item.dates, last_modified=item.last_modified),
            )
            self.crawler.stats.inc_value("policycorpus/snapshots_new" if result.new_snapshot
                                         else "policycorpus/snapshots_unchanged")
        return item


def same_text_elsewhere(db: sqlite_utils.Database, company_id: int, url: str, blocks: list[Block]
                        ) -> tuple[int, str] | None:
    """(id, url) of another document of the company whose latest text equals this page's, unless the URL is known."""
    text, _ = join_blocks(blocks)
    row = db.execute(
        "select d.id, d.url from documents d join snapshots s on s.id = d.latest_snapshot_id "
        "where d.company_id = ? and d.url != ? and s.text_hash = ? "
        "and not exists (select 1 from documents k where k.company_id = ? and k.url = ?) order by d.id limit 1",
        [company_id, url, sha256(text), company_id, url],
    ).fetchone()
    return (row[0], row[1]) if row else None


class CandidatePipeline(_CorpusPipeline):
    """Every judged page, with its score and reasons, for audit."""

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, CandidateItem):
            self.conn.buffer("candidates", {
                "crawl_id": self.conn.crawl_id, "company_id": item.company_id, "url": item.url,
                "depth": item.depth, "link_score": item.link_score, "policy_score": round(item.policy_score, 4),
                "accepted": int(item.accepted), "reasons": json.dumps(item.reasons), "title": item.title,
                "content_type": item.content_type, "judged_at": utcnow(),
            })
        return item


class CrawlLogPipeline(_CorpusPipeline):
    """Every request's outcome."""

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, LogItem):
            self.conn.buffer("crawl_log", {
                "crawl_id": self.conn.crawl_id, "company_id": item.company_id, "url": item.url,
                "status": item.status, "outcome": item.outcome, "reason": item.reason,
                "content_type": item.content_type, "size": item.size, "elapsed_ms": item.elapsed_ms,
                "at": utcnow(), "worker": self.conn.worker,
            })
            self.crawler.stats.inc_value(f"policycorpus/outcome/{item.outcome}")
        return item


class CompanyDonePipeline(_CorpusPipeline):
    """Marks a company finished in this crawl, so `--resume` can skip it."""

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, CompanyDoneItem):
            self.conn.flush()
            with transaction(self.conn.db):
                self.conn.db.table("crawl_companies").upsert({
                    "crawl_id": self.conn.crawl_id, "company_id": item.company_id, "status": "done",
                    "pages": item.pages, "policies": item.policies, "finished_at": utcnow(),
                }, pk=("crawl_id", "company_id"))
        return item


class ArchiveStorePipeline(_CorpusPipeline):
    """The history crawl's captures: each distinct text a snapshot dated by its capture time
    (policycorpus.archived), every capture's outcome in archive_captures, finished documents in archive_listings."""

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, ArchivedCaptureItem):
            self.conn.flush()  # keep log rows ordered before the stored capture
            self.crawler.stats.inc_value(f"history/{self.store(item)}")
        elif isinstance(item, ListingDoneItem):
            self.conn.flush()
            record_listing_done(self.conn.db, item.document_id, item.archive, item.params, item.captures)
        return item

    def store(self, item: ArchivedCaptureItem) -> str:
        """Store one capture; what came of it: new_versions, same_text, empty or failed."""
        if item.outcome == "read" and item.fetched is not None:
            result = save_archived(self.conn.db, item.document_id, item.fetched, item.record)
            return "new_versions" if result.new_snapshot else "same_text"
        outcome = "empty" if item.outcome == "empty" else "failed"
        record_capture_outcome(self.conn.db, item.document_id, item.record, outcome, item.error)
        return outcome
