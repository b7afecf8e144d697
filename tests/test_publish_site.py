"""Issue 15's site without dead ends, through Datasette's in-process client: names with commas on the compare page,
canned queries that say why they are empty, search that says when it is cut, charts with n and spread, "what
changed" only within one document, and a footer and serve options that tell the truth.

The corpus is tests/corpora.py's hand-made one (five banks), plus an organization whose name has a comma, brackets
and non-ASCII letters, one with 120 clauses about passwords (more than a search page shows), and one crawled
document beside the imported ones.
"""

from __future__ import annotations

import re
import sqlite3
from html import unescape
from pathlib import Path
from urllib.parse import urlencode

import pytest
from datasette.utils.testing import TestClient as DatasetteClient

from policycorpus.db import open_db
from publish import canned, pages
from publish.server import collection_source, make_datasette, prepare_database

from corpora import add_policy, build_corpus

ODD = "Ærø, Kiel & Partners (Nord) — Δelta"
ODD_CLAUSES = [
    ("This guidance covers every partner and employee of the firm.", "information", ["scope"]),
    ("Do not reveal client matters on any social network.", "prohibition", ["confidentiality"]),
]
PASSWORDS = [(f"Rule {i}: change the password of shared account number {i} every quarter.", "obligation",
              ["security"]) for i in range(120)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = build_corpus(tmp_path_factory.mktemp("site") / "corpus.db")
    db = open_db(path)
    add_policy(db, ODD, ODD_CLAUSES)
    add_policy(db, ODD, ODD_CLAUSES[:1], fetched_at="2026-04-01T10:00:00+00:00")  # a second version
    add_policy(db, "Keyholder Ltd", PASSWORDS)
    with db.conn:
        db.execute("update documents set source = 'import' where company_id != "
                   "(select id from companies where name = 'Acme Bank')")
        db.execute("update documents set source = 'crawl' where company_id = "
                   "(select id from companies where name = 'Acme Bank')")
    db.conn.close()
    prepare_database(path, log=lambda message: None)
    return path


@pytest.fixture(scope="module")
def client(corpus):
    return DatasetteClient(make_datasette(corpus, site={"title": "Bank policies 2026", "license": "CC-BY-4.0",
                                                        "citation": "Doe, J. (2026). Bank policies, release 1."}))


def get(client, path: str, status: int = 200):
    response = client.get(path)
    assert response.status == status, (path, response.status, response.text[:400])
    return response


def why_empty(client, path: str) -> str:
    html = get(client, path).text
    found = re.search(r'<p class="zero-results pc-why-empty">(.*?)</p>', html, re.S)
    assert found, f"{path}: no explanation of an empty result"
    return unescape(" ".join(found.group(1).split()))


def odd_document(corpus) -> tuple[int, int, int]:
    conn = sqlite3.connect(corpus)
    try:
        return conn.execute("select d.id, min(s.id), max(s.id) from documents d join companies c on c.id = d.company_id "
                            "join snapshots s on s.document_id = d.id where c.name = ?", [ODD]).fetchone()
    finally:
        conn.close()


# ---------------------------------------------------------------- names with commas


def test_typed_lists_are_rejoined_into_names_with_commas(corpus):
    conn = sqlite3.connect(corpus)
    try:
        assert pages.requested_names(conn, [], [f"{ODD}, Bolt Bank"]) == [ODD, "Bolt Bank"]
        assert pages.requested_names(conn, [ODD], ["bolt-bank,Nobody, Inc"]) == [ODD, "bolt-bank", "Nobody", "Inc"]
        assert pages.requested_names(conn, [ODD, "Bolt Bank"], [ODD.replace(", ", ",")]) == [ODD, "Bolt Bank"]
        assert len(pages.requested_names(conn, [], ["," * 10_000 + "x"])) == 1  # bounded work on hostile input
    finally:
        conn.close()


def test_compare_page_takes_a_name_with_a_comma(client):
    for query in ({"company": [ODD, "Bolt Bank"]}, {"companies": f"{ODD}, Bolt Bank"}):
        html = get(client, "/-/compare?" + urlencode(query, doseq=True)).text
        assert 'id="pc-grid"' in html and "message-error" not in html
        assert html.count('class="pc-company"') == 2 and f'<th scope="col" class="pc-company">{ODD.replace("&", "&amp;")}' in html
        assert f'value="{ODD.replace("&", "&amp;")}" checked' in html  # ticked in its own picker
    grid = get(client, "/corpus/compare_grid.json?" + urlencode({"companies": f"{ODD}, bolt-bank", "_shape": "array"}))
    assert {r["company"] for r in grid.json} == {ODD, "Bolt Bank"}


def test_a_page_sorted_by_a_hidden_column_shows_it_instead_of_failing(client):
    response = client.get("/corpus/clauses?_sort=position&_nocol=position&_nocol=text")
    assert response.status == 302 and response.headers["location"] == "/corpus/clauses?_sort=position&_nocol=text"
    get(client, "/corpus/clauses?_sort=position&_nocol=text")


# ---------------------------------------------------------------- canned queries


def test_every_canned_query_has_a_title_a_description_help_and_hidden_sql(client):
    queries = get(client, "/-/metadata.json").json["databases"]["corpus"]["queries"]
    for name, query in queries.items():
        assert query["title"] and len(query["description"]) > 40 and query["hide_sql"], name
        assert set(query.get("param_help", {})) == set(query.get("params", [])), name
        page = unescape(get(client, f"/corpus/{name}").text)
        assert 'id="sql-query"' not in page and "show the SQL" in page
        for param in query.get("params", []):
            assert query["param_help"][param] in page
    html = get(client, "/corpus/category_clauses").text
    assert 'Valid ids: <code title="Scope and coverage">scope</code>' in html
    assert f'<option value="{ODD.replace("&", "&amp;")}">' in html  # organizations offered by name


def test_empty_results_say_why(client, corpus):
    document, old, new = odd_document(corpus)
    assert "Valid ids: scope, official_accounts" in why_empty(client, "/corpus/category_clauses")
    assert why_empty(client, "/corpus/category_clauses?category=nonsense").startswith(
        "No rows. Unknown category id “nonsense”; valid ids: scope,")
    assert f"No current clause of {ODD} carries category political (Political and controversial topics)." in why_empty(
        client, "/corpus/category_clauses?" + urlencode({"category": "Political and controversial topics",
                                                         "company": ODD}))
    assert "No organization named “Nobody”" in why_empty(client, "/corpus/unique_clauses?company=Nobody")
    assert "None of “Nobody”" in why_empty(client, "/corpus/compare_grid?companies=Nobody")
    assert "run policycorpus templates" in why_empty(client, "/corpus/template_families")
    assert 'Type words, a "quoted phrase"' in why_empty(client, "/corpus/search_clauses")
    assert "No current clause contains “zebra”" in why_empty(client, "/corpus/search_clauses?q=zebra")
    other = sqlite3.connect(corpus).execute("select min(id) from snapshots where document_id != ?", [document]).fetchone()[0]
    assert (f"Snapshot {other} is a version of document" in why_empty(client, "/corpus/snapshot_changes?" + urlencode(
        {"document": document, "old_snapshot": other, "new_snapshot": new}))
        and "only compares versions of one document" in why_empty(client, "/corpus/snapshot_changes?" + urlencode(
            {"document": document, "old_snapshot": other, "new_snapshot": new})))
    assert "Give a document id" in why_empty(client, "/corpus/snapshot_changes")


def test_category_parameters_take_ids_or_display_names(client):
    by_id = get(client, "/corpus/category_clauses.json?_shape=array&category=confidentiality").json
    by_name = get(client, "/corpus/category_clauses.json?_shape=array&" + urlencode(
        {"category": "confidential INFORMATION"})).json
    assert by_id and by_id == by_name
    one = get(client, "/corpus/category_clauses.json?_shape=array&" + urlencode(
        {"category": "scope", "company": ODD})).json
    assert {r["company"] for r in one} == {ODD}
    lacking = get(client, "/corpus/companies_lacking.json?_shape=array&" + urlencode({"category": "Privacy of others"}))
    assert lacking.json and "Bolt Bank" not in {r["company"] for r in lacking.json}


def test_search_says_when_it_is_cut_and_takes_or(client, corpus):
    html = get(client, "/corpus/search_clauses?q=password").text
    assert "Showing the 100 best of 121 matching clauses" in html  # Keyholder's 120, and Cobalt's passwords
    assert "/corpus/current_clauses?_search=password" in html
    assert "Showing the" not in get(client, "/corpus/search_clauses?q=confidential").text
    conn = sqlite3.connect(corpus)
    assert canned.cut_notice(conn, "search_policies", {"q": "password"}, 100) is None  # one policy matches
    either = get(client, "/corpus/current_clauses.json?" + urlencode(
        {"_search": "journalists OR breaks", "_shape": "array", "_col": "company"})).json
    assert {r["company"] for r in either} == {"Bolt Bank", "Delta Savings"}
    phrase = get(client, "/corpus/current_clauses.json?" + urlencode(
        {"_search": '"courtesy in every post"', "_shape": "array", "_col": "company"})).json
    assert [r["company"] for r in phrase] == ["Bolt Bank"]


# ---------------------------------------------------------------- clause view, charts, what changed


def test_default_clause_view_leads_with_organization_heading_text_categories_modality(client):
    html = get(client, "/corpus/current_clauses").text
    heads = re.findall(r'<th class="col-(\w+)" scope="col" data-column', html)
    assert heads == ["company", "heading_path", "text", "categories", "modality"]
    assert 'class="pc-modality pc-modality-prohibition"' in html and 'class="pc-chip"' in html
    every = get(client, "/corpus/current_clauses?_layout=columns").text
    assert "pc-clause-table" not in every and 'data-column="clause_key"' in every


def test_charts_show_n_and_spread():
    assert pages.wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-3))
    low, high = pages.wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-3) and high == pytest.approx(0.7634, abs=1e-3)
    rows = pages.bar_rows([{"name": "x", "share": 0.5, "k": 5, "n": 10}], "name", "share", n="n", k="k")
    assert rows[0]["n"] == 10 and rows[0]["low"] == pytest.approx(0.2366, abs=1e-3)


