"""A misbehaving local web for fault-injection tests and bench/faults.py.

Every site is a real HTTP server on its own loopback address (127.0.0.100 and up,
clear of the demo web's .21-.40) with a homepage, robots.txt and one good social
media policy (planted: the crawl must capture it). A faulty site additionally
links to, or itself is, one kind of misbehaviour (FAULTS):

    with FaultWeb(["http_500", "gzip_bomb", None]) as web:   # None = a well-behaved site
        web.write_companies_csv(path); web.planted(); web.requests_to(host)

Large bodies are generated while sending (the 50 MB page is never allocated);
the gzip bomb is ~64 KB on the wire and 64 MB decompressed. Slow handlers stop
when the client hangs up or after a bounded time.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

FAULTS = (
    "http_500", "http_503", "timeout", "slow_drip", "reset", "redirect_loop", "huge_page", "huge_chunked",
    "gzip_bomb", "wrong_charset", "no_charset", "binary_html", "malformed_html", "nested_html", "truncated_pdf",
    "encrypted_pdf", "link_trap", "duplicate_content", "retry_after",
)
# Attempts to steer the crawler into addresses it must refuse (loopback canary, cloud metadata, localhost).
SAFETY_FAULTS = ("redirect_private", "redirect_metadata", "link_localhost", "redirect_file")
# What crawl_log must say about each fault: (outcome, text in reason); None where the fault is not a failure
# (the policy must simply come out right).
EXPECTED_LOG = {
    "http_500": ("http_error", "HTTP 500"),
    "http_503": ("http_error", "retry after"),
    "timeout": ("timeout", "took longer"),
    "slow_drip": ("timeout", "took longer"),
    "reset": ("error", "Connection"),
    "redirect_loop": ("redirect_loop", "max redirections"),
    "huge_page": ("too_large", "max size"),
    "huge_chunked": ("too_large", "max size"),
    "gzip_bomb": ("too_large", "DOWNLOAD_MAXSIZE"),
    "binary_html": ("skipped", "binary content"),
    "truncated_pdf": ("parse_error", "PDF"),
    "encrypted_pdf": ("parse_error", "encrypted"),
    "link_trap": ("budget", "page budget"),
    "duplicate_content": ("duplicate_content", "same text as"),
    "retry_after": ("retry", "retry after 1 s"),  # the homepage answers 503 once, then works
    "nested_html": None, "malformed_html": None, "wrong_charset": None, "no_charset": None,
    "redirect_private": ("refused", "loopback"),
    "redirect_metadata": ("refused", "metadata"),
    "link_localhost": ("refused", "localhost resolves to"),
    "redirect_file": ("refused", "redirect to file:///etc/passwd: scheme 'file' is not http or https"),
}
FAULT_PATH = "/news/social-media-guidelines-archive"  # a link the crawler is sure to follow
POLICY_PATH = "/about/social-media-policy.html"
HUGE = 50 * 1024 * 1024
TEXT_HTML = "text/html; charset=utf-8"

POLICY_TEMPLATE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{name} social media policy</title>
</head><body><nav><a href="/">Home</a></nav><main>
<h1>{name} social media policy</h1>
<p>This social media policy applies to all employees and contractors of {name} who use social media,
whether for work or in a personal capacity. Policy reference {ref}.</p>
<h2>Speaking on behalf of {name}</h2>
<p>Only the communications team may speak on behalf of {name} on social media. Employees must not
create accounts that appear to represent the company.</p>
<ul><li>You must not disclose confidential information or customer data on social media.</li>
<li>You must identify yourself as an employee when you discuss our products or services online.</li>
<li>You should make clear that your views are your own and not those of {name}.</li></ul>
<h2>Conduct online</h2>
<p>Be respectful. Harassment, discrimination and bullying of colleagues are not tolerated on social
networks, in private messages or in public posts.</p>
<p>Violations of this social media policy may lead to disciplinary action, up to and including termination.</p>
<p>Questions about social media use go to the communications team{extra}.</p>
</main><footer><a href="/">Home</a> Follow {name} on social media</footer></body></html>"""


