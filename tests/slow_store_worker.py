"""A crawl worker whose store pauses before each accepted policy, for tests of killed workers.

    PYTHONPATH=tests python -m slow_store_worker MARKER SECONDS crawl --redis URL ...

runs ``policycorpus crawl ...`` with one more item pipeline, just before the store: for each accepted
policy it writes the policy's URL to MARKER and waits SECONDS (without blocking the crawl) before the
store may keep it. That pause is the window in which a killed worker used to lose a page: the spider
had already reported the request answered, and the heartbeat told Redis so, before the policy was kept.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any


class SlowStorePipeline:
    def __init__(self, marker: str, seconds: float) -> None:
        self.marker = Path(marker)
        self.seconds = seconds

    @classmethod
    def from_crawler(cls, crawler: Any) -> SlowStorePipeline:
        return cls(crawler.settings.get("SLOW_STORE_MARKER"), crawler.settings.getfloat("SLOW_STORE_SECONDS"))

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        from crawler.items import CandidateItem

        if isinstance(item, CandidateItem) and item.accepted:
            with self.marker.open("a") as fh:
                fh.write(item.url + "\n")
            await asyncio.sleep(self.seconds)
        return item


def main(argv: list[str]) -> None:
    from crawler import settings as crawler_settings

    marker, seconds, *cli_args = argv
    original = crawler_settings.crawl_settings

    def with_slow_store(**kwargs: Any) -> dict:
        settings = original(**kwargs)
        settings["ITEM_PIPELINES"] = {**settings["ITEM_PIPELINES"], "slow_store_worker.SlowStorePipeline": 250}
        settings.update(SLOW_STORE_MARKER=marker, SLOW_STORE_SECONDS=float(seconds))
        return settings

    crawler_settings.crawl_settings = with_slow_store  # crawl() imports it when it runs
    from policycorpus.cli import cli

    cli(args=cli_args, prog_name="policycorpus")


if __name__ == "__main__":
    main(sys.argv[1:])  # Scrapy imports the pipeline again as slow_store_worker, from PYTHONPATH
