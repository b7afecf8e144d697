"""The world web: sites the real web has and the demo web lacks, served on loopback addresses for crawl tests.

Script-built pages (text inserted by a script), sites in German, French, Spanish, Italian, Dutch,
Portuguese and Japanese (some with versions in two languages), and member organizations (a
football club, a volunteer association, a referees' society), each with decoys of its own kind.
Every text is written for PolicyCorpus. Sites and expectations: tests/worldweb/sites.yaml; files:
tests/worldweb/<slug>/.

    with WorldWeb() as web:                   # every site on its own 127.0.0.x, port 0
        web.write_companies_csv(path)         # name,homepage,industry,language
        web.expected()                        # [{slug, url, language, audience, rendered}, ...]
        web.canary.connections                # connections the refused address received (must stay 0)

In files, {{BASE_URL}} is the site's address and {{REFUSED}} the address:port of the canary: a
listener on a loopback address the crawl does not allow, which counts every connection it accepts.
"""

from __future__ import annotations

import csv
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent / "worldweb"
CANARY_HOST = "127.0.0.61"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".json": "application/json", ".txt": "text/plain; charset=utf-8", ".xml": "application/xml"}


@dataclass
class Site:
    slug: str
    name: str
    host: str
    industry: str = ""
    language: str = ""
    policies: list[dict] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    not_kept: list[str] = field(default_factory=list)  # policies in a language the company list did not ask for
    redirects: dict[str, str] = field(default_factory=dict)
    notes: str = ""


class Canary:
    """A TCP listener on a refused loopback address: counts every connection, answers none."""

    def __init__(self, host: str = CANARY_HOST):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.address = f"{host}:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.received: list[bytes] = []  # the first bytes of each connection (a request line, or nothing)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.settimeout(0.5)
            try:
                self.received.append(conn.recv(200))
            except OSError:
                self.received.append(b"")
            conn.close()

    def close(self):
        self.sock.close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        web, site = self.server.web, self.server.site
        path = unquote(urlsplit(self.path).path)
        web.requests.append((site.host, self.path))
        if path in site.redirects:
            target = web.fill(site.redirects[path], site)
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        file = ROOT / site.slug / path.lstrip("/")
        if path.endswith("/"):
            file = file / "index.html"
        if ".." in Path(path).parts or not file.is_file():
            body = b"<html><body><h1>Not found</h1></body></html>"
            self.send_response(404)
            self.send_header("Content-Type", TYPES[".html"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = web.fill(file.read_text(encoding="utf-8"), site).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", TYPES.get(file.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class WorldWeb:
    def __init__(self, sites: list[str] | None = None):
        data = yaml.safe_load((ROOT / "sites.yaml").read_text(encoding="utf-8"))
        every = {s["slug"]: Site(**s) for s in data["sites"]}
        self.sites = {slug: every[slug] for slug in (sites or every)}
        self.requests: list[tuple[str, str]] = []
        self.ports: dict[str, int] = {}
        self._servers: list[ThreadingHTTPServer] = []
        self.canary: Canary | None = None

    def __enter__(self) -> WorldWeb:
        self.canary = Canary()
        for site in self.sites.values():
            server = ThreadingHTTPServer((site.host, 0), _Handler)
            server.daemon_threads = True
            server.web, server.site = self, site
            self.ports[site.slug] = server.server_address[1]
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
            self._servers.append(server)
        return self

    def __exit__(self, *exc):
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self.canary.close()

    def base_url(self, slug: str) -> str:
        return f"http://{self.sites[slug].host}:{self.ports[slug]}/"

    def url(self, slug: str, path: str) -> str:
        return self.base_url(slug).rstrip("/") + path

    def fill(self, text: str, site: Site) -> str:
        return text.replace("{{BASE_URL}}", self.base_url(site.slug).rstrip("/")).replace(
            "{{REFUSED}}", self.canary.address)

    @property
    def hosts(self) -> list[str]:
        return [site.host for site in self.sites.values()]

    def write_companies_csv(self, path: Path) -> Path:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["name", "homepage", "industry", "language"])
            for slug, site in self.sites.items():
                writer.writerow([site.name, self.base_url(slug), site.industry, site.language])
        return Path(path)

    def expected(self) -> list[dict]:
        return [{**policy, "slug": slug, "url": self.url(slug, policy["path"])}
                for slug, site in self.sites.items() for policy in site.policies]

    def negative_urls(self) -> list[str]:
        return [self.url(slug, path) for slug, site in self.sites.items() for path in site.negatives]