def policy_html(name: str, ref: str, extra: str = "") -> str:
    return POLICY_TEMPLATE.format(name=name, ref=ref, extra=extra)


def policy_pdf(name: str) -> bytes:
    from demo.make_pdf import render

    source = (f"# {name} social media policy\n\nThis social media policy applies to all employees of {name} "
              "who use social media.\n\n## Rules\n\n- You must not disclose confidential information on "
              "social media.\n- Only the communications team speaks for the company on social networks.\n\n"
              "Breaches of this social media policy may lead to disciplinary action.\n")
    return render(source, header=name, title=f"{name} social media policy")


def gzip_bomb(size: int = 64 * 1024 * 1024) -> bytes:
    out = io.BytesIO()
    chunk = b" " * (1024 * 1024)
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        for _ in range(size // len(chunk)):
            gz.write(chunk)
    return out.getvalue()


def encrypted_pdf(body: bytes) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(body)))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@dataclass
class FaultSite:
    index: int
    host: str
    fault: str | None
    name: str
    slug: str

    @property
    def policy_is_fault(self) -> bool:
        return self.fault in ("wrong_charset", "no_charset", "malformed_html")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, site: FaultSite, web: "FaultWeb"):
        self.site = site
        self.web = web
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, BrokenPipeError, socket.timeout):
            self.close_connection = True

    def do_GET(self):
        site, web = self.server.site, self.server.web
        path = urlsplit(self.path).path
        web._record(site.host, self.path)
        if site.fault == "canary":
            return self.send_body(200, b"<html><body>internal admin page</body></html>", TEXT_HTML)
        if site.fault == "redirect_private" and path in ("/robots.txt", "/sitemap.xml", FAULT_PATH):
            return self.send_body(302, b"", TEXT_HTML, {"Location": web.canary_url() + path})
        if path == "/robots.txt":
            return self.send_body(200, b"User-agent: *\nAllow: /\n", "text/plain")
        if path == "/":
            if site.fault == "retry_after" and web.requests_to(site.host)["/"] == 1:
                return self.send_body(503, b"<html><body>Busy</body></html>", TEXT_HTML, {"Retry-After": "1"})
            return self.send_body(200, web.homepage(site).encode(), TEXT_HTML)
        if path == POLICY_PATH or (site.fault == "duplicate_content" and path in web.duplicate_paths()):
            return self.policy(site)
        if site.fault and (path.startswith(FAULT_PATH) or path.startswith("/calendar/")):
            return getattr(self, f"fault_{site.fault}")(path)
        self.send_body(404, b"<html><body><h1>Not found</h1></body></html>", TEXT_HTML)

    # -- helpers ----------------------------------------------------------------------------

    def send_body(self, status: int, body: bytes, content_type: str | None, headers: dict | None = None):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def policy(self, site: FaultSite):
        html = self.server.web.policy(site)
        if site.fault == "wrong_charset":  # UTF-8 bytes declared as Latin-1
            return self.send_body(200, html.encode("utf-8"), "text/html; charset=iso-8859-1")
        if site.fault == "no_charset":
            return self.send_body(200, html.replace('<meta charset="utf-8">', "").encode("utf-8"), "text/html")
        self.send_body(200, html.encode("utf-8"), TEXT_HTML)

    def stream(self, total: int, chunk: bytes, content_length: bool, delay: float = 0.0, limit_s: float = 30):
        self.send_response(200)
        self.send_header("Content-Type", TEXT_HTML)
        if content_length:
            self.send_header("Content-Length", str(total))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        sent, started = 0, time.monotonic()
        try:
            while sent < total and time.monotonic() - started < limit_s:
                piece = chunk[: total - sent]
                self.wfile.write(piece)
                sent += len(piece)
                if delay:
                    self.wfile.flush()
                    time.sleep(delay)
        except (ConnectionError, BrokenPipeError, OSError):
            pass
        self.close_connection = True

    # -- faults -----------------------------------------------------------------------------

    def fault_http_500(self, path):
        self.send_body(500, b"<html><body>Internal Server Error</body></html>", TEXT_HTML)

    def fault_http_503(self, path):
        self.send_body(503, b"<html><body>Service Unavailable</body></html>", TEXT_HTML, {"Retry-After": "2"})

    def fault_timeout(self, path):
        deadline = time.monotonic() + self.server.web.stall_seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
        self.send_body(200, b"<html><body>too late</body></html>", TEXT_HTML)

    def fault_slow_drip(self, path):
        self.stream(100_000, b"<p>", content_length=True, delay=0.2, limit_s=self.server.web.stall_seconds)

    def fault_reset(self, path):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def fault_redirect_loop(self, path):
        target = FAULT_PATH + ("/b" if path.endswith("/a") or path == FAULT_PATH else "/a")
        self.send_body(302, b"", TEXT_HTML, {"Location": target})

    def fault_huge_page(self, path):
        self.stream(HUGE, b"<p>social media " + b"x" * 65000 + b"</p>", content_length=True)

    def fault_huge_chunked(self, path):
        self.stream(HUGE, b"<p>social media " + b"x" * 65000 + b"</p>", content_length=False)

    def fault_gzip_bomb(self, path):
        self.send_body(200, self.server.web.bomb(), TEXT_HTML, {"Content-Encoding": "gzip"})

    def fault_binary_html(self, path):
        rng = random.Random(7)
        self.send_body(200, bytes(rng.randrange(256) for _ in range(20000)), TEXT_HTML)

    def fault_nested_html(self, path):
        depth = 20000
        body = ("<html><body>" + "<div>" * depth + "<p>social media social media social media policy</p>"
                + "</div>" * depth + "</body></html>")
        self.send_body(200, body.encode(), TEXT_HTML)

    def fault_malformed_html(self, path):
        self.send_body(404, b"", TEXT_HTML)

    def fault_wrong_charset(self, path):
        self.send_body(404, b"", TEXT_HTML)

    fault_no_charset = fault_wrong_charset

    def fault_truncated_pdf(self, path):
        body = policy_pdf(self.server.site.name)
        self.send_body(200, body[: len(body) // 3], "application/pdf")

    def fault_encrypted_pdf(self, path):
        self.send_body(200, encrypted_pdf(policy_pdf(self.server.site.name)), "application/pdf")

    def fault_link_trap(self, path):
        # /calendar/Y/M/ links to the next and previous month and to every day: an endless calendar
        parts = [int(p) for p in path.split("/")[2:] if p.isdigit()] or [2026, 1]
        year, month = parts[0], parts[1] if len(parts) > 1 else 1
        nxt = (year + month // 12, month % 12 + 1)
        prv = (year - (month == 1), (month - 2) % 12 + 1)
        links = [f"/calendar/{nxt[0]}/{nxt[1]:02d}/", f"/calendar/{prv[0]}/{prv[1]:02d}/"]
        links += [f"/calendar/{year}/{month:02d}/{day:02d}/" for day in range(1, 29)]
        body = "<html><body><h1>Events</h1>" + "".join(f'<a href="{u}">{u}</a> ' for u in links) + "</body></html>"
        self.send_body(200, body.encode(), TEXT_HTML)

    def fault_duplicate_content(self, path):
        self.send_body(404, b"", TEXT_HTML)

    def fault_redirect_metadata(self, path):
        self.send_body(302, b"", TEXT_HTML, {"Location": "http://169.254.169.254/latest/meta-data/iam/"})

    def fault_redirect_file(self, path):  # Scrapy does not follow it; it must not pass for a page either
        self.send_body(302, b"", TEXT_HTML, {"Location": "file:///etc/passwd"})

    def fault_link_localhost(self, path):  # a public-looking redirect to a name that resolves to loopback
        port = self.server.web.canary_url().rsplit(":", 1)[1]
        self.send_body(302, b"", TEXT_HTML, {"Location": f"http://localhost:{port}/admin"})


class FaultWeb:
    """Sites with the given faults (None = well behaved), each on 127.0.0.<first_host + i>."""

    def __init__(self, faults: list[str | None], first_host: int = 100, stall_seconds: float = 6.0):
        unknown = [f for f in faults if f is not None and f not in FAULTS + SAFETY_FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}")
        if first_host + len(faults) > 255:
            raise ValueError("too many sites for 127.0.0.x")
        self.sites = [FaultSite(i, f"127.0.0.{first_host + i}", fault, self._name(i, fault), f"fault-site-{i}")
                      for i, fault in enumerate(faults)]
        self.stall_seconds = stall_seconds
        self._servers: list[_Server] = []
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.times: list[tuple[str, str, float]] = []  # (host, path, monotonic time) of every request
        self._bomb: bytes | None = None
        self.canary = FaultSite(-1, "127.0.0.1", "canary", "Canary", "canary")  # must never be reached

    @staticmethod
    def _name(i: int, fault: str | None) -> str:
        kind = (fault or "steady").replace("_", " ").title().replace(" ", "")
        return f"{kind} Works {i}"

    def start(self) -> "FaultWeb":
        for site in [*self.sites, self.canary]:
            server = _Server((site.host, 0), site, self)
            self._servers.append(server)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- content ----------------------------------------------------------------------------

    def bomb(self) -> bytes:
        with self._lock:
            if self._bomb is None:
                self._bomb = gzip_bomb()
            return self._bomb

    @staticmethod
    def duplicate_paths() -> list[str]:
        return [POLICY_PATH + "?ref=footer", POLICY_PATH + "?utm_source=newsletter", "/print/social-media-policy.html",
                "/en/about/social-media-policy.html"]

    def policy(self, site: FaultSite) -> str:
        extra = ""
        if site.fault == "wrong_charset":
            extra = " (Zoë Müller, Ça va — “quotes”)"
        if site.fault == "malformed_html":
            html = policy_html(site.name, f"SM-{site.index}")
            return html.replace("</p>", "", 3).replace("</li>", "").replace("<h2>", "<h2><b><i>", 1) + "</div></span>\x00<<>>"
        return policy_html(site.name, f"SM-{site.index}", extra)

    def homepage(self, site: FaultSite) -> str:
        links = [(POLICY_PATH, "Social media policy")]
        if site.fault == "duplicate_content":
            links += [(p, "Social media policy (print)") for p in self.duplicate_paths()]
        elif site.fault == "link_trap":
            links.append(("/calendar/2026/01/", "Events calendar"))

        elif site.fault and not site.policy_is_fault and site.fault != "retry_after":
            suffix = {"truncated_pdf": ".pdf", "encrypted_pdf": ".pdf"}.get(site.fault, "")
            links.append((FAULT_PATH + suffix, "Social media guidelines archive"))
        nav = "".join(f'<li><a href="{href}">{text}</a></li>' for href, text in links)
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{site.name}</title></head><body>"
                f"<h1>{site.name}</h1><p>Welcome to {site.name}.</p><ul>{nav}</ul></body></html>")

    # -- addresses and expectations ---------------------------------------------------------

    def base_url(self, site: FaultSite) -> str:
        port = self._servers[site.index].server_address[1]  # the canary (-1) is the last server
        return f"http://{site.host}:{port}"

    def canary_url(self) -> str:
        return self.base_url(self.canary)

    def planted(self) -> dict[str, FaultSite]:
        """URL of every good policy the crawl must capture -> its site."""
        return {self.base_url(s) + POLICY_PATH: s for s in self.sites}

    def write_companies_csv(self, path: str | Path) -> Path:
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["name", "homepage", "industry"])
            for site in self.sites:
                writer.writerow([site.name, self.base_url(site) + "/", site.fault or "steady"])
        return path

    def allow_host_args(self) -> list[str]:
        return [arg for s in self.sites for arg in ("--allow-host", s.host)]

    def _record(self, host: str, path: str) -> None:
        with self._lock:
            self.requests.append((host, path))
            self.times.append((host, path, time.monotonic()))

    def requests_to(self, host: str) -> Counter:
        with self._lock:
            return Counter(path for h, path in self.requests if h == host)
