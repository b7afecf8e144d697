"""Every canned query and custom page on the demo corpus, built with the real commands.

The demo web (demo.webserver.DemoWeb) is crawled twice (its changing policy changes in
between), segmented, tagged and searched for templates; then each page is fetched through
Datasette's test client and its content checked against the database computed independently.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from urllib.parse import urlencode

import pytest


@pytest.fixture(scope="module")
def client(demo_db):
    from datasette.utils.testing import TestClient as DatasetteClient

    from publish.server import make_datasette

    return DatasetteClient(make_datasette(demo_db))


@pytest.fixture(scope="module")
def sql(demo_db):
    conn = sqlite3.connect(demo_db)
    conn.row_factory = sqlite3.Row

    def query(statement, params=()):
        return [dict(r) for r in conn.execute(statement, params)]

    yield query
    conn.close()


@pytest.fixture(scope="module")
def current(demo_db):
    """Current clauses with tags, as analysis.corpus reads them (independent of the SQL view)."""
    from analysis.corpus import current_clauses
    from policycorpus.db import open_db

    db = open_db(demo_db)
    clauses = current_clauses(db)
    db.conn.close()
    assert clauses, "the demo corpus has no current clauses"
    return clauses


def get(client, path, status=200):
    response = client.get(path)
    assert response.status == status, (path, response.status, response.text[:800])
    return response


def rows_of(client, name, **params):
    return get(client, f"/corpus/{name}.json?_shape=array&_size=max&" + urlencode(params)).json


def test_every_canned_query_and_page_answers_200(client, sql, current):
    company = current[0].company
    category = Counter(c for cl in current for c in cl.tags).most_common(1)[0][0]
    snapshots = sql("select id from snapshots order by id limit 2")
    params = {"search_clauses": {"q": "social media"}, "search_policies": {"q": "social media"},
              "compare_grid": {"companies": company}, "category_clauses": {"category": category},
              "companies_lacking": {"category": category}, "unique_clauses": {"company": company},
              "template_families": {"min_companies": "2"},
              "snapshot_changes": {"document": "1", "old_snapshot": snapshots[0]["id"],
                                   "new_snapshot": snapshots[-1]["id"]}}
    from publish.server import build_metadata

    for name, query in build_metadata()["databases"]["corpus"]["queries"].items():
        html = get(client, f"/corpus/{name}?" + urlencode(params.get(name, {}))).text
        assert query["title"] in html, name
    for path in ("/", "/corpus", "/corpus/current_clauses", "/-/charts", "/-/compare",
                 "/-/compare?" + urlencode({"companies": company})):
        get(client, path)
    for doc in sql("select id from documents"):
        get(client, f"/-/policy/{doc['id']}")


def test_search_finds_and_highlights_a_clause_word(client, current):
    word = max((w for c in current for w in c.text.split() if w.isalpha() and len(w) > 7), key=len)
    rows = rows_of(client, "search_clauses", q=word)
    assert rows and any(word.lower() in r["highlighted"].lower() for r in rows)
    html = get(client, "/corpus/search_clauses?" + urlencode({"q": word})).text
    assert "<mark>" in html


def test_compare_grid_counts_match_analysis(client, current):
    companies = sorted({c.company for c in current})
    rows = rows_of(client, "compare_grid", companies=",".join(companies))
    counts = Counter((c.company, cat) for c in current for cat in c.tags)
    n_categories = len({r["category"] for r in rows})
    assert n_categories == 22 and len(rows) == 22 * len(companies)
    for r in rows:
        assert r["clauses"] == counts[(r["company"], r["category"])], r


def test_compare_page_shows_every_cells_state(client, current, sql):
    companies = sorted({c.company for c in current})
    html = get(client, "/-/compare?" + urlencode({"companies": ",".join(companies)})).text
    rank = {"absent": 0, "uncertain": 1, "covered": 2}
    best = {}
    for cell in sql("select company, category, state from current_cells"):
        key = (cell["company"], cell["category"])
        if rank[cell["state"]] >= rank[best.get(key, "absent")]:
            best[key] = cell["state"]
    for state in ("covered", "uncertain"):
        assert html.count(f'data-state="{state}"') == sum(s == state for s in best.values()), state
    assert html.count('data-state="absent"') == 22 * len(companies) - sum(s != "absent" for s in best.values())


def test_category_queries_match_tags(client, current, sql):
    by_category = Counter(cat for c in current for cat in c.tags)
    category = by_category.most_common(1)[0][0]
    assert len(rows_of(client, "category_clauses", category=category)) == by_category[category]
    # a company lacks the category unless one of its documents' grid cells is covered
    covered = {r["company"] for r in sql("select company from current_cells where category = :c and state = 'covered'",
                                         {"c": category})}
    lacking = {r["company"]: r["state"] for r in rows_of(client, "companies_lacking", category=category)}
    assert set(lacking) == {c.company for c in current} - covered
    assert set(lacking.values()) <= {"absent", "uncertain"}


def test_unique_clauses_are_the_companys_own(client, current, sql):
    in_families = {r["clause_id"] for r in sql(
        "select tm.clause_id from template_members tm join template_families tf on tf.id = tm.family_id "
        "where tf.n_companies > 1")}
    found = 0
    for company in sorted({c.company for c in current}):
        own = [c for c in current if c.company == company]
        others = {c.text.strip().lower() for c in current if c.company != company}
        expected = {c.id for c in own if c.text.strip().lower() not in others and c.id not in in_families}
        rows = rows_of(client, "unique_clauses", company=company)
        assert {r["clause_id"] for r in rows} == expected, company
        found += len(rows)
    assert found  # the demo policies are not all boilerplate


def test_template_families_query_matches_table(client, sql):
    expected = sql("select count(*) as n from template_families where n_companies >= 2 "
                   "and run_id = (select max(run_id) from template_families)")[0]["n"]
    assert len(rows_of(client, "template_families", min_companies="2")) == expected


def test_changed_policy_shows_added_and_removed_clauses(client, sql):
    versions = rows_of(client, "policy_versions")
    assert versions, "the demo web's changing policy should have two snapshots"
    doc = versions[0]["document_id"]
    old, new = [v["snapshot_id"] for v in versions if v["document_id"] == doc][:2]
    changes = rows_of(client, "snapshot_changes", document=doc, old_snapshot=old, new_snapshot=new)
    assert {r["change"] for r in changes} <= {"added", "removed"} and changes
    old_texts = {r["text"] for r in sql("select text from clauses where snapshot_id = ? and kind = 'clause'", [old])}
    for r in changes:
        assert (r["text"] in old_texts) == (r["change"] == "removed")
    html = get(client, f"/-/policy/{doc}").text
    assert "what changed since" in html


def test_restrictiveness_ranking(client, current):
    rows = rows_of(client, "restrictiveness")
    values = [r["restrictiveness"] for r in rows]
    assert values == sorted(values, reverse=True) and all(0 <= v <= 1 for v in values)
    for r in rows:
        judged = [c for c in current if c.document_id == r["document_id"] and c.modality]
        share = sum(c.modality in ("prohibition", "obligation") for c in judged) / len(judged)
        assert r["restrictiveness"] == round(share, 3)


def test_policy_pages_tag_every_clause(client, sql, current):
    for doc in sql("select id, latest_snapshot_id, url from documents"):
        html = get(client, f"/-/policy/{doc['id']}").text
        mine = [c for c in current if c.document_id == doc["id"]]
        assert html.count('class="pc-clause pc-kind-clause') == len(mine)
        assert html.count('class="pc-chip pc-chip-') == sum(len(c.tags) for c in mine)
        assert f'/corpus/snapshots/{doc["latest_snapshot_id"]}"' in html
        assert "<script>alert" not in html


def test_charts_page_draws_every_category(client, current, sql):
    html = get(client, "/-/charts").text
    industries = rows_of(client, "restrictiveness_by_industry")
    assert html.count('<g class="pc-bar"') == 22 + len(industries)
    for r in industries:  # each industry's bar says its n and its range
        assert f'<title>{r["industry"]}: {r["mean_restrictiveness"]} (n = {r["companies"]};' in html
    coverage = rows_of(client, "coverage_by_category")
    companies = {c.company for c in current}
    for r in coverage:
        assert r["of_companies"] == len(companies)
        rank = {"absent": 0, "uncertain": 1, "covered": 2}
        states = {}
        for cell in sql("select company, state from current_cells where category = :c", {"c": r["category"]}):
            if rank[cell["state"]] >= rank[states.get(cell["company"], "absent")]:
                states[cell["company"]] = cell["state"]
        assert r["companies"] == sum(s == "covered" for s in states.values())
        assert r["uncertain"] == sum(s == "uncertain" for s in states.values())


def test_page_reads_the_same_current_clauses_as_analysis(demo_db, current):
    from publish.pages import current_clauses_of

    conn = sqlite3.connect(demo_db)
    conn.row_factory = sqlite3.Row
    ids = sorted({c.company_id for c in current})
    got = {(c.id, c.modality, tuple(sorted(c.tags.items()))) for c in current_clauses_of(conn, ids)}
    conn.close()
    assert got == {(c.id, c.modality, tuple(sorted(c.tags.items()))) for c in current}
