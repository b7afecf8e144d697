"""Scrapy settings for the policy crawl and the history crawl: polite and bounded by default."""

from __future__ import annotations

from typing import Any

from scrapy.settings import default_settings

from policycorpus import __version__

DEFAULT_CONTACT_URL = "https://github.com/policycorpus/policycorpus#crawler"
REDIS_RETRY_SECONDS = 30.0  # distributed crawl: patience with an unreachable Redis before a worker stops
REDIS_LOST = "redis_unavailable"  # the finish reason of a worker that gave up on Redis
DEFAULT_ARCHIVE = "https://web.archive.org"  # `history --archive`: the Internet Archive (CDX server, id_ replay)
ARCHIVE_MAX_CAPTURE_MB = 10.0  # `history --max-size`
ARCHIVE_RETRY_AFTER_MAX = 120.0  # seconds of an archive's Retry-After honoured at most

RESOLVER_SETTING = "TWISTED_DNS_RESOLVER" if hasattr(default_settings, "TWISTED_DNS_RESOLVER") else "DNS_RESOLVER"

BASE_SETTINGS: dict[str, Any] = {
    "BOT_NAME": "policycorpus",
    "ROBOTSTXT_OBEY": True,
    "COOKIES_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "WARNING",
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
    # Our pipelines are synchronous: parallel item workers buy nothing, and Scrapy starts
    # CONCURRENT_ITEMS asyncio tasks per callback, which dominated the per-page cost.
    "CONCURRENT_ITEMS": 4,
    "DOWNLOAD_DELAY": 0.25,
    "AUTOTHROTTLE_ENABLED": True,
    "AUTOTHROTTLE_START_DELAY": 0.25,
    "AUTOTHROTTLE_MAX_DELAY": 10.0,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
    "DOWNLOAD_TIMEOUT": 20,
    "DOWNLOAD_MAXSIZE": 10 * 1024 * 1024,
    "DOWNLOAD_WARNSIZE": 0,
    "RETRY_ENABLED": True,
    "RETRY_TIMES": 2,
    "REDIRECT_MAX_TIMES": 5,
    "METAREFRESH_ENABLED": True,
    "DNS_TIMEOUT": 10,
    # checks the address actually connected to (TWISTED_DNS_RESOLVER in newer Scrapy, DNS_RESOLVER before)
    RESOLVER_SETTING: "crawler.safety.SafeResolver",
    "REACTOR_THREADPOOL_MAXSIZE": 10,
    "DEPTH_LIMIT": 0,  # the spider bounds depth itself (POLICYCORPUS_MAX_DEPTH)
    "ITEM_PIPELINES": {
        "crawler.pipelines.CrawlLogPipeline": 100,
        "crawler.pipelines.CandidatePipeline": 200,
        "crawler.pipelines.PolicyStorePipeline": 300,
        "crawler.warcwriter.WarcPipeline": 350,  # after the store: points the new snapshot at its WARC record
        "crawler.pipelines.CompanyDonePipeline": 400,
    },
    # Components the spider does itself (host filtering, depth) or never needs (auth, proxies,
    # referrer policy) are switched off: they run on every request.
    "DOWNLOADER_MIDDLEWARES": {
        "crawler.safety.NetworkSafetyMiddleware": 50,
        "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
        "crawler.crawllog.LoggedRobotsTxtMiddleware": 100,
        "crawler.retryafter.RetryAfterMiddleware": 560,  # sees 429/503 before RetryMiddleware (550)
        "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
        "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
        "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None,
    },
    "SPIDER_MIDDLEWARES": {
        "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
        "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
    },
    "EXTENSIONS": {
        "crawler.corpusdb.CorpusDb": 0,  # the connection to corpus.db every writer of the crawl shares
        "crawler.crawllog.CrawlLogExtension": 100,
        "crawler.progress.ProgressDisplay": 500,
        "crawler.warcwriter.WarcAllExtension": 600,  # only with crawl --warc-all
    },
    "POLICYCORPUS_MAX_DEPTH": 3,
    "POLICYCORPUS_MAX_PAGES_PER_SITE": 60,
    "POLICYCORPUS_POLICY_THRESHOLD": 0.5,
    "POLICYCORPUS_ALLOW_PRIVATE": False,
    "POLICYCORPUS_ALLOW_HOSTS": [],  # addresses/networks allowed although private (test webs), e.g. 127.0.0.21/32
    "POLICYCORPUS_SITEMAPS": True,
    "POLICYCORPUS_RETRY_AFTER_MAX": 30.0,  # honour a Retry-After of at most this many seconds
    "POLICYCORPUS_RETRY_BACKOFF": 0.0,  # >0: a 429/503 without Retry-After waits this, doubled per retry
    "POLICYCORPUS_PROGRESS_INTERVAL": 2.0,
    "POLICYCORPUS_EXTRACT_TIMEOUT": 10.0,  # seconds per document, in a worker process (policycorpus.extract)
    "POLICYCORPUS_EXTRACT_WORKERS": 2,  # worker processes (and threads waiting on them)
    # Rendering script-built pages in headless Chromium (crawler/render.py; crawl --render)
    "POLICYCORPUS_RENDER": "never",  # auto: pages with scripts and next to no text; always: every HTML page
    "POLICYCORPUS_RENDER_MAX_PER_SITE": 10,  # pages rendered per site at most
    "POLICYCORPUS_RENDER_SECONDS_PER_SITE": 90.0,  # browser time per site; later pages are not rendered
    "POLICYCORPUS_RENDER_TIMEOUT": 15.0,  # seconds per page (navigation), then a bounded wait for scripts
    "POLICYCORPUS_RENDER_SETTLE_MS": 1500,  # how long to wait for the network to go quiet after load
    "POLICYCORPUS_RENDER_HEAP_MB": 256,  # JavaScript heap of a page's scripts
    "POLICYCORPUS_RENDER_MIN_TEXT": 200,  # auto: a page with scripts and fewer visible characters is rendered
}

