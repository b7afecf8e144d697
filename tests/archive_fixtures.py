"""Test archives: dated captures of three policies, served by a real pywb or by an Internet-Archive-style server.

The texts are written here (no real policy text). Each policy has five dated 200 captures: v1, the same v1
again (identical bytes, an unchanged re-capture), v2, v3, and v3 again wrapped in the Wayback toolbar's markup
(a capture with the archive's markup: same text once the markup is dropped). Beside them: a 404 capture and,
for one policy, a 301 capture (the page moved away for a while). Expected: three distinct archived texts each.
"""

from __future__ import annotations

import hashlib
import base64
import io
import json
import os
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

POLICIES = {
    "http://alpha.example/social-media-policy": "Alpha",
    "http://beta.example/community-guidelines": "Beta",
    "http://gamma.example/terms": "Gamma",
}
DATES = ["20190315120000", "20190920080000", "20200511093000", "20210602140000", "20220217110000"]
TOOLBAR = (b"<!-- BEGIN WAYBACK TOOLBAR INSERT --><div id='wm-ipp'>Archive toolbar: 5 captures, "
           b"help, about this capture</div><script src='//archive.org/static/js/bundle-playback.js'></script>"
           b"<!-- END WAYBACK TOOLBAR INSERT -->")

VERSIONS = {
    1: ["Employees may post about the company on personal accounts.",
        "Do not share confidential information about customers or colleagues.",
        "Speak for yourself and never on behalf of the company unless authorised."],
    2: ["Employees may post about the company on personal accounts.",
        "Do not share confidential or proprietary information about customers, partners or colleagues.",
        "Speak for yourself and never on behalf of the company unless authorised.",
        "Disclose your employment when you endorse our products online."],
    3: ["Employees may post about the company on personal accounts.",
        "Do not share confidential or proprietary information about customers, partners or colleagues.",
        "Disclose your employment when you endorse our products online.",
        "Label any image or text you made with generative AI tools before you publish it."],
}


def page(org: str, version: int) -> bytes:
    paras = "".join(f"<p>{org}: {s}</p>"
                    for s in VERSIONS[version])
    return (f"<!DOCTYPE html><html><head><title>{org} social media policy</title></head><body>"
            f"<nav><a href='/'>Home</a></nav><main><h1>{org} social media policy</h1>{paras}</main>"
            f"<footer>Copyright {org}</footer></body></html>").encode()


def crawl_text_page(org: str) -> bytes:
    """What the crawl sees today: version 3 for Alpha, a newer version 4 for the others."""
    if org == "Alpha":
        return page(org, 3)
    return page(org, 3).replace(b"</main>", f"<p>{org}: Report harassment you see online to the safety team "
                                             f"within two working days.</p></main>".encode())


@dataclass
class Record:
    url: str
    timestamp: str
    status: int
    body: bytes
    location: str | None = None

    @property
    def digest(self) -> str:
        return "sha1:" + base64.b32encode(hashlib.sha1(self.body).digest()).decode()


def records() -> list[Record]:
    out = []
    for url, org in POLICIES.items():
        bodies = [page(org, 1), page(org, 1), page(org, 2), page(org, 3),
                  page(org, 3).replace(b"<body>", b"<body>" + TOOLBAR)]
        out += [Record(url, ts, 200, body) for ts, body in zip(DATES, bodies)]
        out.append(Record(url, "20230105100000", 404, b"<html><body><h1>Not found</h1></body></html>"))
        if org == "Gamma":
            out.append(Record(url, "20200101000000", 301, b"", location="http://gamma.example/legal/terms"))
    return out


EXPECTED_ARCHIVED = {url: 3 for url in POLICIES}  # v1, v2, v3 (v3 = Alpha's crawled text)


# --------------------------------------------------------------------------- WARCs and pywb

def write_warc(path: Path, recs: list[Record]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for r in recs:
            headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(r.body)))]
            if r.location:
                headers.append(("Location", r.location))
            reason = {200: "OK", 301: "Moved Permanently", 404: "Not Found"}[r.status]
            http = StatusAndHeaders(f"{r.status} {reason}", headers, protocol="HTTP/1.1")
            t = r.timestamp
            date = f"{t[:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}Z"
            writer.write_record(writer.create_warc_record(r.url, "response", payload=io.BytesIO(r.body),
                                                          http_headers=http, warc_headers_dict={"WARC-Date": date}))