def test_charts_page_gives_n_and_whiskers(client):
    html = get(client, "/-/charts").text
    n = len(re.findall(r'<g class="pc-bar" data-n="7"', html))
    assert n == 22  # every category bar, over the 7 organizations with a policy
    assert html.count('class="pc-whisker"') >= 22 and "95% Wilson interval" in html
    assert "n = 7 organizations with a segmented policy" in html


def test_what_changed_stays_within_one_document(client, corpus):
    document, old, new = odd_document(corpus)
    rows = get(client, "/corpus/snapshot_changes.json?_shape=array&" + urlencode(
        {"document": document, "old_snapshot": old, "new_snapshot": new})).json
    assert [r["change"] for r in rows] == ["removed"]
    versions = get(client, "/corpus/policy_versions.json?_shape=array").json
    for row in versions:
        if row["what_changed"]:
            assert sqlite3.connect(corpus).execute("select document_id from snapshots where id = ?",
                                                   [row["what_changed"]]).fetchone()[0] == row["document_id"]
    other = sqlite3.connect(corpus).execute("select min(id) from snapshots where document_id != ?", [document]).fetchone()[0]
    get(client, f"/-/policy/{document}/history?old={other}&new={new}", status=404)


# ---------------------------------------------------------------- footer and serve options


def test_footer_counts_how_each_document_was_collected(client, corpus):
    source = collection_source(corpus)
    assert source == "1 document crawled from the organizations' websites by policycorpus crawl; " \
                     "6 documents imported from files with policycorpus import-docs"
    html = get(client, "/").text
    assert source in unescape(html) and "CC-BY-4.0" in html and "<h1>Bank policies 2026</h1>" in html
    document, _, _ = odd_document(corpus)
    assert "Doe, J. (2026). Bank policies, release 1." in get(client, f"/-/policy/{document}").text


def test_serve_offers_title_source_license_and_citation(cli):
    help_text = cli("serve", "--help").output
    for option in ("--title", "--source", "--source-url", "--license", "--license-url", "--citation"):
        assert option in help_text


def test_footer_counts_versions_recovered_from_archives(tmp_path):
    path = build_corpus(tmp_path / "corpus.db", {"Acme Bank": ODD_CLAUSES, "Bolt Bank": ODD_CLAUSES})
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("update documents set source = 'crawl'")
        conn.execute("update snapshots set source = 'archive' where id = (select min(id) from snapshots)")
    conn.close()
    assert collection_source(path) == ("2 documents crawled from the organizations' websites by policycorpus crawl; "
                                       "1 earlier version recovered from web archives by policycorpus history")
