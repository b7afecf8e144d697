"""The demo web: fictional companies' web sites served on loopback addresses.

Every site of ``demo/web/sites.yaml`` is served by its own real HTTP server
bound to the site's own address (127.0.0.21 .. 127.0.0.40), from the static
files in ``demo/web/<slug>/``. The crawler tests and ``make demo`` use it:

    from demo.webserver import DemoWeb
    with DemoWeb(port=0) as web:              # port 0: each site gets a free port
        web.base_url("harbourline-bank")      # 'http://127.0.0.21:40123/'
        web.write_companies_csv(tmp_path / "companies.csv")
        ... crawl ...
        web.requests                          # [(host, path, status), ...]
        web.set_generation(2)                 # the changing policy changes

Files under ``<slug>/_gen2/`` overlay the site in generation 2. Paths whose
segments start with ``_`` or ``.`` are never served. Redirects come from
sites.yaml; robots.txt and sitemap.xml are ordinary files of the site.

Switching generation of a running CLI server: ``POST /__demo/generation/2``
to any site (loopback clients only); ``GET /__demo/generation`` tells the
current one. Control requests are not recorded in ``requests``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import ipaddress
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import yaml

WEB_ROOT = Path(__file__).resolve().parent / "web"
SITES_FILE = WEB_ROOT / "sites.yaml"
DEFAULT_PORT = 8631
GENERATIONS = (1, 2)
CONTROL_PREFIX = "/__demo/"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".pdf": "application/pdf",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
# Files in which "{{BASE_URL}}" is replaced by the site's address (sitemaps need absolute URLs; ports vary).
TEMPLATED = {".html", ".htm", ".xml", ".txt"}
# Pages change on these dates, so Last-Modified differs between generations.
LAST_MODIFIED = {1: "Wed, 15 Jan 2025 09:00:00 GMT", 2: "Mon, 02 Mar 2026 09:00:00 GMT"}
NOT_FOUND_PAGE = (
    "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Page not found</title></head>"
    "<body><h1>Page not found</h1><p>The page you asked for does not exist. "
    "<a href='/'>Go to the home page</a>.</p></body></html>"
)


class Request(NamedTuple):
    """One request served: the site address, the path as requested (with query) and the status sent."""

    host: str
    path: str
    status: int


@dataclass
class Site:
    """One site of sites.yaml with defaults filled in."""

    slug: str
    name: str
    host: str
    industry: str
    country: str
    peer_group: str = ""
    homepage: str = "/"
    redirects: dict[str, str] = field(default_factory=dict)
    redirect_status: int = 301
    robots_disallow: list[str] = field(default_factory=list)
    never_request: list[str] = field(default_factory=list)
    sitemap: bool = False
    csv_policy_url: bool = False
    template_family: str = ""
    policies: list[dict] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    notes: str = ""

    @property
    def directory(self) -> Path:
        return WEB_ROOT / self.slug

    def policies_in(self, generation: int) -> list[dict]:
        return [p for p in self.policies if generation in p.get("generation", [1, 2])]


def load_sites(path: Path = SITES_FILE) -> dict[str, Site]:
    """Parse sites.yaml into Site objects keyed by slug, checking hosts are unique loopback addresses."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    sites: dict[str, Site] = {}
    hosts: set[str] = set()
    known = set(Site.__dataclass_fields__)
    for entry in data["sites"]:
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"{path}: site {entry.get('slug')!r} has unknown keys {sorted(unknown)}")
        fields: dict[str, Any] = {k: ("" if v is None and k in ("peer_group", "template_family", "notes") else v)
                                  for k, v in entry.items()}
        site = Site(**fields)
        if not ipaddress.ip_address(site.host).is_loopback:
            raise ValueError(f"{path}: site {site.slug} host {site.host} is not a loopback address")
        if site.host in hosts or site.slug in sites:
            raise ValueError(f"{path}: duplicate host or slug for {site.slug}")
        hosts.add(site.host)
        sites[site.slug] = site
    return sites


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, site: Site, web: "DemoWeb"):
        self.site = site
        self.web = web
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _SiteServer
    def version_string(self) -> str:
        return "DemoWeb/1.0"

    def log_message(self, format, *args):  # noqa: A002 - silence stderr logging; requests are recorded instead
        pass

    def do_GET(self):
        self._respond(send_body=True)

    def do_HEAD(self):
        self._respond(send_body=False)

    def do_POST(self):
        path = urlsplit(self.path).path
        if path.startswith(CONTROL_PREFIX + "generation/") and self._from_loopback():
            try:
                generation = int(path.rsplit("/", 1)[1])
                self.server.web.set_generation(generation)
            except ValueError as exc:
                return self._send(400, str(exc).encode(), "text/plain; charset=utf-8", True)
            return self._send(200, f"generation {generation}\n".encode(), "text/plain; charset=utf-8", True)
        self._record(405)
        self._send(405, b"Method not allowed\n", "text/plain; charset=utf-8", True)

    def _from_loopback(self) -> bool:
        return ipaddress.ip_address(self.client_address[0]).is_loopback

    def _respond(self, send_body: bool):
        site, web = self.server.site, self.server.web
        path = unquote(urlsplit(self.path).path) or "/"
        if path == CONTROL_PREFIX + "generation" and self._from_loopback():
            return self._send(200, f"{web.generation}\n".encode(), "text/plain; charset=utf-8", send_body)
        if path in site.redirects:
            target = site.redirects[path]
            self._record(site.redirect_status)
            return self._redirect(site.redirect_status, target)
        resolved = web.resolve(site, path)
        if isinstance(resolved, str):  # a directory asked for without its trailing slash
            self._record(301)
            return self._redirect(301, resolved)
        if resolved is None:
            self._record(404)
            return self._send(404, NOT_FOUND_PAGE.encode(), CONTENT_TYPES[".html"], send_body)
        body = resolved.read_bytes()
        if resolved.suffix.lower() in TEMPLATED:
            body = body.replace(b"{{BASE_URL}}", web.base_url(site.slug).rstrip("/").encode())
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self._record(304)
            return self._send(304, b"", None, False, etag=etag)
        self._record(200)
        content_type = CONTENT_TYPES.get(resolved.suffix.lower(), "application/octet-stream")
        generation = 2 if "_gen2" in resolved.relative_to(site.directory).parts else 1
        self._send(200, body, content_type, send_body, etag=etag, last_modified_generation=generation)

    def _record(self, status: int):
        self.server.web._record(Request(self.server.site.host, self.path, status))

    def _redirect(self, status: int, target: str):
        location = target if "://" in target else self.server.web.base_url(self.server.site.slug).rstrip("/") + target
        body = f"<html><body>Moved to <a href='{location}'>{location}</a></body></html>".encode()
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Type", CONTENT_TYPES[".html"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send(self, status: int, body: bytes, content_type: str | None, send_body: bool, etag: str | None = None,
              last_modified_generation: int = 1):
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", LAST_MODIFIED[last_modified_generation])
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)


