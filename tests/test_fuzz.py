"""Fuzzing with hypothesis: extraction, segmentation and the spider's link extraction on random and
mutated HTML and PDF bytes (seeds: the demo web's real pages and PDFs). No exception may escape.

Bounded: a fixed number of examples per property, no deadline, derandomized so CI runs are
reproducible (the whole module stays well under a minute). POLICYCORPUS_FUZZ_EXAMPLES=5000
POLICYCORPUS_FUZZ_RANDOM=1 runs a longer, fresh campaign by hand.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrapy.http import HtmlResponse

from crawler.spider import page_links
from policycorpus.extract import extract
from policycorpus.extract.html import extract_html
from policycorpus.extract.pdf import extract_pdf
from policycorpus.structure import Block, join_blocks
from taxonomy.segment import segment_blocks

WEB = Path(__file__).resolve().parents[1] / "demo" / "web"
EXAMPLES = int(os.environ.get("POLICYCORPUS_FUZZ_EXAMPLES", "250"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("POLICYCORPUS_FUZZ_RANDOM"),
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@lru_cache(maxsize=1)
def seeds() -> dict[str, list[bytes]]:
    html = sorted(WEB.rglob("*.html"))
    pdf = sorted(WEB.rglob("*.pdf"))
    assert html and pdf, "the demo web must have HTML pages and PDFs to mutate"
    # every 7th page keeps the corpus varied but small
    return {"html": [p.read_bytes() for p in html[::7]], "pdf": [p.read_bytes() for p in pdf]}


def mutate(data: bytes, ops: list[tuple[int, int, int, bytes]]) -> bytes:
    """Apply (kind, position, length, bytes) mutations: flip, delete, insert, duplicate, truncate."""
    buf = bytearray(data)
    for kind, pos, length, extra in ops:
        if not buf:
            buf.extend(extra)
            continue
        pos %= len(buf)
        if kind == 0:
            buf[pos] ^= (length % 255) + 1
        elif kind == 1:
            del buf[pos:pos + length]
        elif kind == 2:
            buf[pos:pos] = extra
        elif kind == 3:
            buf[pos:pos] = buf[pos:pos + length] * 3
        else:
            del buf[pos:]
    return bytes(buf)


MARKUP = st.sampled_from([b"<", b">", b"</", b"<div>", b"</p>", b"<!--", b"-->", b"<![CDATA[", b"&#x0;", b"&",
                          b"<script>", b"\x00", b"\xff\xfe", b"<meta charset='utf-16'>", b"<table><tr><td>",
                          b"<h1>", b"<li>", b"<a href='javascript:x'>", b"<a href='//[::1'>", b"%PDF-", b"obj",
                          b"endobj", b"stream\n", b"endstream", b"/Encrypt", b"xref", b"trailer", b"<<", b">>"])
OPS = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10**6), st.integers(1, 4000),
                         st.one_of(MARKUP, st.binary(max_size=64))), min_size=1, max_size=8)


def mutated(kind: str):
    return st.tuples(st.integers(0, 10**6), OPS).map(lambda t: mutate(seeds()[kind][t[0] % len(seeds()[kind])], t[1]))


def check_extracted(result) -> None:
    assert isinstance(result.blocks, list)
    text, blocks = join_blocks(result.blocks)
    for block in blocks:
        assert text[block.start:block.end] == block.text
    segment_blocks(blocks, text)  # segmentation of whatever came out must not raise either


@FUZZ
@given(st.binary(max_size=4096), st.sampled_from(["text/html", "text/html; charset=utf-16", "", "application/pdf",
                                                  "text/plain", "text/html; charset=bogus"]))
def test_extract_random_bytes(body, content_type):
    check_extracted(extract(body, "http://fuzz.example/x", content_type))


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
@FUZZ
@given(mutated("html"))
def test_extract_html_mutated(body):
    check_extracted(extract_html(body, "http://fuzz.example/page.html", "text/html"))


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
@FUZZ
@given(mutated("pdf"))
def test_extract_pdf_mutated(body):
    check_extracted(extract_pdf(body))


@FUZZ
@given(st.binary(max_size=2048).map(lambda b: b"%PDF-1.4\n" + b))
def test_extract_pdf_random(body):
    check_extracted(extract_pdf(body))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["heading", "paragraph", "list_item"]), st.text(max_size=300),
                          st.integers(0, 8)), max_size=30))
def test_segment_random_blocks(items):
    blocks = [Block(kind, text, level) for kind, text, level in items]
    text, spanned = join_blocks(blocks)
    segment_blocks(spanned, text)
    segment_blocks(blocks)  # blocks without spans too


@FUZZ
@given(mutated("html"))
def test_page_links_mutated(body):
    response = HtmlResponse("http://127.0.0.21:8631/a/b.html", body=body, headers={"Content-Type": "text/html"})
    try:
        response.selector  # noqa: B018 - parsing itself may reject garbage; the spider logs that as parse_error
    except Exception:
        return
    for url, anchor in page_links(response):
        assert url.startswith(("http://", "https://")) and isinstance(anchor, str)


@settings(max_examples=max(EXAMPLES // 10, 10), deadline=None, derandomize=True, database=None)
@given(st.integers(1, 30000), st.sampled_from(["div", "ul", "li", "table", "b", "span", "blockquote", "p", "h2"]),
       st.booleans())
def test_deeply_nested_html(depth, tag, closed):
    body = ("<html><body>" + f"<{tag}>" * depth
            + "<p>social media policy: employees must not post confidential information</p>"
            + (f"</{tag}>" * depth if closed else "") + "</body></html>").encode()
    check_extracted(extract_html(body, "http://fuzz.example/deep.html", "text/html"))
    response = HtmlResponse("http://127.0.0.21:8631/deep.html", body=body, headers={"Content-Type": "text/html"})
    page_links(response)


def test_page_links_skips_unparseable_hrefs():
    """Found by fuzzing: one href with an invalid IPv6 host or port used to raise for the whole page."""
    body = (b"<html><body><a href='//[::1'>bad</a><a href='http://x.example:99999/'>port</a>"
            b"<a href='http://[fe80::1'>bad</a><a href='/policy.html'>Social media policy</a></body></html>")
    response = HtmlResponse("http://127.0.0.21:8631/a/b.html", body=body, headers={"Content-Type": "text/html"})
    assert page_links(response) == [("http://127.0.0.21:8631/policy.html", "Social media policy")]
