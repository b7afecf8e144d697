"""WARC captures of a crawl: every accepted policy response is also written as a WARC response record
(warcio), and its snapshot points at the record; with `crawl --warc-all`, WarcAllExtension also writes every
response the crawl received (with its real headers) to a second WARC, `crawl-<id>-<pid>-all.warc.gz`.

Runs after PolicyStorePipeline (crawler/settings.py ITEM_PIPELINES), so the snapshot exists; only the snapshot
whose raw body is exactly this response (same content hash, no WARC yet) is pointed at the record, so
`warcio` reads back the stored raw bytes. The WARC lives next to the corpus (`<corpus dir>/warc/`), its path
stored relative to the corpus file's folder.
"""

from __future__ import annotations

import io
import os
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Self

from crawler.corpusdb import CorpusConnection, corpus_connection
from crawler.items import CandidateItem
from policycorpus.db import transaction
from policycorpus.structure import sha256

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from warcio.warcwriter import WARCWriter


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


class WarcPipeline:
    def __init__(self, crawler: Crawler, conn: CorpusConnection, warc_dir: Path, root: Path) -> None:
        self.crawler, self.conn = crawler, conn
        self.root = root
        self.path = warc_dir / f"crawl-{conn.crawl_id}-{os.getpid()}.warc.gz"
        self._fh: BinaryIO | None = None
        self._writer: WARCWriter | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        root = Path(settings.get("POLICYCORPUS_DB") or "corpus.db").resolve().parent
        warc_dir = Path(settings.get("POLICYCORPUS_WARC_DIR") or root / "warc")
        return cls(crawler, corpus_connection(crawler), warc_dir, root)

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, CandidateItem) and item.raw and item.accepted:
            offset = self._write(item)
            self._reference(item, offset)
            self.crawler.stats.inc_value("policycorpus/warc_records")
        return item

    def close_spider(self, spider: Spider | None = None) -> None:
        if self._fh:
            self._fh.close()
            self._fh = None

    def _write(self, item: CandidateItem) -> int:
        from warcio.statusandheaders import StatusAndHeaders
        from warcio.warcwriter import WARCWriter

        if self._writer is None or self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")
            self._writer = WARCWriter(self._fh, gzip=True)
        status = item.http_status or 200
        http = StatusAndHeaders(_status_line(status),
                                [("Content-Type", item.content_type or "application/octet-stream"),
                                 ("Content-Length", str(len(item.raw)))], protocol="HTTP/1.1")
        record = self._writer.create_warc_record(item.url, "response", payload=io.BytesIO(item.raw),
                                                 http_headers=http)
        offset = self._fh.tell()
        self._writer.write_record(record)
        self._fh.flush()
        return offset

    def _reference(self, item: CandidateItem, offset: int) -> None:
        try:
            rel = str(self.path.resolve().relative_to(self.root))
        except ValueError:
            rel = str(self.path.resolve())
        db = self.conn.db
        with transaction(db):
            db.execute(
                "update snapshots set warc_path = ?, warc_offset = ? where warc_path is null and content_hash = ? "
                "and document_id in (select id from documents where company_id = ? and url = ?)",
                [rel, offset, sha256(item.raw), item.company_id, item.url])


def read_warc_record(corpus_path: str | os.PathLike, warc_path: str, offset: int) -> tuple[str, bytes]:
    """(target URI, payload bytes) of the record a snapshot points at."""
    from warcio.archiveiterator import ArchiveIterator

    path = Path(warc_path)
    if not path.is_absolute():
        path = Path(corpus_path).resolve().parent / path
    with open(path, "rb") as fh:
        fh.seek(offset)
        record = next(iter(ArchiveIterator(fh)))
        return record.rec_headers.get_header("WARC-Target-URI"), record.content_stream().read()



class WarcAllExtension:
    """With POLICYCORPUS_WARC_ALL: every response received (robots.txt, sitemaps, pages) to its own WARC."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO | None = None
        self._writer: WARCWriter | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        from scrapy import signals
        from scrapy.exceptions import NotConfigured

        settings = crawler.settings
        if not settings.getbool("POLICYCORPUS_WARC_ALL"):
            raise NotConfigured
        root = Path(settings.get("POLICYCORPUS_DB") or "corpus.db").resolve().parent
        warc_dir = Path(settings.get("POLICYCORPUS_WARC_DIR") or root / "warc")
        ext = cls(warc_dir / f"crawl-{settings.getint('POLICYCORPUS_CRAWL_ID')}-{os.getpid()}-all.warc.gz")
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def response_received(self, response: Response, request: Request, spider: Spider | None = None) -> None:
        from warcio.statusandheaders import StatusAndHeaders
        from warcio.warcwriter import WARCWriter

        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")
            self._writer = WARCWriter(self._fh, gzip=True)
        skip = {b"content-length", b"content-encoding", b"transfer-encoding"}  # the body is stored decoded
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, vs in response.headers.items()
                   if k.lower() not in skip for v in vs]
        headers.append(("Content-Length", str(len(response.body))))
        http = StatusAndHeaders(_status_line(response.status), headers,
                                protocol="HTTP/1.1")
        self._writer.write_record(self._writer.create_warc_record(
            response.url, "response", payload=io.BytesIO(response.body), http_headers=http))

    def spider_closed(self, spider: Spider | None = None, reason: str | None = None) -> None:
        if self._fh:
            self._fh.close()
            self._fh = None
