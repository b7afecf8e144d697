"""Bounded extraction: pathological documents end fast with a reason, in a call, a crawl and an import.

The samples are made here: a small PDF whose pages hold hundreds of thousands of text operators,
a page with one element of 200,000 attributes, a Markdown list nested thousands of levels deep
(9 MB), and plain text of millions of lines. Before the bounds these took 80 s to over 400 s.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from policycorpus.db import open_db
from policycorpus.extract import extract, extract_bounded
from policycorpus.extract.markup import MAX_LINES, MAX_LIST_DEPTH
from policycorpus.extract.pdf import MAX_PAGE_TOKENS

from commandline import policycorpus
from faultweb import FAULT_PATH, POLICY_PATH, TEXT_HTML, policy_html

LIMIT_S = 10.0  # the bound: each sample handled in under 10 s of wall time

# ---------------------------------------------------------------------------- samples


def operator_pdf(pages: int = 20, operators: int = 200_000, line: bytes = b"(a) Tj") -> bytes:
    """A valid PDF whose every page shows `operators` tiny strings; each page its own compressed stream."""
    objects = [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    pages_id = 2 + 2 * pages
    kids = []
    for page in range(pages):
        ops = b"BT /F1 11 Tf 14 TL 72 760 Td\n" + b"\n".join([line] * operators) + b"\n(%d) Tj ET" % page
        stream = zlib.compress(ops, 9)
        objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream")
        objects.append(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 1 0 R >> >> >>" % (pages_id, len(objects)))
        kids.append(b"%d 0 R" % len(objects))
    objects.append(b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % pages)
    objects.append(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, len(objects), xref)
    return bytes(out)


def attribute_html(attributes: int = 200_000) -> bytes:
    attrs = " ".join(f'data-a{i}="x"' for i in range(attributes))
    return (f"<html><head><title>Social media policy</title></head><body><div {attrs}>"
            "<p>Employees must follow the social media policy.</p></div></body></html>").encode()


def nested_markdown(size: int = 9_000_000) -> bytes:
    lines, depth, total = [], 0, 0
    while total < size:
        line = "  " * depth + f"- rule {depth}: employees must not post client names on social media\n"
        lines.append(line)
        total += len(line)
        depth += 1
    return "".join(lines).encode()


def many_lines_text(size: int = 9_000_000) -> bytes:
    line = b"Staff must be careful online.\n"
    return line * (size // len(line))


def one_paragraph_text(size: int = 9_000_000) -> bytes:
    line = b"employees must follow the social media policy at all times when posting online\n"
    return line * (size // len(line))


def timed(function, *args, **kwargs):
    started = time.monotonic()
    result = function(*args, **kwargs)
    return result, time.monotonic() - started


@pytest.fixture(scope="module", autouse=True)
def warm():
    extract(b"<html><body><p>warm up</p></body></html>", "http://x.test/", "text/html")  # imports


# ---------------------------------------------------------------------------- the extractors' own bounds


def test_pdf_with_a_flood_of_text_operators_is_bounded():
    body = operator_pdf()
    assert len(body) < 100_000  # small on the wire, 4 million operators inside
    result, elapsed = timed(extract, body, "http://x.test/policy.pdf", "application/pdf")
    assert elapsed < LIMIT_S
    assert result.bounded == "bounded"
    assert any(f"over the {MAX_PAGE_TOKENS} token limit" in w for w in result.warnings), result.warnings


def test_pdf_over_the_document_budget_keeps_its_first_pages():
    body = operator_pdf(pages=8, operators=2_000, line=b"(Staff must be careful online.)" + b" " * 20 + b"Tj T*")
    result, elapsed = timed(extract, body)
    assert elapsed < LIMIT_S
    assert result.bounded == "bounded" and result.blocks
    assert any("pages read, the document is over" in w for w in result.warnings), result.warnings


def test_page_with_200000_attributes_is_bounded():
    result, elapsed = timed(extract, attribute_html(), "http://x.test/page", "text/html")
    assert elapsed < LIMIT_S
    assert result.bounded == "bounded" and not result.blocks
    assert "attributes is over the 1000 attribute limit" in result.warning


def test_attribute_scan_reads_quoted_values_whole():
    # '>' and '<' inside quoted values do not end the tag for libxml2, so they must not for the scan
    attrs = " ".join(f'data-a{i}="{"<>" if i % 100 == 0 else "x"}"' for i in range(5_000))
    page = f"<html><body><div {attrs}><p>Employees must be careful.</p></div></body></html>".encode()
    result = extract(page, "http://x.test/page", "text/html")
    assert result.bounded == "bounded" and "about 5000 attributes" in result.warning


def test_ordinary_attributes_are_not_bounded():
    attrs = " ".join(f'data-a{i}="x"' for i in range(300))
    page = (f"<html><body><main {attrs}><h1>Social media policy</h1>"
            + "<p>Employees must not post client names on social media.</p>" * 400 + "</main></body></html>").encode()
    result = extract(page, "http://x.test/page", "text/html")
    assert result.bounded is None and result.blocks


def test_deeply_nested_markdown_list_is_bounded():
    result, elapsed = timed(extract, nested_markdown(), fmt="md")
    assert elapsed < LIMIT_S
    assert len(result.blocks) > 1000 and max(b.level for b in result.blocks) == MAX_LIST_DEPTH
    assert result.bounded == "bounded" and "nesting" in result.warning


def test_text_of_millions_of_lines_is_bounded():
    result, elapsed = timed(extract, many_lines_text(), fmt="txt")
    assert elapsed < LIMIT_S
    assert result.bounded == "bounded" and f"only the first {MAX_LINES}" in result.warning


def test_one_huge_paragraph_is_read_whole_in_linear_time():
    body = one_paragraph_text()
    result, elapsed = timed(extract, body, fmt="txt")
    assert elapsed < LIMIT_S
    assert result.bounded is None and len(result.blocks) == 1
    assert len(result.blocks[0].text) == len(body) - 1  # lines joined by spaces, nothing lost


# ---------------------------------------------------------------------------- the time limit


def test_small_documents_are_extracted_here_and_pdfs_never():
    from policycorpus.extract import bounded

    bounded.shutdown_worker()
    page = policy_html("Acme", "SM-1").encode()
    assert len(page) < bounded.INLINE_BYTES
    assert extract_bounded(page, "http://acme.test/policy", TEXT_HTML).blocks
    assert bounded._pool is None  # no worker was needed
    small_pdf = operator_pdf(pages=1, operators=10)
    assert len(small_pdf) < bounded.INLINE_BYTES
    assert extract_bounded(small_pdf).blocks and bounded._pool is not None


def test_worker_gives_the_same_result_as_extracting_here():
    page = policy_html("Acme", "SM-1").encode()
    inline = extract(page, "http://acme.test/policy", TEXT_HTML)
    bounded = extract_bounded(page, "http://acme.test/policy", TEXT_HTML, timeout=LIMIT_S, inline_below=0)
    assert bounded == inline and inline.blocks


def test_overrunning_document_times_out_and_the_next_one_still_works():
    # within every work bound, but more than a quarter second of work
    slow, elapsed = timed(extract_bounded, one_paragraph_text(), fmt="txt", timeout=0.25)
    assert slow.bounded == "timeout" and not slow.blocks
    assert slow.warnings == ["extraction timed out after 0.25 s"]
    assert elapsed < 3
    page = policy_html("Acme", "SM-1").encode()
    after = extract_bounded(page, "http://acme.test/policy", TEXT_HTML, timeout=LIMIT_S, inline_below=0)
    assert after.blocks and after.bounded is None


def test_a_worker_that_died_is_replaced():
    from policycorpus.extract.bounded import worker_pool

    page = policy_html("Acme", "SM-1").encode()
    assert extract_bounded(page, "http://acme.test/policy", TEXT_HTML, inline_below=0).blocks
    for worker in worker_pool().workers:
        if worker.process is not None:
            worker.process.kill()
            worker.process.wait()
    assert extract_bounded(page, "http://acme.test/policy", TEXT_HTML, inline_below=0).blocks


def test_without_a_worker_extraction_still_happens_here(monkeypatch):
    from policycorpus.extract import bounded

    bounded.shutdown_worker()
    monkeypatch.setattr(bounded, "_BOOT", "raise SystemExit(3)")  # a worker that cannot start
    try:
        page = policy_html("Acme", "SM-1").encode()
        result = extract_bounded(page, "http://acme.test/policy", TEXT_HTML, inline_below=0)
        assert result == extract(page, "http://acme.test/policy", TEXT_HTML) and result.blocks
    finally:
        bounded.shutdown_worker()


def test_concurrent_callers_each_get_their_own_result():
    pages = {f"Company {i}": policy_html(f"Company {i}", f"SM-{i}").encode() for i in range(6)}
    results: dict[str, str] = {}

    def run(name, body):
        results[name] = extract_bounded(body, f"http://{name}.test/", TEXT_HTML, inline_below=0).title

    threads = [threading.Thread(target=run, args=item) for item in pages.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {name: f"{name} social media policy" for name in pages}


# ---------------------------------------------------------------------------- a crawl and an import


class _Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, name: str, extra: tuple[str, str, bytes] | None):
        self.name, self.extra = name, extra
        super().__init__((host, 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Site

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        site = self.server
        links = f'<li><a href="{POLICY_PATH}">Social media policy</a></li>'
        if site.extra:
            links += f'<li><a href="{site.extra[0]}">Social media guidelines archive</a></li>'
        pages = {
            "/robots.txt": ("text/plain", b"User-agent: *\nAllow: /\n"),
            "/": (TEXT_HTML, f"<html><head><title>{site.name}</title></head><body><h1>{site.name}</h1>"
                             f"<ul>{links}</ul></body></html>".encode()),
            POLICY_PATH: (TEXT_HTML, policy_html(site.name, site.name[:3].upper()).encode()),
        }
        if site.extra:
            pages[site.extra[0]] = site.extra[1:]
        content_type, body = pages.get(self.path, (TEXT_HTML, b"<html><body>Not found</body></html>"))
        self.send_response(200 if self.path in pages else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def slow_pdf() -> bytes:
    """Within every work bound (13 pages of 58,000 tokens), but seconds of pypdf work in all."""
    return operator_pdf(pages=13, operators=29_000, line=b"(a)Tj")


@pytest.mark.slow
def test_crawl_goes_on_past_pathological_documents(tmp_path):
    extras = [None, None, None, None,
              (FAULT_PATH + ".pdf", "application/pdf", operator_pdf()),
              (FAULT_PATH, TEXT_HTML, attribute_html()),
              (FAULT_PATH + "-slow.pdf", "application/pdf", slow_pdf())]
    sites = [_Site(f"127.0.0.{230 + i}", f"Site{i} Works", extra) for i, extra in enumerate(extras)]
    for site in sites:
        threading.Thread(target=site.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    try:
        companies = tmp_path / "companies.csv"
        companies.write_text("name,homepage\n" + "".join(
            f"{s.name},http://{s.server_address[0]}:{s.server_address[1]}/\n" for s in sites), encoding="utf-8")
        db_path = str(tmp_path / "corpus.db")
        policycorpus("companies", "import", companies, "--db", db_path)
        hosts = [arg for s in sites for arg in ("--allow-host", s.server_address[0])]
        started = time.monotonic()
        result = policycorpus("crawl", *hosts, "--extract-timeout", "1", "--no-polite", "-q", "--db", db_path,
                              check=False)
        elapsed = time.monotonic() - started
    finally:
        for site in sites:
            site.shutdown()
            site.server_close()
    assert result.returncode == 0, result.stdout + result.stderr
    db = open_db(db_path)
    assert [r["status"] for r in db["crawls"].rows] == ["finished"]
    assert json.loads(next(db["crawls"].rows)["settings"])["extract_timeout"] == 1
    stored = {r["url"] for r in db["documents"].rows}
    assert stored == {f"http://{s.server_address[0]}:{s.server_address[1]}{POLICY_PATH}" for s in sites}
    log = {(r["url"].rsplit("/", 1)[1], r["outcome"]): r["reason"] for r in db["crawl_log"].rows
           if r["outcome"].startswith("extract_")}
    archive = FAULT_PATH.rsplit("/", 1)[1]
    assert "token limit" in log[(archive + ".pdf", "extract_bounded")]
    assert "attribute limit" in log[(archive, "extract_bounded")]
    assert log[(archive + "-slow.pdf", "extract_timeout")] == "pdf: extraction timed out after 1 s"
    assert elapsed < 60, f"crawl took {elapsed:.0f} s"


@pytest.mark.slow
def test_import_reports_files_over_the_bound_and_imports_the_rest(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "policy.md").write_text("# Social media policy\n\nEmployees must not post client names.\n",
                                    encoding="utf-8")
    (docs / "nested.md").write_bytes(nested_markdown(2_000_000))
    (docs / "huge.txt").write_bytes(one_paragraph_text())
    db_path = str(tmp_path / "corpus.db")
    result = policycorpus("import-docs", docs, "--company", "Acme", "--extract-timeout", "0.5", "--db", db_path)
    assert f"Skipped {docs / 'huge.txt'} (extraction timed out after 0.5 s)" in result.stderr
    assert f"Cut short {docs / 'nested.md'} (bounded: list nesting" in result.stderr
    assert "Imported 2 file(s)" in result.stdout and "1 skipped" in result.stdout
    urls = {r["url"].rsplit("/", 1)[1] for r in open_db(db_path)["documents"].rows}
    assert urls == {"policy.md", "nested.md"}
