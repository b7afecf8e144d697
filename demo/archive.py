"""A small local web archive for the demo: older captures of the demo web's changing policy, served on loopback
exactly as the Internet Archive's CDX server and raw (`id_`) replay answer, so `policycorpus history` backfills
them (demo/pipeline.py) and the policy has three versions over time.

    /cdx/search/cdx?url=…[&output=json][&from=YYYY][&to=YYYY]   CDX (JSON array of arrays with a header row,
                                                                  or space-separated lines)
    /web/<timestamp>id_/<url>                                    the raw capture
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CDX_FIELDS = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]
CHANGING_PAGE = ("pinecrest-bank", "legal/online-communications-policy.html")
# Version 1.0 of the changing policy (2021): its generation-1 page without two rules added later.
VERSION_1 = [
    (b"Version 2.0 &middot; Effective February 1, 2024", b"Version 1.0 &middot; Effective May 1, 2021"),
    (b"<li>content that is discriminatory, harassing or threatening;</li>\n", b""),
    (b"<p>Make sure what you post about the Bank is accurate. Online content is permanent; if you make an error, "
     b"correct it promptly.</p>\n", b""),
]


@dataclass
class ArchivedPage:
    url: str
    timestamp: str  # 14 digits, UTC
    status: int
    body: bytes
    location: str | None = None

    @property
    def digest(self) -> str:
        return "sha1:" + base64.b32encode(hashlib.sha1(self.body).digest()).decode()


def demo_captures(web) -> list[ArchivedPage]:
    """The changing policy as archived in 2021 (version 1.0) and twice in 2024 (version 2.0, the same bytes)."""
    slug, path = CHANGING_PAGE
    current = (Path(web.sites[slug].directory) / path).read_bytes()
    older = current
    for old, new in VERSION_1:
        if old not in older:
            raise ValueError(f"demo archive: the demo page {path} changed; update demo/archive.py VERSION_1")
        older = older.replace(old, new)
    url = web.url(slug, "/" + path)
    return [ArchivedPage(url, "20210512093000", 200, older), ArchivedPage(url, "20240203110000", 200, current),
            ArchivedPage(url, "20240817150000", 200, current)]


class InternetArchiveServer:
    """Answers as the Internet Archive documents its CDX server and id_ replay. The first `throttle` requests
    get 429 with Retry-After: 1 (`retry_after`; None: without the header), as the Internet Archive rate-limits."""

    def __init__(self, pages: list[ArchivedPage], throttle: int = 0, host: str = "127.0.0.1",
                 retry_after: str | None = "1"):
        self.pages = pages
        self.throttle = throttle
        self.retry_after = retry_after
        self.requests: list[str] = []
        self.times: list[float] = []  # time.monotonic() of each request, in the order of `requests`
        self.server = ThreadingHTTPServer((host, 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://{host}:{self.server.server_port}"

    def __enter__(self) -> InternetArchiveServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        archive = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                archive.times.append(time.monotonic())
                archive.requests.append(self.path)
                if archive.throttle > 0:
                    archive.throttle -= 1
                    asked = {"Retry-After": archive.retry_after} if archive.retry_after else {}
                    return self._send(429, b"Too Many Requests", "text/plain", asked)
                parts = urllib.parse.urlsplit(self.path)
                if parts.path == "/cdx/search/cdx":
                    return self._cdx(urllib.parse.parse_qs(parts.query))
                if parts.path.startswith("/web/"):
                    return self._replay(self.path[len("/web/"):])
                self._send(404, b"not found", "text/plain")

            def _cdx(self, q):
                url = q.get("url", [""])[0]
                lo, hi = q.get("from", ["0"])[0], q.get("to", ["9999"])[0]
                rows = [[_surt(p.url), p.timestamp, p.url, "text/html" if p.status == 200 else "unk",
                         str(p.status), p.digest.removeprefix("sha1:"), str(len(p.body) + 300)]
                        for p in sorted(archive.pages, key=lambda p: p.timestamp)
                        if p.url == url and lo <= p.timestamp[:len(lo)] and p.timestamp[:len(hi)] <= hi]
                if q.get("output", [""])[0] == "json":
                    return self._send(200, json.dumps([CDX_FIELDS, *rows] if rows else []).encode(),
                                      "application/json")
                self._send(200, "".join(" ".join(r) + "\n" for r in rows).encode(), "text/plain")

            def _replay(self, rest):
                ts, _, url = rest.partition("id_/")
                for p in archive.pages:
                    if p.url == url and p.timestamp == ts:
                        extra = {"Location": p.location} if p.location else {}
                        return self._send(p.status, p.body, "text/html; charset=utf-8", extra)
                self._send(404, b"not archived", "text/plain")

            def _send(self, status, body, ctype, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        return Handler


def _surt(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return ",".join(reversed((parts.hostname or "").split("."))) + ")" + parts.path
