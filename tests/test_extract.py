"""Extraction: real whole pages (policy text kept, site chrome dropped), own small documents, garbage."""

from __future__ import annotations

import csv
import io
import os
import re
import time
from pathlib import Path

import lxml.html
import pytest

from policycorpus.extract import Extracted, extract, extract_file
from policycorpus.extract.html import extract_html
from policycorpus.extract.pdf import extract_pdf, lines_to_blocks

from pdfmaker import make_pdf

REALCORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "realcorpus"
needs_corpus = pytest.mark.skipif(not REALCORPUS.is_dir(), reason=f"real corpus not found at {REALCORPUS}")

# Per real page, by inspection of its markup: the region holding the policy,
# and the regions that are site chrome (menus, headers, footers, sidebars).
PAGE_REGIONS = {
    "civictechwr-social-media-guidelines-page.html": (
        "//article",
        "//header | //nav | //footer",
    ),
    "csumb-social-media-guidelines.html": (
        "//div[@id='content']",
        "//div[@id='header'] | //div[@id='navbar'] | //div[@id='footer'] | //div[@id='rethink'] "
        "| //div[@id='cards'] | //div[@id='pageheader'] | //div[@id='subnavigation']",
    ),
    "hypha-coop-social-media-policy-page.html": (
        "//section[contains(@class, 'normal')]",
        "//nav | //div[@class='book-summary'] | //div[contains(@class, 'book-header')]",
    ),
    "sga-sustainable-growth-advisers-social-media-guidelines.html": (
        "//main",
        "//header | //nav | //footer",
    ),
}


