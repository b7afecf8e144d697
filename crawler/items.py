"""Items the policy spider (and the history spider) yield; each pipeline handles one kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policycorpus.store import Fetched


@dataclass
class LogItem:
    """The outcome of one request, for crawl_log."""

    company_id: int
    url: str
    outcome: str
    status: int | None = None
    reason: str = ""
    content_type: str = ""
    size: int = 0
    elapsed_ms: float | None = None


@dataclass
class CandidateItem:
    """A page the spider judged; accepted ones also carry what the store needs."""

    company_id: int
    url: str
    depth: int
    link_score: float
    policy_score: float
    accepted: bool
    reasons: list[str] = field(default_factory=list)
    title: str | None = None
    content_type: str = ""
    raw: bytes = b""
    blocks: list = field(default_factory=list)
    http_status: int | None = None
    extractor: str = ""
    warning: str = ""  # why extraction found no text (encrypted or unreadable PDF ...)
    rendered: bool = False  # read from the headless browser's rendering
    language: str | None = None  # ISO 639-1 code, declared by the page or detected in its text
    audience: str | None = None  # employees, members, volunteers or mixed (crawler.classify.PolicyClassifier.audience)
    dates: list = field(default_factory=list)  # the dates the page states about itself (PolicyDate)
    last_modified: str | None = None  # the response's Last-Modified header


@dataclass
class CompanyDoneItem:
    """Every request for this company has been answered."""

    company_id: int
    pages: int
    policies: int


@dataclass
class ArchivedCaptureItem:
    """One archive capture the history spider read: its extracted text (outcome 'read'), or why it gave none
    ('empty', 'failed'); PolicyCorpus stores it with policycorpus.archived (ArchiveStorePipeline)."""

    document_id: int
    company_id: int
    record: dict  # crawler.archive.capture_record: archive, timestamp, digest, capture_url, captured_at
    outcome: str  # read, empty or failed
    fetched: Fetched | None = None  # the capture's body and extracted blocks (outcome 'read')
    error: str = ""


@dataclass
class ListingDoneItem:
    """Every kept capture of a document has been read: what `history --resume` skips."""

    document_id: int
    archive: str
    params: str  # crawler.archive.listing_params
    captures: int
