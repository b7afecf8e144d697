"""What a crawl counts, decided in one place: the progress line and the final summary both use it.

Every crawl_log and candidates row of a crawl passes through ``CrawlTally.add`` (the crawl's
CorpusConnection calls it as rows are buffered; ``tally_from_db`` replays the stored rows), so
the figures a user sees while crawling are the figures of the summary and of the crawls table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

# crawl_log outcomes that are the crawler's own choices or reported on their own, not failures
NOT_FAILURES = frozenset({"ok", "robots", "refused", "skipped", "offsite", "duplicate_content", "budget", "retry"})


def failure_reason(row: dict) -> str | None:
    """The failure a crawl_log row records (e.g. 'timeout', 'HTTP 404'), or None when it is none.

    A missing sitemap.xml or robots.txt is no failure: many sites have none.
    """
    outcome = row.get("outcome") or ""
    if outcome in NOT_FAILURES or (row.get("url") or "").endswith(("/sitemap.xml", "/robots.txt")):
        return None
    if outcome == "http_error" and row.get("status"):
        return f"HTTP {row['status']}"
    return outcome


@dataclass
class CrawlTally:
    pages: int = 0  # responses received (robots.txt files aside), rendered ones included
    rendered: int = 0  # of those, fetched again through the headless browser
    refused: int = 0  # requests the network guard refused (crawler and browser)
    robots: int = 0  # requests robots.txt disallowed
    failures: Counter = field(default_factory=Counter)  # failure reason -> count
    accepted: set[str] = field(default_factory=set)  # URLs judged to be policies
    duplicates: set[str] = field(default_factory=set)  # URLs whose text was already stored under another URL
    companies: int = 0  # companies finished (filled in by the summary)

    def add(self, table: str, row: dict) -> None:
        if table == "candidates":
            if row.get("accepted"):
                self.accepted.add(row["url"])
            return
        if table != "crawl_log":
            return
        outcome, url = row.get("outcome"), row.get("url") or ""
        if outcome == "ok":
            if not url.endswith("/robots.txt"):
                self.pages += 1
                self.rendered += bool(row.get("rendered"))
        elif outcome == "refused":
            self.refused += 1
        elif outcome == "robots":
            self.robots += 1
        elif outcome == "duplicate_content":
            self.duplicates.add(url)
        elif reason := failure_reason(row):
            self.failures[reason] += 1

    @property
    def policies(self) -> int:
        return len(self.accepted - self.duplicates)

    @property
    def errors(self) -> int:
        return sum(self.failures.values())

    def columns(self) -> dict:
        """The totals kept in the crawls table."""
        return {"pages": self.pages, "policies": self.policies, "errors": self.errors}

    def failures_text(self) -> str:
        return ", ".join(f"{count} {reason}" for reason, count in sorted(self.failures.items(), key=lambda kv: (-kv[1], kv[0])))


def tally_from_db(db: sqlite_utils.Database, crawl_id: int) -> CrawlTally:
    """The tally of a crawl's stored rows (the summary; also the start of a resumed crawl's progress)."""
    tally = CrawlTally()
    for outcome, url, status, was_rendered in db.execute(
            "select outcome, url, status, rendered from crawl_log where crawl_id = ?", [crawl_id]):
        tally.add("crawl_log", {"outcome": outcome, "url": url, "status": status, "rendered": was_rendered})
    for (url,) in db.execute("select distinct url from candidates where crawl_id = ? and accepted = 1", [crawl_id]):
        tally.add("candidates", {"url": url, "accepted": 1})
    return tally
