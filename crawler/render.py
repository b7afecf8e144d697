"""Rendering script-built pages in headless Chromium (scrapy-playwright), behind the crawler's network guard.

Many corporate pages arrive as an empty shell whose text a script inserts. With ``crawl --render auto``
the spider fetches such a page again with ``meta["playwright"] = True`` (crawler/spider.py decides
which and keeps the per-site budgets); this download handler renders it in the system's Chromium.

Every request the browser makes passes the same guard as the crawler's own requests
(crawler/safety.py ``check_url``): the page's own scripts, frames, redirects, popups and workers
cannot reach a refused address. Requests the guard refuses are aborted before any connection and
logged in crawl_log as ``refused``; WebSockets and WebRTC are never opened; service workers are
blocked; images, media, fonts and style sheets are not fetched (text needs none of them).

The browser and Playwright's driver start at the first page that needs rendering, so a crawl
that renders nothing pays nothing for it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from crawler.safety import check_url, parse_networks
from policycorpus.db import utcnow

if TYPE_CHECKING:
    from playwright.async_api import Page, Route, WebSocketRoute
    from playwright.async_api import Request as PlaywrightRequest
    from scrapy.crawler import Crawler

# on_refused(url, reason, page url): how a refused browser request is recorded
RefusalLogger = Callable[[str, str, "str | None"], None]

SKIPPED_RESOURCES = frozenset({"image", "media", "font", "stylesheet"})
BROWSER_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Scripts cannot open peer-to-peer connections (WebRTC reaches addresses no route sees).
NO_PEER_CONNECTIONS = """
for (const name of ["RTCPeerConnection", "webkitRTCPeerConnection", "RTCDataChannel", "WebTransport"]) {
  try { delete window[name]; Object.defineProperty(window, name, {value: undefined, configurable: false}); } catch (e) {}
}
"""


class GuardProxy:
    """The browser's only way out: an HTTP proxy on 127.0.0.1 that lets a connection through only when the
    network guard allows its target, and connects to the address it checked (no DNS rebinding).

    The page routes see requests, not connections: a redirect followed inside the browser, a
    speculative preconnect or a WebSocket would pass them. Chromium sends every connection of every
    kind to its proxy (loopback included, see ``<-loopback>``), so each one is checked here.
    """

    def __init__(self, allow_private: bool, allow_networks: tuple, on_refused: RefusalLogger, approved: set[str],
                 timeout: float = 20.0) -> None:
        self.allow_private = allow_private
        self.allow_networks = allow_networks
        self.on_refused = on_refused
        self.approved = approved  # hosts a page asked for and the guard allowed
        self.timeout = timeout
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        server = self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    async def _serve(self, reader, writer) -> None:
        upstream = None
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.timeout)
            request_line, _, rest = head.partition(b"\r\n")
            method, target, version = request_line.decode("latin-1").split(" ", 2)
            if method == "CONNECT":
                url = f"https://{target}/"
            else:
                url = target
            host, port, reason = await self._check(url)
            approved = (urlsplit(url).hostname or "").lower() in self.approved
            if reason or not approved:
                if reason and (approved or "cannot resolve" not in reason):  # e.g. a redirect to a refused address
                    self.on_refused(url, reason + " (at the browser's connection)", None)
                # else the browser's own traffic (update checks ...), no page's request: not let out either
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            upstream_reader, upstream = await asyncio.wait_for(asyncio.open_connection(host, port), self.timeout)
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                parts = urlsplit(target)
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                headers = [h for h in rest.split(b"\r\n") if h and not h.lower().startswith((b"proxy-", b"connection:"))]
                upstream.write(f"{method} {path} {version}\r\n".encode("latin-1") + b"\r\n".join(headers)
                               + b"\r\nConnection: close\r\n\r\n")
            await asyncio.gather(_pipe(reader, upstream), _pipe(upstream_reader, writer))
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
            pass
        finally:
            for stream in (writer, upstream):
                if stream is not None:
                    stream.close()

    async def _check(self, url: str) -> tuple[str, int, str | None]:
        """(address to connect to, port, refusal reason or None)."""
        from crawler.safety import resolve

        parts = urlsplit(url)
        host, port = (parts.hostname or "").strip("[]"), parts.port or (443 if parts.scheme == "https" else 80)
        reason = await asyncio.to_thread(check_url, url, self.allow_private, self.allow_networks)
        if reason:
            return host, port, reason
        addresses = await asyncio.to_thread(resolve, host)
        return addresses[0], port, None


async def _pipe(reader, writer) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


def find_browser(configured: str | None = None) -> str | None:
    """Path of the Chromium to drive: $POLICYCORPUS_CHROMIUM, then chromium on the PATH (no browser download)."""
    for candidate in (configured, os.environ.get("POLICYCORPUS_CHROMIUM"), *BROWSER_CANDIDATES):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


def browser_settings(executable: str, *, timeout: float, heap_mb: int, user_agent: str) -> dict:
    """Scrapy settings that route rendered requests through GuardedPlaywrightHandler."""
    handler = "crawler.render.GuardedPlaywrightHandler"
    return {
        "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {
            "executable_path": executable,
            "headless": True,
            "args": [
                f"--js-flags=--max-old-space-size={heap_mb}",  # a page's scripts get a bounded heap
                "--renderer-process-limit=2",
                "--disable-dev-shm-usage",
                "--disable-background-networking",  # no update checks, safe-browsing or other calls home
                "--disable-component-update",
                "--disable-sync",
                "--disable-domain-reliability",
                "--no-pings",
                "--no-first-run",
                "--dns-prefetch-disable",
                "--disable-features=NetworkPrediction,Prefetch,PreloadMediaEngagementData",
                "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
                "--disable-gpu",
            ],
        },
        "PLAYWRIGHT_MAX_CONTEXTS": 1,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 2,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": timeout * 1000,
        "PLAYWRIGHT_CONTEXTS": {},
        "POLICYCORPUS_RENDER_USER_AGENT": user_agent,
    }


async def settle(page: Page, timeout_ms: float) -> None:
    """After load, give scripts that fetch their text a moment (network idle), within a bound."""
    from playwright.async_api import Error as PlaywrightError

    try:
        await page.wait_for_load_state("networkidle", timeout=timeout_ms)
    except PlaywrightError:  # still busy: render what is there
        pass


class BrowserGuard:
    """The crawler's network guard for the browser: decides, for every request it makes, abort or not."""

    def __init__(self, allow_private: bool, allow_networks: tuple, on_refused: RefusalLogger | None = None) -> None:
        self.allow_private = allow_private
        self.allow_networks = allow_networks
        self.on_refused = on_refused or (lambda url, reason, page_url: None)
        self.approved: set[str] = set()  # hosts of the requests the guard let through

    async def refusal(self, url: str) -> str | None:
        host = urlsplit(url).hostname or ""
        if _is_address(host):
            return check_url(url, self.allow_private, self.allow_networks)
        # a host name is resolved (blocking, cached) off the event loop
        return await asyncio.to_thread(check_url, url, self.allow_private, self.allow_networks)

    async def should_abort(self, request: PlaywrightRequest) -> bool:
        """PLAYWRIGHT_ABORT_REQUEST: refused addresses, and resources text does not need."""
        reason = await self.refusal(request.url)
        if reason:
            self.on_refused(request.url, reason, _page_url(request))
            return True
        if request.resource_type in SKIPPED_RESOURCES:
            return True
        self.approved.add((urlsplit(request.url).hostname or "").lower())
        return False

    async def route(self, route: Route, request: PlaywrightRequest) -> None:
        """Context-wide route: requests of popups and workers, which the page's own route does not see."""
        if await self.should_abort(request):
            await route.abort("blockedbyclient")
        else:
            await route.fallback()

    async def refuse_websocket(self, ws: WebSocketRoute) -> None:
        self.on_refused(ws.url, "refused: WebSockets are not opened while rendering", None)
        await ws.close()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _page_url(request) -> str | None:
    try:
        return request.frame.page.url
    except Exception:  # a worker's or service worker's request has no frame
        return None


