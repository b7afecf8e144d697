"""What documents say about themselves -- titles, policy dates with their source, language -- and what the corpus
does with it: near-identical copies counted once, documents the tagger cannot read left out of coverage and
listed as not tagged. Small documents written here; tests/test_document_metadata_real.py reads the real ones."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from click.testing import CliRunner

from policycorpus.cli import cli
from policycorpus.extract import extract
from policycorpus.extract.metadata import PolicyDate, detect_language, document_title, parse_date, policy_date
from policycorpus.structure import Block

from pdfmaker import make_pdf

METADATA = Path(__file__).resolve().parents[1] / "publish" / "site" / "metadata.yml"


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def dates_of(result) -> set[tuple[str, str, str]]:
    return {(d.date, d.kind, d.source) for d in result.dates}


# ------------------------------------------------------------------ titles


def test_title_rule_front_matter_then_page_then_field_then_top_heading():
    blocks = [Block("heading", "Rules for posting", 1), Block("paragraph", "Policy title: Staff posting rules")]
    assert document_title(front={"title": "From front matter"}, page=["Page title"], blocks=blocks) == "From front matter"
    assert document_title(front={"title": "untitled-page"}, page=["Page title"], blocks=blocks) == "Page title"
    assert document_title(page=[], blocks=blocks) == "Staff posting rules"
    assert document_title(blocks=blocks[:1]) == "Rules for posting"


@pytest.mark.parametrize("headings, expected", [
    ([("Introduction", 2), ("Conduct online", 2)], None),  # only section headings: no title
    ([("1. Purpose", 1), ("2. Scope", 1)], None),  # numbered sections
    ([("Scope and purpose of the policy", 3), ("Personal use", 3)], None),
    ([("Online conduct guidelines", 2), ("1. Purpose", 2)], "Online conduct guidelines"),  # no h1: top level is 2
    ([("Note", 3), ("Volunteer social media guide", 1), ("Accounts", 2)], "Volunteer social media guide"),
    ([("📣 Speaking for the club.", 1)], "Speaking for the club"),  # decoration and a full stop trimmed
])
def test_first_top_level_heading_never_a_section_heading(headings, expected):
    blocks = [Block("heading", text, level) for text, level in headings] + [Block("paragraph", "Some text.")]
    assert document_title(blocks=blocks) == expected


def test_page_title_drops_the_site_name_beside_the_h1():
    page = b"""<html lang="en"><head><title>Blogging guidelines | Acme Widgets</title></head><body><main>
    <h1>Blogging guidelines</h1><h2>Introduction</h2><p>Staff who blog about work must say that the views are
    their own and must never share what clients tell us in confidence.</p></main></body></html>"""
    assert extract(page, "https://acme.test/blogging").title == "Blogging guidelines"
    shorter = page.replace(b"<h1>Blogging guidelines</h1>", b"<h1>Blogging</h1>")
    assert extract(shorter, "https://acme.test/blogging").title == "Blogging guidelines"  # the part starting with it
    other = page.replace(b"<h1>Blogging guidelines</h1>", b"<h1>Writing online</h1>")
    assert extract(other, "https://acme.test/blogging").title == "Blogging guidelines | Acme Widgets"  # no telling
    site = other.replace(b"<head>", b'<head><meta property="og:site_name" content="Acme Widgets">')
    assert extract(site, "https://acme.test/blogging").title == "Blogging guidelines"
    og = page.replace(b"<head>", b'<head><meta property="og:title" content="Acme blogging guidelines">')
    assert extract(og, "https://acme.test/blogging").title == "Acme blogging guidelines"


def test_markdown_front_matter_title_wins_over_a_section_heading():
    doc = b"---\ntitle: Team social media advocacy\n---\n\n## Introduction\n\nShare company news from your own accounts.\n"
    assert extract(doc, fmt="md").title == "Team social media advocacy"
    assert extract(doc.split(b"---\n\n")[1], fmt="md").title is None  # no front matter: 'Introduction' is no title


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize("text, expected", [
    ("2025-05-16T17:00:00.000Z", "2025-05-16"),
    ("2 April 2025", "2025-04-02"),
    ("April 2nd, 2025", "2025-04-02"),
    ("March 2019", "2019-03"),
    ("2021年8月31日", "2021-08-31"),
    ("31.08.2021", "2021-08-31"),
    ("Tue, 02 Apr 2024 10:00:00 GMT", "2024-04-02"),
    ("March 3", None),  # no year: no policy date
    ("1850-01-01", None),  # implausible
    ("soon", None),
])
def test_parse_date_keeps_the_precision_stated(text, expected):
    assert parse_date(text) == expected


def test_markdown_dates_from_front_matter_and_text():
    doc = b"""---