def norm(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [norm(p) for p in parts if len(p.split()) >= 5]


def index_rows() -> list[dict]:
    with open(REALCORPUS / "INDEX.tsv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def chrome_strings(page: Path) -> list[str]:
    """Link and item texts of the page's chrome regions that do not also occur in its content region."""
    content_xpath, chrome_xpath = PAGE_REGIONS[page.name]
    root = lxml.html.fromstring(page.read_bytes())
    content = norm(" ".join(el.text_content() for el in root.xpath(content_xpath)))
    assert content, f"content region not found in {page.name}"
    content += " " + norm(root.findtext(".//title") or "")  # the page title may repeat in the content
    found = set()
    for region in root.xpath(chrome_xpath):
        for el in region.iter("a", "li", "p", "span", "address", "div"):
            if len(el):  # leaves only
                continue
            text = norm(el.text_content())
            if len(text) >= 8 and len(text.split()) >= 2 and text not in content:
                found.add(text)
    return sorted(found)


@needs_corpus
@pytest.mark.parametrize("name", sorted(PAGE_REGIONS))
def test_real_page_keeps_policy_and_drops_chrome(name):
    page = REALCORPUS / "pages" / name
    result = extract_html(page.read_bytes(), page.as_uri(), "text/html")
    assert result.extractor == "trafilatura"
    text = norm(result.text)
    chrome = chrome_strings(page)
    assert len(chrome) >= 3, "the page should have some navigation/footer text to test against"
    leaked = [c for c in chrome if c in text]
    assert not leaked, f"navigation/footer text leaked into {name}: {leaked[:5]}"
    # the policy text: the sentences of the page's content region are kept
    content_xpath, _ = PAGE_REGIONS[name]
    root = lxml.html.fromstring(page.read_bytes())
    wanted = sentences("\n".join(el.text_content() for el in root.xpath(content_xpath)))
    kept = sum(s in text for s in wanted)
    assert wanted and kept / len(wanted) >= 0.9, f"{kept}/{len(wanted)} content sentences kept"


@needs_corpus
@pytest.mark.parametrize("name", sorted(PAGE_REGIONS))
def test_real_page_headings_and_lists_are_typed(name):
    page = REALCORPUS / "pages" / name
    result = extract_html(page.read_bytes(), page.as_uri())
    content_xpath, _ = PAGE_REGIONS[name]
    root = lxml.html.fromstring(page.read_bytes())
    region = root.xpath(content_xpath)[0]
    heading_texts = {norm(b.text) for b in result.blocks if b.type == "heading"}
    page_headings = [norm(h.text_content()) for h in region.iter("h1", "h2", "h3", "h4", "h5", "h6")]
    page_headings = [h for h in page_headings if h]
    assert page_headings
    assert sum(h in heading_texts for h in page_headings) / len(page_headings) >= 0.8
    item_texts = {norm(b.text) for b in result.blocks if b.type == "list_item"}
    page_items = [norm(li.text_content()) for li in region.iter("li") if norm(li.text_content())]
    if page_items:
        assert sum(i in item_texts for i in page_items) / len(page_items) >= 0.8
    assert all(b.level >= 1 for b in result.blocks if b.type in ("heading", "list_item"))


@needs_corpus
def test_real_pages_match_their_published_source_text():
    """Where INDEX.tsv has the same organization's policy as a source file, most of its sentences are on the page."""
    rows = index_rows()
    pairs = []
    for row in rows:
        if not row["file"].startswith("pages/"):
            continue
        sources = [r for r in rows if r["organization"] == row["organization"] and r["file"].startswith("texts/")]
        pairs += [(row["file"], s["file"]) for s in sources]
    assert pairs
    for page_file, text_file in pairs:
        page = extract_html((REALCORPUS / page_file).read_bytes(), page_file)
        source = extract_file(REALCORPUS / text_file)
        wanted = sentences(source.text)
        found = norm(page.text)
        share = sum(s in found for s in wanted) / len(wanted)
        assert share >= 0.8, f"{page_file}: only {share:.0%} of the sentences of {text_file}"


@needs_corpus
def test_real_pages_are_fast():
    pages = sorted((REALCORPUS / "pages").glob("*.html")) + sorted((REALCORPUS / "negatives").glob("*.html"))
    extract_html(pages[0].read_bytes())  # warm-up: imports
    start = time.perf_counter()
    for page in pages:
        extract_html(page.read_bytes(), page.as_uri())
    per_page = (time.perf_counter() - start) / len(pages)
    assert per_page < 0.05, f"{per_page * 1000:.1f} ms per page"


@needs_corpus
def test_page_linking_only_to_a_pdf_extracts_almost_nothing():
    page = REALCORPUS / "negatives" / "city-of-madera-social-media-policy-page.html"
    result = extract_html(page.read_bytes(), page.as_uri())
    assert len(result.text.split()) < 10, result.text  # the menus are gone, only the link target remains


@needs_corpus
def test_every_real_text_file_extracts_with_structure():
    for row in index_rows():
        path = REALCORPUS / row["file"]
        if path.suffix == ".html":
            continue  # whole pages: see the page tests above
        result = extract_file(path)
        assert result.blocks, row["file"]
        raw = path.read_text(encoding="utf-8", errors="replace")
        if re.search(r"^(#{1,6}|={1,6}) |<h[1-6]|^[=~-]{4,}$", raw, re.M):
            assert any(b.type == "heading" for b in result.blocks), row["file"]
        # markup is gone: no Markdown link syntax, HTML tags or PHP code left
        assert "](" not in result.text, row["file"]
        assert not re.search(r"<(p|div|a|li|h\d)\b|<\?php", result.text), row["file"]
        assert len(result.text) > 0.3 * len(re.sub(r"<[^>]+>|\([^)]*\)", "", raw)), row["file"]


# ------------------------------------------------------------------ own small documents

OWN_PAGE = b"""<!doctype html><html lang="en-GB"><head><meta charset="utf-8">
<title>Social media policy | Example Ltd</title></head><body>
<header class="site-header"><a href="/">Example Ltd home</a>
<nav><ul><li><a href="/products">Our products and services</a></li><li><a href="/careers">Careers at Example</a></li></ul></nav></header>
<div id="cookie-banner">We use cookies to improve your experience. Accept all cookies</div>
<main><article>
<h1>Social media policy</h1>
<p>This policy applies to every employee of Example Ltd who uses social media, whether for work or privately.</p>
<h2>Personal accounts</h2>
<ul>
 <li>Make clear that the views you express are your own.
   <ul><li>Add a short disclaimer to your profile if you post about our industry.</li></ul></li>
 <li>Never share confidential information about clients.</li>
</ul>
<h3>Official accounts</h3>
<p>Only the communications team may post on behalf of Example Ltd. Ask them before creating any new account.</p>
<table><tr><th>Platform</th><th>Owner</th></tr><tr><td>Mastodon</td><td>Communications team</td></tr></table>
</article></main>
<aside><h2>Related pages</h2><p>Read our latest news about the new office opening</p></aside>
<footer><p>Copyright 2024 Example Ltd, registered in England. All rights reserved.</p></footer>
</body></html>"""


def test_own_page_blocks_and_chrome():
    result = extract_html(OWN_PAGE, "https://example.test/policies/social-media", "text/html; charset=utf-8")
    assert isinstance(result, Extracted)
    assert result.title == "Social media policy"  # the site name beside the page's h1 is dropped
    assert result.language == "en"
    kinds = [(b.type, b.level) for b in result.blocks]
    texts = [b.text for b in result.blocks]
    assert ("heading", 1) == kinds[texts.index("Social media policy")]
    assert ("heading", 2) == kinds[texts.index("Personal accounts")]
    assert ("heading", 3) == kinds[texts.index("Official accounts")]
    assert ("list_item", 1) == kinds[texts.index("Make clear that the views you express are your own.")]
    assert ("list_item", 2) == kinds[texts.index("Add a short disclaimer to your profile if you post about our industry.")]
    assert ("list_item", 1) == kinds[texts.index("Never share confidential information about clients.")]
    assert "Mastodon | Communications team" in texts
    for chrome in ("Our products and services", "Careers at Example", "Accept all cookies", "latest news", "All rights reserved"):
        assert chrome not in result.text


def test_fallback_when_trafilatura_finds_nothing():
    # a page whose only content is a short list in <main>: too little for trafilatura, kept by the fallback
    page = b"<html><body><nav><a href='/'>Home page link</a></nav><main><h2>Rules</h2><ul><li>Be kind.</li></ul></main></body></html>"
    result = extract_html(page)
    assert "Be kind." in result.text
    assert "Home page link" not in result.text


@pytest.mark.parametrize(
    "body, content_type, expected",
    [
        ("<html><body><p>Les employés doivent être prudents en ligne, même le week-end et en congé.</p></body></html>".encode("latin-1"),
         "text/html; charset=iso-8859-1", "employés doivent être"),
        ('<html><head><meta charset="windows-1252"></head><body><p>Don\u2019t post \u201cconfidential\u201d data anywhere at all, ever.</p></body></html>'.encode("cp1252"),
         None, "Don\u2019t post \u201cconfidential\u201d"),
        ("<html><body><p>Mitarbeiter dürfen keine vertraulichen Informationen über Kunden veröffentlichen.</p></body></html>".encode("utf-8"),
         "text/html; charset=bogus-charset", "dürfen keine"),
        ("<html><body><p>Mitarbeiter dürfen keine vertraulichen Informationen über Kunden veröffentlichen.</p></body></html>".encode("utf-8"),
         "text/html; charset=us-ascii", "dürfen keine"),
        ("\ufeff<html><body><p>Staff should never post customer data on social media.</p></body></html>".encode("utf-16"),
         None, "never post customer data"),
    ],
)
def test_charsets(body, content_type, expected):
    assert expected in extract_html(body, "", content_type).text


def test_size_limit():
    result = extract_html(OWN_PAGE, max_bytes=100)
    assert not result.blocks and "limit" in result.warnings[0]


# ------------------------------------------------------------------ PDF

POLICY_PAGES = [
    ["Example Ltd - People Handbook", "", "SOCIAL MEDIA POLICY", "", "1. Purpose",
     "This policy explains how employees of Example Ltd should behave when they",
     "use social media sites, blogs and forums, at work and in their own time.",
     "2. Rules", "Employees must follow these rules:",
     "\u2022 Do not disclose confidential information about clients or",
     "  suppliers on any platform.", "\u2022 Make clear that your views are your own.",
     "- Never post photographs taken inside client offices.", "", "Page 1 of 3"],
    ["Example Ltd - People Handbook", "", "3. Official Accounts",
     "Only the communications team may post on behalf of the company. Requests",
     "for new accounts must be approved by the head of communications, who keeps a",
     "register of all accounts and their admini-", "strators.", "", "Page 2 of 3"],
    ["Example Ltd - People Handbook", "", "4. Breaches",
     "Breaches of this policy may lead to disciplinary action, up to and including",
     "dismissal.", "", "Page 3 of 3"],
]


def test_pdf_rebuilds_structure_and_drops_page_furniture():
    result = extract_pdf(make_pdf(POLICY_PAGES))
    assert result.extractor == "pypdf" and not result.warnings
    blocks = [(b.type, b.text) for b in result.blocks]
    assert ("heading", "SOCIAL MEDIA POLICY") in blocks
    assert ("heading", "1. Purpose") in blocks and ("heading", "3. Official Accounts") in blocks
    assert ("paragraph", "This policy explains how employees of Example Ltd should behave when they use social media "
            "sites, blogs and forums, at work and in their own time.") in blocks
    assert ("list_item", "Do not disclose confidential information about clients or suppliers on any platform.") in blocks
    assert ("list_item", "Never post photographs taken inside client offices.") in blocks
    assert any(t.endswith("register of all accounts and their administrators.") for _, t in blocks)
    assert "People Handbook" not in result.text and "Page 1" not in result.text


def test_pdf_without_blank_lines_splits_paragraphs_at_short_final_lines():
    lines = [
        "Staff may use their own accounts to talk about their work, as long as",
        "they keep client matters private.",
        "Official accounts are run by the marketing team, which answers questions",
        "from the press and from the public.",
    ]
    blocks = lines_to_blocks(lines)
    assert [b.type for b in blocks] == ["paragraph", "paragraph"]


def _encrypted(password: str) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(POLICY_PAGES)))
    writer.encrypt(user_password=password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_encrypted_pdfs():
    locked = extract_pdf(_encrypted("secret"))
    assert not locked.blocks and "encrypted" in locked.warnings[0]
    opened = extract_pdf(_encrypted(""))  # owner password only: readable
    assert "Never post photographs taken inside client offices." in opened.text


def test_dispatch_by_content():
    pdf = make_pdf(POLICY_PAGES)
    assert extract(pdf, "https://example.test/download?id=3").extractor == "pypdf"
    assert extract(pdf, "x.html", "text/html").extractor == "pypdf"  # magic bytes win over a wrong type
    assert extract(OWN_PAGE, "https://example.test/policy").extractor == "trafilatura"


# ------------------------------------------------------------------ text formats

def test_markdown():
    doc = b"""---
title: Guidelines for staff (front matter)
tags: [a, b]
---
# Social media guidelines

Intro paragraph that wraps
onto a second line with **bold** and a [link](https://example.test).

Setext heading
--------------

- First rule
  continued here
  - Nested rule with `code`
* Second rule
1. Numbered rule

| Platform | Owner |
|----------|-------|
| Mastodon | Comms |

```
code block is skipped
```
<!-- a comment -->
"""
    result = extract(doc, fmt="md")
    got = [(b.type, b.level, b.text) for b in result.blocks]
    assert got == [
        ("heading", 1, "Social media guidelines"),
        ("paragraph", 0, "Intro paragraph that wraps onto a second line with bold and a link."),
        ("heading", 2, "Setext heading"),
        ("list_item", 1, "First rule continued here"),
        ("list_item", 2, "Nested rule with code"),
        ("list_item", 1, "Second rule"),
        ("list_item", 1, "Numbered rule"),
        ("paragraph", 0, "Platform | Owner"),
        ("paragraph", 0, "Mastodon | Comms"),
    ]
    assert result.title == "Guidelines for staff (front matter)"  # the front matter's title comes first


def test_rst():
    doc = b"""==============
Project policy
==============

Intro text with a `link <https://example.test>`_ and ``literal``.

Posting rules
-------------

- Be polite.

  - Nested point.

- Ask first.

.. code-block:: python

   print("skipped")

Access
------

Committers may request access.
"""
    got = [(b.type, b.level, b.text) for b in extract(doc, fmt="rst").blocks]
    assert got == [
        ("heading", 1, "Project policy"),
        ("paragraph", 0, "Intro text with a link and literal."),
        ("heading", 2, "Posting rules"),
        ("list_item", 1, "Be polite."),
        ("list_item", 2, "Nested point."),
        ("list_item", 1, "Ask first."),
        ("heading", 2, "Access"),
        ("paragraph", 0, "Committers may request access."),
    ]


def test_asciidoc():
    doc = b"""////
licence comment
////
= Posting guide
:navtitle: Posting

Posts go out on https://social.example.test/@proj[our account,role=resource].

== What we post

* Release news
** Patch releases too
. Numbered item

----
literal block skipped
----
"""
    got = [(b.type, b.level, b.text) for b in extract(doc, fmt="adoc").blocks]
    assert got == [
        ("heading", 1, "Posting guide"),
        ("paragraph", 0, "Posts go out on our account."),
        ("heading", 2, "What we post"),
        ("list_item", 1, "Release news"),
        ("list_item", 2, "Patch releases too"),
        ("list_item", 1, "Numbered item"),
    ]


def test_php_and_html_fragments():
    doc = b"""<?php include 'header.php'; ?>
<section><h2>Posting rules</h2><?= $intro ?>
<p>Staff must not post <a href="/x">client</a> names.</p>
<ul><li>Be kind.</li><li>Be brief.</li></ul></section>
<?php if ($x) { echo '<p>never shown</p>'; } ?>"""
    result = extract(doc, fmt="php")
    got = [(b.type, b.text) for b in result.blocks]
    assert got == [("heading", "Posting rules"), ("paragraph", "Staff must not post client names."),
                   ("list_item", "Be kind."), ("list_item", "Be brief.")]
    assert extract(b"<h3>Title</h3><p>Body text.</p>", fmt="html").blocks[1].text == "Body text."


def test_plain_text_and_paths(tmp_path):
    path = tmp_path / "policy.txt"
    path.write_text("SOCIAL MEDIA RULES\n\nStaff must be careful online.\n\n- Do not share client data.\n", encoding="utf-8")
    got = [(b.type, b.text) for b in extract_file(path).blocks]
    assert got == [("heading", "SOCIAL MEDIA RULES"), ("paragraph", "Staff must be careful online."),
                   ("list_item", "Do not share client data.")]
    missing = extract_file(tmp_path / "nope.md")
    assert not missing.blocks and "unreadable" in missing.warnings[0]


# ------------------------------------------------------------------ garbage never raises

GARBAGE = {
    "random bytes": os.urandom(20000),
    "empty": b"",
    "nul bytes": b"\x00" * 5000,
    "deeply nested divs": b"<html><body>" + b"<div>" * 50000 + b"deep text" + b"</div>" * 50000 + b"</body></html>",
    "deeply nested lists": b"<html><body>" + b"<ul><li>item " * 3000 + b"</body></html>",
    "unclosed tags": b"<html><body><p>open <b>bold <i>italic <table><tr><td>cell",
    "xml declaration": b'<?xml version="1.0" encoding="utf-8"?><html><body><p>Some policy words here.</p></body></html>',
    "truncated pdf": make_pdf(POLICY_PAGES)[:700],
    "pdf header then garbage": b"%PDF-1.7\n" + os.urandom(5000),
    "zip as pdf": b"PK\x03\x04" + os.urandom(3000),
    "binary as html": b"\x89PNG\r\n\x1a\n" + os.urandom(4000),
    "huge attribute": b"<html><body><p title='" + b"x" * 2_000_000 + b"'>text</p></body></html>",
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_never_raises(name):
    body = GARBAGE[name]
    start = time.perf_counter()
    for result in (
        extract_html(body, "https://example.test/x"),
        extract_pdf(body),
        extract(body),
        *(extract(body, fmt=fmt) for fmt in ("md", "rst", "adoc", "txt", "php", "html")),
    ):
        assert isinstance(result, Extracted)
        assert all(b.text.strip() for b in result.blocks)
    assert time.perf_counter() - start < 10


def test_binary_is_reported_not_extracted():
    result = extract_html(GARBAGE["binary as html"])
    assert not result.blocks and "binary" in result.warnings[0]
    assert not extract_pdf(GARBAGE["truncated pdf"]).blocks


def test_text_converted_from_pdf_loses_running_headers():
    pages = []
    for n in range(1, 5):
        pages.append(f"Example Ltd Handbook\n\nRule {n}: staff must keep client work confidential on every platform.\n\nExample Ltd Handbook Page {n} of 4\n")
    result = extract("\n".join(pages).encode(), fmt="md")
    texts = [b.text for b in result.blocks]
    assert texts.count("Example Ltd Handbook") == 1  # the first one stays: often the document title
    assert not any("Page" in t for t in texts)
    assert sum(t.startswith("Rule ") for t in texts) == 4


def test_pdf_numbered_clauses_are_separate_paragraphs():
    lines = [
        "5. Member information and confidentiality",
        "5.1 Employees must never disclose member information on social media. This includes",
        "confirming that a person is a member.",
        "5.2 Employees must not post confidential information of the company, including financial",
        "results that have not been released.",
    ]
    blocks = lines_to_blocks(lines)
    assert [(b.type, b.text[:4]) for b in blocks] == [("heading", "5. M"), ("paragraph", "5.1 "), ("paragraph", "5.2 ")]


def test_lists_of_platform_names_are_kept_but_share_links_are_not():
    page = b"""<html><body><main><h1>Social media policy</h1>
<p>This policy covers the following platforms used by our employees at work and at home:</p>
<ul><li>Facebook</li><li>LinkedIn</li><li>Mastodon</li></ul>
<table><tr><td>Instagram</td><td>Marketing team</td></tr></table>
<p>Employees must follow the rules below on every one of these platforms without exception.</p>
<ul class="share"><li><a href="https://facebook.example/share">Facebook</a></li></ul></main></body></html>"""
    blocks = [(b.type, b.text) for b in extract_html(page).blocks]
    assert [t for kind, t in blocks if kind == "list_item"] == ["Facebook", "LinkedIn", "Mastodon"]
    assert ("paragraph", "Instagram | Marketing team") in blocks
    assert "\u2060" not in "".join(t for _, t in blocks)


def test_headings_trafilatura_drops_are_restored_and_inline_code_stays_inline():
    # no <main>/<article>: a plain div of h1/h3/p, where trafilatura keeps the paragraphs but not the headings
    sections = "".join(
        f"<h3>Principle {name}</h3><p>Everyone who works for the bank should follow principle {name} whenever they post "
        f"about work, customers or colleagues on any social network.</p>"
        for name in ("one", "two", "three", "four")
    )
    page = (
        "<html><body><header><h2 class='logo'><a href='/'>Example Bank</a></h2><nav><a href='/a'>About us</a></nav></header>"
        "<div class='page'><h1>Our social media principles</h1>" + sections +
        "<p>Never paste a test string like <code>&lt;script&gt;alert(1)&lt;/script&gt;</code> into a public issue about a customer.</p>"
        "</div><footer><p>Example Bank plc, registered in England and Wales.</p></footer></body></html>"
    ).encode()
    blocks = [(b.type, b.level, b.text) for b in extract_html(page).blocks]
    assert blocks[0] == ("heading", 1, "Our social media principles")
    assert ("heading", 3, "Principle three") in blocks
    heading_at = blocks.index(("heading", 3, "Principle three"))
    assert blocks[heading_at + 1][2].startswith("Everyone who works for the bank should follow principle three")
    assert ("paragraph", 0, "Never paste a test string like <script>alert(1)</script> into a public issue about a customer.") in blocks
    text = " ".join(t for _, _, t in blocks)
    assert "Example Bank plc" not in text and "About us" not in text and "Example Bank" not in text.replace("Example Bank plc", "")


def test_restore_headings_only_before_kept_content():
    from policycorpus.extract.html import restore_headings
    from policycorpus.structure import Block

    walked = [Block("heading", "Menu", 2), Block("list_item", "Home", 1), Block("heading", "Rules", 1),
              Block("heading", "Scope", 2), Block("paragraph", "Applies to staff."), Block("heading", "Related", 2),
              Block("paragraph", "Other news"), Block("heading", "Breaches", 2), Block("paragraph", "Discipline follows.")]
    kept = [Block("paragraph", "Applies to staff."), Block("paragraph", "Discipline follows.")]
    got = [(b.type, b.text) for b in restore_headings(kept, walked)]
    assert got == [("heading", "Rules"), ("heading", "Scope"), ("paragraph", "Applies to staff."),
                   ("heading", "Breaches"), ("paragraph", "Discipline follows.")]


@needs_corpus
def test_gold_units_come_out_as_blocks():
    """The hand-made text units of gold/units.jsonl (one per paragraph or list item) match our blocks."""
    import json
    from collections import defaultdict

    units = defaultdict(list)
    with open(REALCORPUS / "gold" / "units.jsonl", encoding="utf-8") as fh:
        for line in fh:
            unit = json.loads(line)
            units[unit["doc"]].append(unit["text"])
    total = found = 0
    for doc, texts in units.items():
        path = next((REALCORPUS / "texts").glob(doc + ".*"))
        blocks = {norm(b.text) for b in extract_file(path).blocks}
        total += len(texts)
        found += sum(norm(t) in blocks for t in texts)
    assert total > 500
    assert found / total >= 0.95, f"{found}/{total} gold units are blocks"


def test_language_detection():
    from policycorpus.extract.metadata import detect_language as guess_language
    from policycorpus.structure import Block

    english = [Block("paragraph", "You must not share the personal data of our customers on your own social media accounts, and you should say that your views are your own.")]
    german = [Block("paragraph", "Mitarbeiter dürfen keine vertraulichen Informationen über Kunden in sozialen Medien veröffentlichen, und sie sollen sagen, dass es ihre eigene Meinung ist und nicht die der Firma.")]
    japanese = [Block("paragraph", "当アカウントは、職員が運用します。原則として利用者投稿への返信等は行いません。")]
    assert (guess_language(english), guess_language(german), guess_language(japanese)) == ("en", "de", "ja")
    assert guess_language([Block("paragraph", "Hello")]) is None
    assert guess_language([Block("paragraph", "Hello")], declared="en-GB") == "en"  # a page's lang attribute


# ------------------------------------------------------------------ fuzzing

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from([
    "<p>", "</p>", "<ul>", "</ul>", "<li>", "</li>", "<h2>", "</h2>", "<div>", "</div>", "<nav>", "<table><tr><td>",
    "<br>", "<code>", "</code>", "<?php echo 1; ?>", "<!--", "-->", "# ", "## ", "- ", "* ", "1. ", "===", "----",
    "\n", "\n\n", "  ", "Employees must not post.", "Staff", "é", "\u2022 ", "\x00", "&amp;", "&#xD800;", "]]>",
    ".. code::", "= Title", "** ", "|a|b|", "```", "---\ntitle: x\n---",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=60).map("".join))
def test_fuzzed_markup_never_raises(text):
    body = text.encode("utf-8", errors="replace")
    results = [extract_html(body), extract(body)] + [extract(body, fmt=fmt) for fmt in ("md", "rst", "adoc", "txt", "php", "html")]
    for result in results:
        assert isinstance(result, Extracted)
        for block in result.blocks:
            assert block.type in ("heading", "paragraph", "list_item") and block.text.strip()
            assert block.text == " ".join(block.text.split())


_VALID_PDF = make_pdf(POLICY_PAGES)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_VALID_PDF) - 1), st.integers(0, 255)), min_size=1, max_size=20))
def test_corrupted_pdfs_never_raise(flips):
    body = bytearray(_VALID_PDF)
    for position, value in flips:
        body[position] = value
    result = extract_pdf(bytes(body))
    assert isinstance(result, Extracted)
    assert all(b.text.strip() for b in result.blocks)