class DemoWeb:
    """All demo sites (or a subset), each on its own loopback address, served by real HTTP servers.

    port=0 gives every site a free port of its own; a fixed port (e.g. 8631) is used on every site's address.
    """

    def __init__(self, port: int = 0, generation: int = 1, sites: list[str] | None = None, sites_file: Path = SITES_FILE):
        all_sites = load_sites(Path(sites_file))
        unknown = [s for s in (sites or []) if s not in all_sites]
        if unknown:
            raise ValueError(f"unknown demo site(s): {', '.join(unknown)}")
        self.sites: dict[str, Site] = {s: all_sites[s] for s in (sites or all_sites)}
        self.port = port
        self._check_generation(generation)
        self.generation = generation
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._servers: dict[str, _SiteServer] = {}
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------
    def start(self) -> "DemoWeb":
        try:
            for slug, site in self.sites.items():
                server = _SiteServer((site.host, self.port), site, self)
                self._servers[slug] = server
                thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                          name=f"demoweb-{slug}", daemon=True)
                thread.start()
                self._threads.append(thread)
        except OSError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> "DemoWeb":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------
    def base_url(self, slug: str) -> str:
        site = self.sites[slug]
        server = self._servers.get(slug)
        if server is None:
            raise RuntimeError(f"site {slug} is not being served (call start() first)")
        return f"http://{site.host}:{server.server_address[1]}/"

    def url(self, slug: str, path: str = "/") -> str:
        return self.base_url(slug).rstrip("/") + "/" + path.lstrip("/")

    def homepage_url(self, slug: str) -> str:
        return self.url(slug, self.sites[slug].homepage)

    def slug_for_host(self, host: str) -> str:
        return next(slug for slug, site in self.sites.items() if site.host == host)

    # -- generations -----------------------------------------------------
    @staticmethod
    def _check_generation(generation: int) -> None:
        if generation not in GENERATIONS:
            raise ValueError(f"generation must be one of {GENERATIONS}, not {generation!r}")

    def set_generation(self, generation: int) -> None:
        self._check_generation(generation)
        self.generation = generation

    def resolve(self, site: Site, path: str) -> Path | str | None:
        """The file serving `path` in the current generation, a redirect target for a bare directory, or None."""
        parts = [p for p in path.split("/") if p]
        if any(p.startswith((".", "_")) or p == ".." for p in parts):
            return None
        roots = [site.directory / "_gen2", site.directory] if self.generation >= 2 else [site.directory]
        for root in roots:
            candidate = root.joinpath(*parts)
            if candidate.is_dir():
                if not path.endswith("/"):
                    return path + "/"
                candidate = candidate / "index.html"
            if candidate.is_file():
                return candidate
        return None

    # -- request log -----------------------------------------------------
    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def requests_for(self, slug: str) -> list[Request]:
        host = self.sites[slug].host
        with self._lock:
            return [r for r in self.requests if r.host == host]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- expectations for tests -----------------------------------------
    def expected(self, slug: str | None = None, generation: int | None = None) -> list[dict]:
        """Policies published in `generation` (default: current), each with slug, absolute url and expectations."""
        generation = generation or self.generation
        out = []
        for s, site in self.sites.items():
            if slug not in (None, s):
                continue
            for policy in site.policies_in(generation):
                item = dict(policy, slug=s)
                if s in self._servers:
                    item["url"] = self.url(s, policy["path"])
                out.append(item)
        return out

    def never_requested_urls(self) -> list[str]:
        return [self.url(s, p) for s, site in self.sites.items() for p in site.never_request]

    # -- company list ------------------------------------------------------
    def companies(self) -> list[dict]:
        rows = []
        for slug, site in self.sites.items():
            policy_url = ""
            if site.csv_policy_url and site.policies:
                policy_url = self.url(slug, site.policies[0]["path"])
            rows.append({
                "name": site.name,
                "homepage": self.homepage_url(slug),
                "policy_url": policy_url,
                "industry": site.industry,
                "country": site.country,
                "peer_group": site.peer_group,
            })
        return rows

    def write_companies_csv(self, path: str | Path) -> Path:
        """Write the served sites as a company list for `policycorpus companies import`."""
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["name", "homepage", "policy_url", "industry", "country", "peer_group"])
            writer.writeheader()
            writer.writerows(self.companies())
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.webserver",
        description="Serve the demo companies' web sites on 127.0.0.21-40 until interrupted.",
        epilog="Example: python -m demo.webserver --port 8631 --csv out/demo-companies.csv\n"
               "Switch generation while running: curl -X POST http://127.0.0.21:8631/__demo/generation/2",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on every site address (default {DEFAULT_PORT})")
    parser.add_argument("--generation", type=int, default=1, choices=GENERATIONS, help="which generation of the changing policy to serve")
    parser.add_argument("--csv", help="also write the company list CSV to this file")
    parser.add_argument("--sites", help="comma-separated slugs to serve (default: all)")
    args = parser.parse_args(argv)
    web = DemoWeb(port=args.port, generation=args.generation, sites=args.sites.split(",") if args.sites else None)
    try:
        web.start()
    except OSError as exc:
        print(f"error: cannot bind the demo sites on port {args.port}: {exc}", file=sys.stderr)
        return 1
    if args.csv:
        web.write_companies_csv(args.csv)
        print(f"Wrote company list {args.csv}", file=sys.stderr)
    for slug in web.sites:
        print(f"{slug}\t{web.homepage_url(slug)}")
    first = next(iter(web.sites))
    print(f"Serving {len(web.sites)} sites, generation {web.generation}. "
          f"Switch: curl -X POST {web.url(first, CONTROL_PREFIX + 'generation/2')}", file=sys.stderr)
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the servers cleanly on kill
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        web.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