title: Volunteer posting guide
last_reviewed_at: 2024-11-02
date: 2020-01-15
exported_at: 2025-01-01
---
# Volunteer posting guide

Last updated: 3 October 2024

Volunteers must not post photos of children without written consent from a parent.

## Review

Next review date: March 2026
"""
    result = extract(doc, fmt="md")
    assert dates_of(result) == {("2024-11-02", "reviewed", "front matter"), ("2020-01-15", "published", "front matter"),
                                ("2024-10-03", "updated", "text")}  # exported_at and the next review are no dates of it
    chosen = policy_date(result.dates)
    assert (chosen.date, chosen.kind, chosen.source, chosen.evidence) == ("2024-11-02", "reviewed", "front matter",
                                                                          "last_reviewed_at")


def test_a_section_date_in_the_middle_is_not_the_documents():
    body = ["# Handbook page", "", "Intro text about posting."] + [f"Paragraph {i} about accounts and posts." for i in range(60)]
    body[30] = "_Last updated 2023-05-05, external links._"
    result = extract("\n\n".join(body).encode(), fmt="md")
    assert result.dates == []


def test_revision_history_and_labels_after_the_date():
    doc = """# Account policy

Staff must keep account passwords in the password manager.

## Revision history

| Version | Date | Change |
|---|---|---|
| 1.0 | 2022-01-10 | First version |
| 1.1 | 2023-06-30 | Platforms added |

## 改訂履歴

- 2021年4月27日策定
""".encode()
    found = dates_of(extract(doc, fmt="md"))
    assert ("2023-06-30", "updated", "text") in found and ("2021-04-27", "published", "text") in found
    assert ("2022-01-10", "updated", "text") not in found  # the latest row is the last update


def test_page_metadata_dates_meta_tags_and_json_ld():
    page = b"""<html lang="en"><head><title>Staff social media policy</title>
    <meta property="article:published_time" content="2019-02-01T09:00:00+00:00">
    <meta name="dcterms.modified" content="2022-07-14">
    <script type="application/ld+json">{"@context": "https://schema.org", "@type": "WebPage",
      "dateModified": "2023-03-09", "publisher": {"name": "Acme"}}</script>
    </head><body><main><h1>Staff social media policy</h1>
    <p>Effective date: 1 May 2020</p>
    <p>Employees must not disclose confidential information about customers on social media, and must make
    clear that personal posts are their own views.</p></main></body></html>"""
    result = extract(page, "https://acme.test/policy")
    assert dates_of(result) == {("2019-02-01", "published", "page metadata"), ("2022-07-14", "updated", "page metadata"),
                                ("2023-03-09", "updated", "page metadata"), ("2020-05-01", "effective", "text")}
    chosen = policy_date(result.dates)
    assert (chosen.date, chosen.source, chosen.evidence) == ("2023-03-09", "page metadata", "JSON-LD dateModified")


def test_pdf_metadata_dates():
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["SOCIAL MEDIA POLICY", "",
        "Employees must not post confidential client information online."]]))))
    writer.add_metadata({"/Title": "Microsoft Word - policy.docx", "/CreationDate": "D:20180305120000+01'00'",
                         "/ModDate": "D:20210611093000Z"})
    out = io.BytesIO()
    writer.write(out)
    result = extract(out.getvalue(), "https://acme.test/policy.pdf", "application/pdf")
    assert result.title == "SOCIAL MEDIA POLICY"  # the PDF's placeholder title gives way to its heading
    assert dates_of(result) == {("2018-03-05", "published", "PDF metadata"), ("2021-06-11", "updated", "PDF metadata")}


def test_the_most_trusted_source_decides_the_policy_date():
    dates = [PolicyDate("2026-01-01", "updated", "HTTP Last-Modified", "x"), PolicyDate("2021-03", "reviewed", "text", "y"),
             PolicyDate("2020-05-01", "effective", "text", "z")]
    assert policy_date(dates).date == "2021-03"
    assert policy_date(dates[:1]).source == "HTTP Last-Modified"
    assert policy_date([]) is None


# ------------------------------------------------------------------ language

JAPANESE = """# ソーシャルメディア運用方針