def test_text_served_over_http_is_read_as_text():
    body = b"# Posting rules\n\n- Be kind.\n- Never share client data.\n"
    md = extract(body, "https://example.test/raw/SOCIAL.md", "text/plain; charset=utf-8")
    assert [(b.type, b.text) for b in md.blocks] == [("heading", "Posting rules"), ("list_item", "Be kind."), ("list_item", "Never share client data.")]
    plain = extract(b"STAFF RULES\n\nStaff must be careful online.\n", "https://example.test/rules", "text/plain")
    assert [(b.type, b.text) for b in plain.blocks] == [("heading", "STAFF RULES"), ("paragraph", "Staff must be careful online.")]


WORDPRESS_LIKE_PAGE = """<!DOCTYPE html><html lang="en-US"><head><meta charset="UTF-8"><title>Social Media Policy &#8211; Riverbend Council</title></head>
<body class="page-template-default page sidebar-right">
<div id="page" class="site">
<a class="skip-link screen-reader-text" href="#content">Skip to content</a>
<header id="masthead" class="site-header"><div class="site-branding"><p class="site-title">Riverbend Council</p></div>
<nav id="site-navigation" class="main-navigation"><ul id="primary-menu"><li><a href="/">Home</a></li><li><a href="/services">Council services</a></li></ul></nav></header>
<div id="content" class="site-content"><div id="primary" class="content-area"><main id="main" class="site-main">
<article id="post-12" class="post-12 page type-page status-publish hentry">
<header class="entry-header"><h1 class="entry-title">Social Media Policy</h1></header>
<div class="entry-content">
<p>This policy applies to all council employees, councillors and contractors who use social media in connection with their work.</p>
<h2>Personal use</h2>
<p>You may use your personal accounts to talk about your work, but you must make clear that the views you express are your own.</p>
<ul><li>Do not disclose confidential information about residents.</li><li>Do not comment on planning applications you are involved in.</li></ul>
<h2>Official accounts</h2>
<p>Only the communications team may create accounts in the council's name.</p>
<div class="sharedaddy sd-sharing-enabled"><h3 class="sd-title">Share this:</h3><ul><li><a href="#">Twitter</a></li><li><a href="#">Facebook</a></li></ul></div>
</div></article>
<div id="comments" class="comments-area"><h2 class="comments-title">2 thoughts on &ldquo;Social Media Policy&rdquo;</h2>
<ol class="comment-list"><li class="comment"><article class="comment-body"><div class="comment-content"><p>Great policy, long overdue if you ask me honestly.</p></div></article></li></ol></div>
</main></div>
<aside id="secondary" class="widget-area"><section class="widget"><h2 class="widget-title">Recent Posts</h2><ul><li><a href="/bins">Bin collection changes this summer</a></li></ul></section></aside>
</div>
<footer id="colophon" class="site-footer"><div class="site-info">Proudly powered by WordPress</div></footer></div></body></html>
"""


def test_cms_page_drops_comments_share_widgets_and_sidebar():
    result = extract_html(WORDPRESS_LIKE_PAGE.encode(), "https://riverbend.example/social-media-policy/")
    blocks = [(b.type, b.level, b.text) for b in result.blocks]
    assert result.title == "Social Media Policy"
    assert blocks[0] == ("heading", 1, "Social Media Policy")
    assert ("heading", 2, "Official accounts") in blocks
    assert ("list_item", 1, "Do not disclose confidential information about residents.") in blocks
    assert blocks[-1] == ("paragraph", 0, "Only the communications team may create accounts in the council's name.")
    text = result.text
    for chrome in ("Skip to content", "Council services", "Share this", "Great policy", "thoughts on",
                   "Recent Posts", "Bin collection", "powered by WordPress"):
        assert chrome not in text


def test_pages_with_absurdly_many_elements_are_skipped():
    from policycorpus.extract.html import MAX_ELEMENTS

    body = ("<html><body>" + "<p>x</p>" * (MAX_ELEMENTS + 10) + "</body></html>").encode()
    result = extract_html(body, "http://127.0.0.1/huge")
    assert not result.blocks and "element limit" in result.warnings[0]