RENDER_MODES = ("auto", "always", "never")


def user_agent(contact_url: str) -> str:
    return f"PolicyCorpus/{__version__} (research crawler for published social media policies; +{contact_url})"


def crawl_settings(*, db_path: str, crawl_id: int, contact_url: str = DEFAULT_CONTACT_URL, polite: bool = True,
                   allow_private: bool = False, allow_hosts: tuple[str, ...] | list[str] = (), max_depth: int = 3,
                   max_pages: int = 60, threshold: float = 0.5, timeout: float | None = None,
                   max_size: int | None = None, progress: bool = True, extra: dict | None = None,
                   extract_timeout: float | None = None, render: str = "auto", max_renders: int | None = None,
                   browser: str | None = None) -> dict:
    """The full settings dict for one crawl.

    render: auto (default), always or never (see crawler/render.py); auto without a Chromium
    (or without scrapy-playwright) renders nothing, always raises RenderUnavailable.

    Dict-valued settings of `extra` (middlewares, extensions, pipelines) are merged into the
    defaults rather than replacing them.
    """
    settings = dict(BASE_SETTINGS)
    settings.update({
        "USER_AGENT": user_agent(contact_url),
        "POLICYCORPUS_DB": db_path,
        "POLICYCORPUS_CRAWL_ID": crawl_id,
        "POLICYCORPUS_ALLOW_PRIVATE": allow_private,
        "POLICYCORPUS_ALLOW_HOSTS": list(allow_hosts),
        "POLICYCORPUS_MAX_DEPTH": max_depth,
        "POLICYCORPUS_MAX_PAGES_PER_SITE": max_pages,
        "POLICYCORPUS_POLICY_THRESHOLD": threshold,
    })
    if not polite:
        settings.update({"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0,
                         "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "CONCURRENT_REQUESTS": 64})
    if timeout:
        settings["DOWNLOAD_TIMEOUT"] = timeout
    if max_size:
        settings["DOWNLOAD_MAXSIZE"] = max_size
    if extract_timeout:
        settings["POLICYCORPUS_EXTRACT_TIMEOUT"] = extract_timeout
    settings.update(render_settings(render, browser, settings["USER_AGENT"], max_renders))
    if not progress:
        settings["EXTENSIONS"] = {**settings["EXTENSIONS"], "crawler.progress.ProgressDisplay": None}
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    return settings


class RenderUnavailable(RuntimeError):
    """crawl --render always, but no Chromium or no scrapy-playwright to drive it."""


def render_settings(mode: str, browser: str | None, user_agent: str, max_renders: int | None = None) -> dict:
    """Settings for a --render mode; {"POLICYCORPUS_RENDER": "never"} when rendering is off or impossible."""
    if mode not in RENDER_MODES:
        raise ValueError(f"render mode {mode!r} is not one of {', '.join(RENDER_MODES)}")
    if mode == "never":
        return {"POLICYCORPUS_RENDER": "never"}
    try:
        from crawler.render import browser_settings, find_browser
    except ImportError as exc:  # scrapy-playwright not installed
        if mode == "always":
            raise RenderUnavailable(f"--render always needs scrapy-playwright ({exc})") from None
        return {"POLICYCORPUS_RENDER": "never", "POLICYCORPUS_RENDER_UNAVAILABLE": f"scrapy-playwright missing ({exc})"}
    executable = find_browser(browser)
    if executable is None:
        if mode == "always":
            raise RenderUnavailable("--render always needs Chromium: install it (apt-get install chromium) "
                                    "or set POLICYCORPUS_CHROMIUM to its path")
        return {"POLICYCORPUS_RENDER": "never", "POLICYCORPUS_RENDER_UNAVAILABLE": "no Chromium found"}
    out = browser_settings(executable, timeout=BASE_SETTINGS["POLICYCORPUS_RENDER_TIMEOUT"],
                           heap_mb=BASE_SETTINGS["POLICYCORPUS_RENDER_HEAP_MB"], user_agent=user_agent)
    out["POLICYCORPUS_RENDER"] = mode
    if max_renders is not None:
        out["POLICYCORPUS_RENDER_MAX_PER_SITE"] = max_renders
    return out


def history_user_agent(contact_url: str) -> str:
    return (f"PolicyCorpus-history/{__version__} (research: earlier versions of published social media policies; "
            f"at most 1 request/s; +{contact_url})")


def history_settings(*, db_path: str, crawl_id: int, delay: float = 1.0, timeout: float = 30.0,
                     max_size: int = int(ARCHIVE_MAX_CAPTURE_MB * 1024 * 1024), retries: int = 3,
                     retry_after_max: float = ARCHIVE_RETRY_AFTER_MAX,
                     allow_private: bool = False, allow_hosts: tuple[str, ...] | list[str] = (),
                     contact_url: str = DEFAULT_CONTACT_URL, progress: bool = True) -> dict:
    """The settings of a `policycorpus history` run (crawler/history.py): the crawl's safety, crawl_log, retries
    and progress display, one request at a time to the archive, at most one per `delay` seconds (not randomised;
    AutoThrottle only ever slows down), 429/5xx retried (Retry-After honoured up to retry_after_max, else a
    backoff from 4 x delay), redirects kept on the archive's host, no robots.txt (the archive's APIs are
    meant for programs) and no meta refresh (an archived page's refresh is not the archive's redirect)."""
    middlewares = {**BASE_SETTINGS["DOWNLOADER_MIDDLEWARES"],
                   "crawler.crawllog.LoggedRobotsTxtMiddleware": None,
                   "crawler.history.ArchiveOnlyMiddleware": 60}
    extensions = {**BASE_SETTINGS["EXTENSIONS"], "crawler.warcwriter.WarcAllExtension": None}
    if not progress:
        extensions["crawler.progress.ProgressDisplay"] = None
    settings = dict(BASE_SETTINGS)
    settings.update({
        "BOT_NAME": "policycorpus-history",
        "USER_AGENT": history_user_agent(contact_url),
        "POLICYCORPUS_DB": db_path,
        "POLICYCORPUS_CRAWL_ID": crawl_id,
        "POLICYCORPUS_ALLOW_PRIVATE": allow_private,
        "POLICYCORPUS_ALLOW_HOSTS": list(allow_hosts),
        "ROBOTSTXT_OBEY": False,
        "METAREFRESH_ENABLED": False,
        "CONCURRENT_REQUESTS": 1,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": delay,
        "RANDOMIZE_DOWNLOAD_DELAY": False,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": delay,
        "AUTOTHROTTLE_MAX_DELAY": max(60.0, delay),
        "DOWNLOAD_TIMEOUT": timeout,
        "DOWNLOAD_MAXSIZE": max_size,
        "RETRY_TIMES": retries,
        "RETRY_HTTP_CODES": [429, 500, 502, 503, 504, 522, 524, 408],
        "RETRY_PRIORITY_ADJUST": 1,  # a retried request goes next, before the next document's listing
        "POLICYCORPUS_RETRY_AFTER_MAX": retry_after_max,
        "POLICYCORPUS_RETRY_BACKOFF": max(4 * delay, 1.0),
        "ITEM_PIPELINES": {"crawler.pipelines.CrawlLogPipeline": 100,
                           "crawler.pipelines.ArchiveStorePipeline": 300},
        "DOWNLOADER_MIDDLEWARES": middlewares,
        "EXTENSIONS": extensions,
    })
    return settings