PYWB_SERVER = """
from gevent import monkey; monkey.patch_all()
from gevent.pywsgi import WSGIServer
from pywb.apps.frontendapp import FrontEndApp
srv = WSGIServer(("127.0.0.1", 0), FrontEndApp(), log=None)
srv.start()
print(srv.server_port, flush=True)
srv.serve_forever()
"""


def pywb_python() -> Path | None:
    """pywb's own virtualenv (`make pywb`): it pins redis==2.10.6, which the project's redis>=5 excludes."""
    candidates = [os.environ.get("PYWB_PYTHON"), Path(__file__).resolve().parent.parent / ".venv-pywb/bin/python"]
    for c in candidates:
        if c and Path(c).exists():
            return Path(c)
    return None


class Pywb:
    """A real pywb serving collection `policies` built from the records' WARC, on 127.0.0.1 (port 0)."""

    def __init__(self, root: Path, recs: list[Record], python: Path):
        self.root = root
        warc = root / "captures.warc.gz"
        write_warc(warc, recs)
        bin_dir = python.parent
        subprocess.run([bin_dir / "wb-manager", "init", "policies"], cwd=root, check=True, capture_output=True)
        subprocess.run([bin_dir / "wb-manager", "add", "policies", warc], cwd=root, check=True, capture_output=True)
        (root / "config.yaml").write_text("collections_root: collections\n")
        self.proc = subprocess.Popen([python, "-c", PYWB_SERVER], cwd=root, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.close()
            raise RuntimeError("pywb did not start")
        self.url = f"http://127.0.0.1:{port}/policies"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --------------------------------------------------------------------------- an Internet-Archive-style server

class InternetArchiveLike:
    """Answers exactly as the Internet Archive documents: /cdx/search/cdx (output=json: array of arrays with a
    header row; otherwise space-separated lines), raw captures at /web/<timestamp>id_/<url>. The first
    `throttle` requests get 429 with Retry-After: 1, as the Internet Archive rate-limits."""

    def __init__(self, recs: list[Record], throttle: int = 0):
        self.recs = recs
        self.throttle = throttle
        self.requests: list[str] = []
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        archive = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                archive.requests.append(self.path)
                if archive.throttle > 0:
                    archive.throttle -= 1
                    return self._send(429, b"Too Many Requests", "text/plain", {"Retry-After": "1"})
                parts = urllib.parse.urlsplit(self.path)
                if parts.path == "/cdx/search/cdx":
                    return self._cdx(urllib.parse.parse_qs(parts.query))
                if parts.path.startswith("/web/"):
                    return self._replay(self.path[len("/web/"):])
                self._send(404, b"not found", "text/plain")

            def _cdx(self, q):
                url = q.get("url", [""])[0]
                lo, hi = q.get("from", ["0"])[0], q.get("to", ["9999"])[0]
                rows = [[_surt(r.url), r.timestamp, r.url, "text/html" if r.status == 200 else "unk",
                         str(r.status), r.digest.removeprefix("sha1:"), str(len(r.body) + 300)]
                        for r in sorted(archive.recs, key=lambda r: r.timestamp)
                        if r.url == url and lo <= r.timestamp[:len(lo)] and r.timestamp[:len(hi)] <= hi]
                if q.get("output", [""])[0] == "json":
                    header = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]
                    body = json.dumps([header, *rows] if rows else []).encode()
                    return self._send(200, body, "application/json")
                self._send(200, "".join(" ".join(r) + "\n" for r in rows).encode(), "text/plain")

            def _replay(self, rest):
                ts, _, url = rest.partition("id_/")
                for r in archive.recs:
                    if r.url == url and r.timestamp == ts:
                        extra = {"Location": r.location} if r.location else {}
                        return self._send(r.status, r.body, "text/html; charset=utf-8", extra)
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
    return ",".join(reversed(parts.hostname.split("."))) + ")" + parts.path


def wait_for(predicate, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False
