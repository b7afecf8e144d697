"""Test archives: dated captures of three policies, served by a real pywb or by an Internet-Archive-style server.

The texts are written here (no real policy text). Each policy has five dated 200 captures: v1, the same v1
again (identical bytes, an unchanged re-capture), v2, v3, and v3 again wrapped in the Wayback toolbar's markup
(a capture with the archive's markup: same text once the markup is dropped). Beside them: a 404 capture and,
for one policy, a 301 capture (the page moved away for a while). Expected: three distinct archived texts each.
"""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

from demo.archive import ArchivedPage, InternetArchiveServer

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


Record = ArchivedPage


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


InternetArchiveLike = InternetArchiveServer  # answers exactly as the Internet Archive documents


def wait_for(predicate, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


CRAWLED_AT = "2026-11-30T09:00:00+00:00"


def make_corpus(path) -> str:
    """A corpus holding the crawled (current) version of each archived test policy."""
    from policycorpus.db import open_db
    from policycorpus.extract import extract
    from policycorpus.store import Fetched, save_document

    db = open_db(path)
    for url, org in POLICIES.items():
        company = db["companies"].insert({"name": org, "slug": org.lower()}).last_pk
        body = crawl_text_page(org)
        ex = extract(body, url, "text/html")
        save_document(db, company, Fetched(url=url, raw=body, content_type="text/html", blocks=ex.blocks,
                                           title=ex.title, http_status=200, extractor=ex.extractor,
                                           fetched_at=CRAWLED_AT))
    db.conn.close()
    return str(path)