当協会の公式アカウントは、広報担当の職員が運用します。職員は、業務上知り得た秘密を投稿してはなりません。

- 利用者からの個別の質問には、原則として回答いたしません。
- 法令に違反する投稿や他者を誹謗中傷する投稿は、予告なく削除することがあります。
"""


def test_language_is_detected_from_the_text():
    assert extract(JAPANESE.encode(), fmt="md").language == "ja"
    assert detect_language([Block("paragraph", "Employees must not share client data on their personal accounts.")]) == "en"


# ------------------------------------------------------------------ corpus: duplicates and untaggable languages

ENGLISH = {
    "north": """# North Rowing Club social media policy

Members must not post photographs of junior members without written consent from a parent.

Only the communications officer may post on the club's official accounts.

Members should make clear that personal posts are their own views and not the club's.
""",
    "south": """# South Harriers online conduct guidelines

Volunteers must not share the personal data of members on social media.

Report abusive messages sent to the club's accounts to the welfare officer within one day.
""",
}
HTML_COPY = """<!doctype html><html lang="en"><head><title>North Rowing Club social media policy · North Rowing Club</title>
<meta property="article:modified_time" content="2024-09-01T08:00:00Z"></head><body>
<nav><a href="/">Home</a> <a href="/join">Join the club</a></nav>
<main><h1>North Rowing Club social media policy</h1>
<p>Members must not post photographs of junior members without written consent from a parent.</p>
<p>Only the communications officer may post on the club's official accounts.</p>
<p>Members should make clear that personal posts are their own views and not the club's.</p></main>
<footer>North Rowing Club, River Lane</footer></body></html>"""


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clubs")
    (folder / "north.md").write_text(ENGLISH["north"], encoding="utf-8")
    (folder / "north.html").write_text(HTML_COPY, encoding="utf-8")
    (folder / "south.md").write_text(ENGLISH["south"], encoding="utf-8")
    (folder / "east.md").write_text(JAPANESE, encoding="utf-8")
    (folder / "index.csv").write_text(
        "file,company,url\nnorth.md,North Rowing Club,https://north.example/policy.md\n"
        "north.html,North Rowing Club,https://north.example/policy.html\n"
        "south.md,South Harriers,https://south.example/policy\n"
        "east.md,East Kyudo Association,https://east.example/policy\n", encoding="utf-8")
    db_path = folder / "corpus.db"
    run("import-docs", folder, "--db", db_path, "-q")
    run("segment", "--db", db_path)
    run("tag", "--db", db_path)
    from policycorpus.db import open_db
    from publish.summary import refresh_summaries

    db = open_db(db_path)
    refresh_summaries(db, force=True)
    db.conn.close()
    return db_path


def canned(name: str) -> str:
    databases = yaml.safe_load(METADATA.read_text(encoding="utf-8"))["databases"]
    return next(iter(databases.values()))["queries"][name]["sql"]


def test_same_policy_as_markdown_and_html_counts_once(small_corpus):
    db = sqlite_utils.Database(small_corpus)
    status = {Path(r["url"]).name: r for r in db.query("select * from document_status")}
    md, html = status["policy.md"], status["policy.html"]
    # both public URLs and the same text: the one stored first is kept (import-docs reads a folder in name order)
    kept, copy = html, md
    assert (kept["counted"], copy["counted"]) == (1, 0)
    assert copy["duplicate_of"] == kept["document_id"] and copy["duplicate_similarity"] >= 0.8
    assert copy["status"] == "duplicate of North Rowing Club social media policy"
    north = db.execute("select id from companies where name = 'North Rowing Club'").fetchone()[0]
    assert db.execute("select count(distinct document_id) from current_clauses where company_id = ?",
                      [north]).fetchone()[0] == 1
    assert db.execute("select count(*) from current_clauses where company_id = ?", [north]).fetchone()[0] == 3
    assert db.execute("select count(distinct document_id) from current_cells where company_id = ?",
                      [north]).fetchone()[0] == 1
    assert db.execute("select count(*) from policy_stats where company_id = ?", [north]).fetchone()[0] == 1
    assert db.execute("select max(documents_covered) from category_coverage where company_id = ?",
                      [north]).fetchone()[0] == 1
    # the copy keeps its own page and its date: one policy, two sources
    assert html["policy_date"] == "2024-09-01" and html["policy_date_source"] == "page metadata: meta article:modified_time"


def test_a_policy_the_tagger_cannot_read_is_not_tagged_not_lacking(small_corpus):
    db = sqlite_utils.Database(small_corpus)
    east = next(db.query("select * from document_status where company = 'East Kyudo Association'"))
    assert (east["language"], east["counted"], east["status"]) == ("ja", 0, "not tagged: language ja")
    assert db.execute("select count(*) from current_segments where document_id = ? and kind = 'clause'",
                      [east["document_id"]]).fetchone()[0] > 0  # segmented and shown, just not counted
    assert db.execute("select count(*) from current_clauses where document_id = ?", [east["document_id"]]).fetchone()[0] == 0
    coverage = list(db.query(canned("coverage_by_category")))
    assert {(r["of_companies"], r["not_tagged"]) for r in coverage} == {(2, 1)}  # n = North and South only
    lacking = list(db.query(canned("companies_lacking"), {"category": "confidentiality"}))
    listed = {r["company"]: r["state"] for r in lacking}
    assert listed["East Kyudo Association"] == "not tagged: language ja"
    assert list(listed)[-1] == "East Kyudo Association"  # after the companies that really lack it


def test_compare_leaves_out_and_names_a_company_not_tagged(small_corpus, tmp_path):
    out = tmp_path / "grid.json"
    run("compare", "North Rowing Club", "South Harriers", "East Kyudo Association", "--db", small_corpus,
        "--format", "json", "-o", out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [c["name"] for c in data["companies"]] == ["North Rowing Club", "South Harriers"]
    assert data["not_tagged"] == {"East Kyudo Association": "language ja"}
    md = tmp_path / "grid.md"
    run("compare", "North Rowing Club", "East Kyudo Association", "--db", small_corpus, "-o", md)
    text = md.read_text(encoding="utf-8")
    assert "**Not tagged**: East Kyudo Association (language ja" in text
    assert "North Rowing Club social media policy" in text


def test_old_corpora_get_languages_and_duplicates_on_open(small_corpus, tmp_path):
    """A corpus made before these columns: opening it adds them, detects languages and links duplicates."""
    import sqlite3

    from policycorpus.db import SCHEMA_VERSION, open_db

    old = tmp_path / "old.db"
    with sqlite3.connect(small_corpus) as source, sqlite3.connect(old) as target:
        source.backup(target)
    conn = sqlite_utils.Database(old)
    for view in ("document_status", "current_clauses", "current_cells", "current_segments", "snapshot_segments",
                 "effective_tags"):
        conn.execute(f"drop view if exists [{view}]")
    for column in ("language", "duplicate_of", "duplicate_similarity"):
        conn.execute(f"alter table documents drop column {column}")
    conn.execute("alter table snapshots drop column language")
    conn.conn.commit()
    conn.conn.close()
    db = open_db(old)
    assert db.execute("select value from meta where key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    status = {r["company"] + "/" + Path(r["url"]).name: (r["language"], r["counted"])
              for r in db.query("select * from document_status")}
    before = {r["company"] + "/" + Path(r["url"]).name: (r["language"], r["counted"])
              for r in sqlite_utils.Database(small_corpus).query("select * from document_status")}
    assert status == before
    assert sorted(status.values()) == [("en", 0), ("en", 1), ("en", 1), ("ja", 0)]


def test_cite_box_gives_the_policy_date_with_its_kind_and_source():
    from publish.pages import citation

    document = {"id": 3, "key": "k3", "company": "North Rowing Club", "company_slug": "north-rowing-club",
                "url": "https://north.example/policy", "title": "Social media policy"}
    snapshot = {"fetched_at": "2026-12-01T10:00:00+00:00", "title": "Social media policy", "policy_date": "2024-09-01",
                "policy_date_kind": "updated", "policy_date_source": "page metadata: meta article:modified_time"}
    cite = citation(document, snapshot, "tagger-1")
    assert cite["text"].startswith("North Rowing Club (2024). Social media policy. https://north.example/policy. "
                                   "Policy updated 2024-09-01 (page metadata: meta article:modified_time). "
                                   "Collected 2026-12-01")
    assert "year = {2024}" in cite["bibtex"] and "month = {9}" in cite["bibtex"]
    undated = citation(document, {**snapshot, "policy_date": None}, None)
    assert undated["text"].startswith("North Rowing Club (2026). Social media policy. https://north.example/policy. "
                                      "Collected 2026-12-01")