class GuardedPlaywrightHandler(ScrapyPlaywrightDownloadHandler):
    """scrapy-playwright's download handler, started lazily and with BrowserGuard on every browser request.

    Requests without ``meta["playwright"]`` go through Scrapy's own HTTP handler, as before.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.crawler = crawler
        settings = crawler.settings
        self.guard = BrowserGuard(settings.getbool("POLICYCORPUS_ALLOW_PRIVATE"),
                                  parse_networks(settings.getlist("POLICYCORPUS_ALLOW_HOSTS")),
                                  on_refused=self._log_refused)
        self.abort_request = self.guard.should_abort
        self.user_agent = settings.get("POLICYCORPUS_RENDER_USER_AGENT") or settings.get("USER_AGENT")
        self.settle_ms = settings.getfloat("POLICYCORPUS_RENDER_SETTLE_MS", 1500)
        self._launched = False
        self._launch_lock = asyncio.Lock()
        self._refused_logged: set[str] = set()
        self.proxy = GuardProxy(self.guard.allow_private, self.guard.allow_networks, self._log_refused,
                                self.guard.approved, timeout=settings.getfloat("POLICYCORPUS_RENDER_TIMEOUT", 15.0))

    # -- lazy start: nothing is started for a crawl that renders nothing
    async def _maybe_launch_in_thread(self) -> None:
        return None

    def _engine_started(self):
        return None

    async def _download_request(self, request, spider=None):
        async with self._launch_lock:
            if not self._launched:
                port = await self.proxy.start()
                self.config.launch_options = {**self.config.launch_options,
                                              "proxy": {"server": f"http://127.0.0.1:{port}", "bypass": "<-loopback>"}}
                await self._launch()
                self._launched = True
        return await super()._download_request(request, spider)

    async def _create_browser_context(self, name, context_kwargs, spider=None):
        kwargs = {**(context_kwargs or {}), "service_workers": "block", "accept_downloads": False,
                  "java_script_enabled": True, "user_agent": self.user_agent}
        wrapper = await super()._create_browser_context(name, kwargs, spider)
        await wrapper.context.route(re.compile(r".*"), self.guard.route)
        await wrapper.context.route_web_socket(re.compile(r".*"), self.guard.refuse_websocket)
        await wrapper.context.add_init_script(NO_PEER_CONNECTIONS)
        return wrapper

    async def _close(self) -> None:
        await super()._close()
        await self.proxy.close()

    async def _apply_page_methods(self, page, request, spider) -> None:
        await settle(page, self.settle_ms)
        await super()._apply_page_methods(page, request, spider)

    async def _create_page(self, request, spider):
        page = await super()._create_page(request, spider)
        await page.route_web_socket(re.compile(r".*"), self.guard.refuse_websocket)
        return page

    def _log_refused(self, url: str, reason: str, page_url: str | None) -> None:
        """A refused browser request is logged like a refused crawler request (once per page and URL)."""
        if url in self._refused_logged:
            return
        self._refused_logged.add(url)
        self.crawler.stats.inc_value("policycorpus/render_refused")
        from crawler.corpusdb import corpus_connection

        spider = self.crawler.spider
        company_for_url = getattr(spider, "company_for_url", None)
        company_id = company_for_url(page_url or url) if company_for_url else None
        conn = corpus_connection(self.crawler)
        where = f" (requested by a script of {page_url[:300]})" if page_url else ""
        conn.buffer("crawl_log", {
            "crawl_id": conn.crawl_id, "company_id": company_id, "url": url[:2000], "status": None,
            "outcome": "refused", "reason": f"{reason}{where}; the browser was not let through",
            "content_type": "", "size": 0, "elapsed_ms": None, "at": utcnow(), "worker": conn.worker, "rendered": 1,
        })
