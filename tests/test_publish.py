"""policycorpus serve/publish: every canned query and custom page through Datasette's test client.

The corpus is a real SQLite file in tmp_path written with policycorpus.store.save_document
plus clause/tag rows inserted the way `policycorpus segment` and `tag` store them. The texts
are written for this test; one clause carries a <script> element to prove crawled text is escaped.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from click.testing import CliRunner

from policycorpus.db import TABLES, VIEWS, open_db
from policycorpus.store import Fetched, save_document
from policycorpus.structure import Block

datasette = pytest.importorskip("datasette")
from datasette.utils.testing import TestClient as DatasetteClient  # noqa: E402

from publish.server import METADATA_FILE, build_metadata, make_datasette, prepare_database  # noqa: E402

CATEGORIES = [  # id, name, group (the ids and groups of TAXONOMY.md)
    ("scope", "Scope", "Who"), ("official_accounts", "Official accounts", "Who"), ("participation", "Participation", "Who"),
    ("work_time_use", "Use at work", "When"),
    ("spokesperson", "Spokesperson", "Identity"), ("disclosure", "Disclosure", "Identity"), ("brand_voice", "Brand voice", "Identity"),
    ("engagement", "Engagement", "Routing"), ("escalation", "Escalation", "Routing"),
    ("monitoring", "Monitoring", "Reporting"), ("reporting", "Reporting", "Reporting"),
    ("confidentiality", "Confidentiality", "Conduct"), ("privacy", "Privacy", "Conduct"), ("respect", "Respect", "Conduct"),
    ("legal_compliance", "Legal compliance", "Conduct"), ("accuracy", "Accuracy", "Conduct"), ("political", "Political", "Conduct"),
    ("security", "Security", "Conduct"),
    ("consequences", "Consequences", "Governance"), ("training", "Training", "Governance"),
    ("policy_framework", "Policy framework", "Governance"), ("employee_rights", "Employee rights", "Governance"),
]
GROUP_ORDER = ["Who", "When", "Identity", "Routing", "Reporting", "Conduct", "Governance"]
XSS = "Never paste code such as <script>alert(1)</script> into a post."

# company -> (industry, country, url, [(kind, text, modality, [categories])]); written for this test
POLICIES = {
    "Acme Retail": ("retail", "US", "https://acme.example/social-media-policy", [
        ("heading", "Social media at Acme", None, []),
        ("clause", "This policy applies to every employee and contractor of Acme on any social platform.", "information", ["scope"]),
        ("clause", "You must not share confidential sales figures or unreleased product plans.", "prohibition", ["confidentiality"]),
        ("clause", "Only the communications team may speak for Acme to journalists.", "permission", ["spokesperson"]),
        ("clause", XSS, "prohibition", ["security"]),
        ("clause", "Violations may lead to disciplinary action up to termination.", "information", ["consequences"]),
        ("clause", "Report impersonation of Acme accounts to the security desk.", "obligation", ["reporting", "security"]),
    ]),
    "Globex Bank": ("banking", "DE", "https://globex.example/policies/social", [
        ("heading", "Globex social media rules", None, []),
        ("clause", "Employees must never disclose client account information or non-public financial results.", "prohibition", ["confidentiality", "privacy"]),
        ("clause", "Always add that your views are your own when you mention Globex.", "obligation", ["disclosure"]),
        ("clause", "Securities rules apply to every post about the bank's shares.", "obligation", ["legal_compliance"]),
        ("clause", "Violations may lead to disciplinary action up to termination.", "information", ["consequences"]),
        ("clause", "Staff are encouraged to share the bank's job openings.", "recommendation", ["participation"]),
    ]),
    "Initech Health": ("health", "GB", "javascript:alert(2)", [
        ("clause", "Never post photos of patients or details of their care.", "prohibition", ["privacy"]),
        ("clause", "We monitor mentions of Initech on public channels.", "information", ["monitoring"]),
        ("clause", "Ask the digital team if you are unsure whether a post is appropriate.", "recommendation", ["reporting"]),
    ]),
}
# Acme's policy changed: the second snapshot drops one clause and adds another.
ACME_V2_ADDED = ("clause", "Two-factor authentication is required on every account you use for Acme.", "obligation", ["security"])
ACME_V2_DROPPED = "Only the communications team may speak for Acme to journalists."


def _save_policy(db, company_id, url, items, fetched_at, segmenter="seg-1", model="model-1"):
    blocks = [Block("heading" if kind == "heading" else "paragraph", text, 1 if kind == "heading" else 0)
              for kind, text, _, _ in items]
    result = save_document(db, company_id, Fetched(url=url, raw=" ".join(b.text for b in blocks).encode(),
                                                   content_type="text/html", blocks=blocks, title=f"Social media policy ({url})",
                                                   http_status=200, extractor="test", policy_score=0.9, fetched_at=fetched_at))
    snapshot = db["snapshots"].get(result.snapshot_id)
    structure = json.loads(snapshot["structure"])
    for position, ((kind, text, modality, categories), block) in enumerate(zip(items, structure)):
        clause_id = db["clauses"].insert({
            "snapshot_id": result.snapshot_id, "document_id": result.document_id, "company_id": company_id,
            "position": position, "kind": kind, "heading_path": "", "text": text,
            "span_start": block["start"], "span_end": block["end"], "segmenter_version": segmenter,
            "modality": modality if kind == "clause" else None, "modality_score": 0.9 if kind == "clause" else None,
            "model_version": model if kind == "clause" else None,
        }).last_pk
        for category in categories:
            db["tags"].insert({"clause_id": clause_id, "category": category, "score": 0.8, "model_version": model})
    return result


def build_corpus(path: Path) -> Path:
    db = open_db(path)
    for position, (cid, name, group) in enumerate(CATEGORIES):
        db["categories"].insert({"id": cid, "name": name, "group_name": group, "group_order": GROUP_ORDER.index(group),
                                 "position": position, "description": f"{name} clauses."})
    ids = {}
    for name, (industry, country, url, items) in POLICIES.items():
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower())
        ids[name] = db["companies"].insert({"name": name, "slug": slug, "homepage": f"https://{slug}.example/",
                                            "industry": industry, "country": country}).last_pk
        _save_policy(db, ids[name], url, items, "2025-03-01T10:00:00+00:00")
    db["companies"].insert({"name": "Hooli", "slug": "hooli", "homepage": "https://hooli.example/"})
    acme = POLICIES["Acme Retail"]
    v2 = [item for item in acme[3] if item[1] != ACME_V2_DROPPED] + [ACME_V2_ADDED]
    _save_policy(db, ids["Acme Retail"], acme[2], v2, "2026-02-01T10:00:00+00:00")
    # One template family: the consequences clause shared by Acme and Globex.
    shared = [r["id"] for r in db.query(
        "select id, company_id from clauses where text like 'Violations may lead%' and snapshot_id in "
        "(select latest_snapshot_id from documents)")]
    family = db["template_families"].insert({"run_id": 1, "size": 2, "n_companies": 2,
                                             "companies": json.dumps(["Acme Retail", "Globex Bank"]),
                                             "example": "Violations may lead to disciplinary action up to termination."}).last_pk
    for clause_id in shared:
        company = db["clauses"].get(clause_id)["company_id"]
        db["template_members"].insert({"family_id": family, "clause_id": clause_id, "company_id": company, "similarity": 1.0})
    db.conn.commit()
    db.conn.close()
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = build_corpus(tmp_path_factory.mktemp("publish") / "corpus.db")
    prepare_database(path)
    return path


@pytest.fixture(scope="module")
def client(corpus):
    ds = make_datasette(corpus)
    return DatasetteClient(ds)


def get(client, path, status=200):
    response = client.get(path)
    assert response.status == status, (path, response.status, response.text[:500])
    return response


def query_rows(client, name, **params):
    response = get(client, f"/corpus/{name}.json?_shape=array&" + urlencode(params))
    return response.json


def snapshot_ids(corpus, company):
    conn = sqlite3.connect(corpus)
    try:
        return [r[0] for r in conn.execute(
            "select s.id from snapshots s join documents d on d.id = s.document_id join companies c on c.id = d.company_id "
            "where c.name = ? order by s.fetched_at", [company])]
    finally:
        conn.close()


# ---------------------------------------------------------------- metadata and configuration


def test_metadata_yml_leaves_descriptions_to_db_module():
    static = yaml.safe_load(METADATA_FILE.read_text())
    for name, table in static["databases"]["corpus"].get("tables", {}).items():
        assert "description" not in table and "columns" not in table, f"{name}: descriptions come from policycorpus/db.py"


def test_every_table_and_column_of_the_database_is_described(corpus):
    metadata = build_metadata("corpus")
    tables = metadata["databases"]["corpus"]["tables"]
    conn = sqlite3.connect(corpus)
    names = [r[0] for r in conn.execute(
        "select name from sqlite_master where type in ('table', 'view') and name not like 'sqlite_%' "
        "and name not like '%_fts%'")]
    assert {t.name for t in TABLES} | {v.name for v in VIEWS} <= set(names)
    for name in names:
        assert tables[name]["description"], name
        columns = [r[1] for r in conn.execute(f"pragma table_info([{name}])")]
        for column in columns:
            assert tables[name]["columns"].get(column), f"{name}.{column} has no description"
    conn.close()
    for key in ("title", "description_html", "license"):
        assert metadata[key]
    from publish.server import site_metadata

    site = site_metadata(build_metadata("corpus"), corpus)
    assert "crawled" in site["source"] or "imported" in site["source"]  # the footer says how it was collected


def test_home_page_shows_metadata_and_links(client):
    html = get(client, "/").text
    assert "PolicyCorpus" in html and "/-/compare" in html and "/-/charts" in html
    assert "remain the property of their publishers" in html


def test_table_and_column_descriptions_are_served(client):
    html = get(client, "/corpus/clauses").text
    assert "Snapshots split into clauses" in html
    data = get(client, "/-/metadata.json").json
    assert data["databases"]["corpus"]["tables"]["clauses"]["columns"]["modality"].startswith("Modality")


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
def test_served_read_only_with_time_limit_and_no_writes(client, corpus):
    import asyncio

    ds = client.ds
    database = ds.get_database("corpus")
    # mutable (so committed writes of other commands are seen), but every read connection is mode=ro
    assert database.is_mutable
    assert ds.setting("sql_time_limit_ms") == 2000

    def write(conn):
        try:
            conn.execute("delete from companies")
        except sqlite3.OperationalError as exc:
            return str(exc)

    assert "readonly" in asyncio.run(database.execute_fn(write))
    # pages of a file that changes are not cached by browsers
    assert client.get("/corpus/companies").headers["cache-control"] == "no-cache"
    # arbitrary SQL is read-only
    response = client.get("/corpus.json?" + urlencode({"sql": "delete from companies"}))
    assert response.status == 400
    assert "Statement must be a SELECT" in response.text
    # a runaway query is stopped by the time limit
    slow = "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n"
    response = client.get("/corpus.json?" + urlencode({"sql": slow}))
    assert response.status == 400 and "interrupted" in response.text.lower()
    # no endpoint accepts a write: every POST is refused and nothing changes
    for path in ("/corpus/restrictiveness", "/corpus/companies", "/corpus", "/-/compare", "/-/policy/1"):
        response = client.post(path, {"sql": "delete from companies"})
        assert response.status == 405, path
        assert "read-only" in response.text
    assert sqlite3.connect(corpus).execute("select count(*) from companies").fetchone()[0] == 4


# ---------------------------------------------------------------- search and facets


def test_search_highlights_terms_and_escapes_text(client):
    rows = query_rows(client, "search_clauses", q="confidential")
    companies = {r["company"] for r in rows}
    assert companies == {"Acme Retail"}  # Globex's clause says "non-public", stemmed search finds "confidential"
    html = get(client, "/corpus/search_clauses?q=disclose").text
    assert "<mark>disclose</mark>" in html
    html = get(client, "/corpus/search_clauses?q=paste").text
    assert "<mark>paste</mark>" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_search_is_stemmed_and_tolerates_fts_syntax(client):
    stems = {r["company"] for r in query_rows(client, "search_clauses", q="violation")}
    assert stems == {"Acme Retail", "Globex Bank"}
    assert query_rows(client, "search_clauses", q='"unbalanced (quote') == []


def test_search_policies_groups_by_document(client):
    rows = query_rows(client, "search_policies", q="violations termination")
    assert {r["company"] for r in rows} == {"Acme Retail", "Globex Bank"}
    assert all(r["matching_clauses"] == 1 for r in rows)
    html = get(client, "/corpus/search_policies?q=termination").text
    assert "<mark>termination</mark>" in html


def test_current_clauses_view_facets_and_search(client):
    data = get(client, "/corpus/current_clauses.json?_search=privacy+OR+patients&_facet_size=50").json
    facets = data["facet_results"]
    assert {"categories", "groups", "modality", "company", "industry", "country", "year"} <= set(facets)
    data = get(client, "/corpus/current_clauses.json?_facet_size=50").json
    categories = {r["value"]: r["count"] for r in data["facet_results"]["categories"]["results"]}
    assert categories["confidentiality"] == 2 and categories["security"] == 3
    years = {r["value"]: r["count"] for r in data["facet_results"]["year"]["results"]}
    assert years == {2025: 8, 2026: 6}  # Acme's latest snapshot is from 2026, the others from 2025
    html = get(client, "/corpus/current_clauses?_search=patients").text
    assert "<mark>patients</mark>" in html
    html = get(client, "/corpus/current_clauses?_search=paste").text
    assert "&lt;script&gt;" in html and "<script>alert(1)" not in html


def test_documents_table_has_full_text_search(client):
    data = get(client, "/corpus/documents.json?_search=globex&_shape=array").json
    assert [d["url"] for d in data] == ["https://globex.example/policies/social"]


# ---------------------------------------------------------------- canned queries


def test_compare_grid_query(client):
    rows = query_rows(client, "compare_grid", companies="acme-retail, Globex Bank, nobody")
    assert {r["company"] for r in rows} == {"Acme Retail", "Globex Bank"}
    assert len(rows) == 2 * len(CATEGORIES)
    cells = {(r["company"], r["category"]): r for r in rows}
    assert cells[("Globex Bank", "confidentiality")]["clauses"] == 1
    assert cells[("Globex Bank", "confidentiality")]["strongest_modality"] == "prohibition"
    assert cells[("Acme Retail", "security")]["clauses"] == 3  # two security clauses + the new 2FA one
    assert cells[("Acme Retail", "security")]["strongest_modality"] == "prohibition"
    assert cells[("Acme Retail", "spokesperson")]["clauses"] == 0  # dropped in the latest snapshot
    assert cells[("Globex Bank", "political")]["strongest_modality"] is None


def test_category_clauses_query(client):
    rows = query_rows(client, "category_clauses", category="privacy")
    assert sorted(r["company"] for r in rows) == ["Globex Bank", "Initech Health"]
    assert all("privacy" in json.loads(r["categories"]) for r in rows)
    html = get(client, "/corpus/category_clauses?category=privacy").text
    assert 'href="/-/policy/' in html and "pc-chip" in html


def test_companies_lacking_query(client):
    assert [r["company"] for r in query_rows(client, "companies_lacking", category="privacy")] == ["Acme Retail"]
    assert [r["company"] for r in query_rows(client, "companies_lacking", category="confidentiality")] == ["Initech Health"]
    assert query_rows(client, "companies_lacking", category="no_such_category") == []


def test_unique_clauses_query(client):
    texts = [r["text"] for r in query_rows(client, "unique_clauses", company="Globex Bank")]
    assert "Always add that your views are your own when you mention Globex." in texts
    assert not any(t.startswith("Violations may lead") for t in texts)  # shared with Acme
    assert len(texts) == 4


def test_template_families_query(client):
    rows = query_rows(client, "template_families", min_companies="2")
    assert len(rows) == 1 and json.loads(rows[0]["companies"]) == ["Acme Retail", "Globex Bank"]
    assert query_rows(client, "template_families", min_companies="3") == []
    assert len(query_rows(client, "template_families")) == 1


def test_policy_versions_and_snapshot_changes_queries(client, corpus):
    versions = query_rows(client, "policy_versions")
    assert {v["company"] for v in versions} == {"Acme Retail"} and len(versions) == 2
    old, new = snapshot_ids(corpus, "Acme Retail")
    doc = versions[0]["document_id"]
    rows = query_rows(client, "snapshot_changes", document=str(doc), old_snapshot=str(old), new_snapshot=str(new))
    assert [(r["change"], r["text"]) for r in rows] == [("removed", ACME_V2_DROPPED), ("added", ACME_V2_ADDED[1])]
    # versions of another document, or a document with only one of the two, give nothing
    assert not query_rows(client, "snapshot_changes", document=str(doc + 1), old_snapshot=str(old),
                          new_snapshot=str(new))


def test_restrictiveness_query(client):
    rows = query_rows(client, "restrictiveness")
    assert [r["company"] for r in rows] == ["Acme Retail", "Globex Bank", "Initech Health"]
    by_company = {r["company"]: r for r in rows}
    assert by_company["Globex Bank"]["restrictiveness"] == 0.6  # 3 of 5
    assert by_company["Acme Retail"]["judged_clauses"] == 6 and by_company["Acme Retail"]["restrictive_clauses"] == 4
    assert by_company["Initech Health"]["restrictiveness"] == round(1 / 3, 3)


def test_policies_query(client):
    rows = query_rows(client, "policies")
    assert [r["company"] for r in rows] == ["Acme Retail", "Globex Bank", "Initech Health"]
    assert rows[0]["snapshot_count"] == 2 and rows[0]["current_clauses"] == 6


def test_chart_queries(client):
    coverage = {r["category"]: r for r in query_rows(client, "coverage_by_category")}
    assert coverage["consequences"]["companies"] == 2 and coverage["consequences"]["of_companies"] == 3
    assert coverage["consequences"]["share"] == 0.667 and coverage["political"]["share"] == 0
    industry = {r["industry"]: r for r in query_rows(client, "restrictiveness_by_industry")}
    assert industry["banking"]["mean_restrictiveness"] == 0.6 and industry["retail"]["mean_restrictiveness"] == 0.667


def test_every_canned_query_answers_html(client):
    params = {"search_clauses": "q=policy", "search_policies": "q=policy", "compare_grid": "companies=Acme+Retail",
              "category_clauses": "category=security", "companies_lacking": "category=privacy",
              "unique_clauses": "company=Acme+Retail", "template_families": "min_companies=2",
              "snapshot_changes": "document=1&old_snapshot=1&new_snapshot=4"}
    queries = build_metadata()["databases"]["corpus"]["queries"]
    for name in queries:
        html = get(client, f"/corpus/{name}?{params.get(name, '')}").text
        assert queries[name]["title"] in html
        assert "<script>alert(" not in html


# ---------------------------------------------------------------- custom pages


def test_policy_page_tags_every_clause(client, corpus):
    conn = sqlite3.connect(corpus)
    doc_id, latest = conn.execute(
        "select d.id, d.latest_snapshot_id from documents d join companies c on c.id = d.company_id where c.name = 'Acme Retail'").fetchone()
    conn.close()
    html = get(client, f"/-/policy/{doc_id}").text
    assert html.count('class="pc-clause ') == 6
    assert '<h2 class="pc-heading"' in html and "Social media at Acme" in html
    assert "pc-chip pc-chip-" in html and ">Confidentiality <span class=\"pc-chip-score\">" in html
    assert "pc-modality-prohibition" in html and "pc-modality-obligation" in html
    assert "--pc-colour: #d62728" in html  # Conduct colour from metadata.yml
    assert 'href="https://acme.example/social-media-policy"' in html
    assert f'href="/corpus/snapshots/{latest}"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "what changed since" in html
    old = snapshot_ids(corpus, "Acme Retail")[0]
    html = get(client, f"/-/policy/{doc_id}?snapshot={old}").text
    assert ACME_V2_DROPPED in html and ACME_V2_ADDED[1] not in html


def test_policy_page_never_links_unsafe_urls(client, corpus):
    conn = sqlite3.connect(corpus)
    doc_id = conn.execute("select id from documents where url like 'javascript:%'").fetchone()[0]
    conn.close()
    html = get(client, f"/-/policy/{doc_id}").text
    assert "javascript:alert(2)" in html and 'href="javascript:' not in html


def test_policy_page_unknown_document_is_404(client):
    assert "No policy document 999" in get(client, "/-/policy/999", status=404).text


def test_compare_page_renders_the_grid_of_analysis_compare(client, corpus):
    from analysis.compare import compare_companies

    html = get(client, "/-/compare?companies=Acme+Retail,globex-bank").text
    assert 'id="pc-grid"' in html
    assert html.count('class="pc-category-row"') == len(CATEGORIES)
    db = open_db(corpus)
    expected = compare_companies(db, [db["companies"].get(1), db["companies"].get(2)])
    states = Counter(cell.state for cells in expected.cells.values() for cell in cells.values())
    for state in ("covered", "uncertain", "absent"):
        assert html.count(f'data-state="{state}"') == states[state], state
    covered = states["covered"]
    assert 'href="https://globex.example/policies/social"' in html
    assert 'href="/-/policy/' in html and 'href="/corpus/snapshots/' in html
    assert "&lt;script&gt;" in html and "<script>alert(1)" not in html
    # repeated company= parameters (the checkboxes) work too
    html2 = get(client, "/-/compare?company=Acme+Retail&company=Globex+Bank").text
    assert html2.count('data-state="covered"') == covered


def test_compare_page_without_and_with_bad_companies(client):
    html = get(client, "/-/compare").text
    assert "Hooli" not in html  # no policy, not offered
    assert 'value="Initech Health"' in html and 'id="pc-grid"' not in html
    html = get(client, "/-/compare?companies=Acme+Retail,Nobody+Inc", status=400).text
    assert "Unknown companies: Nobody Inc" in html
    many = ",".join(f"Company {i}" for i in range(13))
    html = get(client, "/-/compare?" + urlencode({"companies": many}), status=400).text
    assert "Compare at most 12 companies at a time (13 given)." in html and 'id="pc-grid"' not in html


def test_charts_page(client):
    html = get(client, "/-/charts").text
    assert html.count('<figure class="pc-chart"') == 2
    # each bar says its n and spread: covered by 2 of the 3 organizations, a 95% interval; one bank, its range
    assert "<title>Confidentiality: 0.667 (2 of 3; 21–94%)</title>" in html
    assert "<title>banking: 0.6 (n = 1; 60–60%)</title>" in html
    assert "datasette-vega" in html


# ---------------------------------------------------------------- commands


@pytest.mark.slow
def test_publish_writes_a_deployable_package(corpus, tmp_path):
    import zipfile

    from policycorpus.cli import cli

    out = tmp_path / "dist"
    result = CliRunner().invoke(cli, ["publish", "--db", str(corpus), "--out", str(out)])
    assert result.exit_code == 0, result.output
    dockerfile = (out / "Dockerfile").read_text()
    assert "datasette serve" in dockerfile and "-i corpus.db" in dockerfile
    assert "--setting sql_time_limit_ms 2000" in dockerfile
    # the project goes in as its wheel (its own dependency list, its plugins by entry point), no source trees
    wheel = next(out.glob("policycorpus-*.whl"))
    assert re.search(rf"^RUN pip install -U .*datasette==\S+ .*\./{re.escape(wheel.name)}$", dockerfile, re.M)
    assert "PYTHONPATH" not in dockerfile and "--plugins-dir" not in dockerfile
    assert not (out / "src").exists() and not (out / "plugins").exists()
    assert not [p for p in out.rglob("*.py")]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        requires = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "publish/plugins/policycorpus_site.py" in names and "publish/site/templates/compare.html" in names
    assert not [n for n in names if n.startswith(("tests/", "build/")) or "__pycache__" in n or n.endswith(".db")]
    assert "[datasette]" in entry_points and "policycorpus_sql_guard = publish.plugins.sql_guard" in entry_points
    assert "Requires-Dist: datasette" in requires
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["databases"]["corpus"]["tables"]["clauses"]["description"]
    assert (out / "templates" / "compare.html").exists() and (out / "static" / "policycorpus.css").exists()
    copy = sqlite3.connect(out / "corpus.db")
    assert copy.execute("select count(*) from clauses").fetchone()[0] > 0
    assert copy.execute("pragma journal_mode").fetchone()[0] == "delete"
    result = CliRunner().invoke(cli, ["publish", "--db", str(corpus), "--out", str(out)])
    assert result.exit_code == 1 and "--force" in result.output and "Traceback" not in result.output


def test_serve_refuses_missing_database(tmp_path):
    from policycorpus.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "no corpus database" in result.output


def test_page_reads_the_same_current_clauses_as_analysis(corpus):
    from analysis.corpus import current_clauses
    from publish.pages import current_clauses_of

    db = open_db(corpus)
    ids = [r["id"] for r in db["companies"].rows]
    expected = {(c.id, c.company, c.modality, tuple(sorted(c.tags.items()))) for c in current_clauses(db, ids)}
    conn = sqlite3.connect(corpus)
    conn.row_factory = sqlite3.Row
    got = {(c.id, c.company, c.modality, tuple(sorted(c.tags.items()))) for c in current_clauses_of(conn, ids)}
    assert got == expected and len(got) == 14


def test_summaries_follow_new_tags_and_are_not_rebuilt_needlessly(tmp_path):
    from publish.summary import refresh_summaries

    path = build_corpus(tmp_path / "corpus.db")
    prepare_database(path)
    db = open_db(path)
    assert not refresh_summaries(db)  # nothing changed since prepare_database
    initech = db["companies"].rows_where("name = 'Initech Health'").__next__()["id"]
    assert not db.execute("select count(*) from category_coverage where company_id = ? and category = 'political'",
                          [initech]).fetchone()[0]
    clause = db.execute("select id from clauses where company_id = ? and kind = 'clause' limit 1", [initech]).fetchone()[0]
    db["tags"].insert({"clause_id": clause, "category": "political", "score": 0.7, "model_version": "model-1"})
    db.conn.commit()
    db.conn.close()
    prepare_database(path)
    db = open_db(path)
    row = db.execute("select clauses, strongest_modality from category_coverage where company_id = ? and category = 'political'",
                     [initech]).fetchone()
    assert row == (1, "prohibition")
    # exact duplicates across companies: the consequences clause of Acme and Globex
    shared = {r["clause_id"] for r in db.query("select clause_id from duplicate_clauses")}
    texts = {db["clauses"].get(c)["text"] for c in shared}
    assert texts == {"Violations may lead to disciplinary action up to termination."} and len(shared) == 2


def test_plugins_come_from_the_datasette_entry_points_once(client):
    import importlib
    from importlib.metadata import entry_points

    from datasette.plugins import pm

    from publish.plugins import PLUGINS, register

    declared = {ep.name: ep.value for ep in entry_points(group="datasette") if ep.value.startswith("publish.")}
    assert declared == PLUGINS  # pyproject.toml and publish.plugins agree (and the project is installed)
    assert register() == []  # nothing left to add by hand
    ours = [p.__name__ for p in pm.get_plugins() if getattr(p, "__name__", "").startswith("publish.")]
    assert sorted(ours) == sorted(PLUGINS.values())
    for name, module in PLUGINS.items():
        assert pm.get_plugin(name) is importlib.import_module(module)
    listed = [p for p in get(client, "/-/plugins.json").json if p["name"] == "policycorpus"]
    assert sorted(h for p in listed for h in p["hooks"]) == sorted(
        ["asgi_wrapper", "asgi_wrapper", "extra_template_vars", "menu_links", "prepare_connection", "prepare_connection",
         "prepare_jinja2_environment", "register_routes", "render_cell"])


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
def test_plugins_are_registered_by_hand_when_no_entry_point_loaded_them(corpus):
    """Datasette skips entry points when sys._called_from_test is set: make_datasette then adds the plugins, once."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import sys
        sys._called_from_test = True
        from datasette.plugins import pm
        assert pm.get_plugin("policycorpus") is None
        from datasette.utils.testing import TestClient
        from publish.plugins import register
        from publish.server import make_datasette
        client = TestClient(make_datasette({str(corpus)!r}))
        make_datasette({str(corpus)!r})
        assert register() == []
        print(sorted(p.__name__ for p in pm.get_plugins() if p.__name__.startswith("publish.")))
        print(client.get("/-/compare?companies=Acme+Retail").status,
              client.get("/corpus.json?sql=select+fts3_tokenizer('simple')").status)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    modules, statuses = result.stdout.strip().splitlines()
    assert modules == str(sorted(["publish.plugins.csv_formulas", "publish.plugins.policycorpus_site",
                                  "publish.plugins.sql_guard"]))
    assert statuses == "200 400"


def test_summaries_are_rebuilt_in_one_transaction(tmp_path):
    """While the rebuild inserts the new rows, another connection still sees the old summaries, not empty tables."""
    from publish.summary import built_at, refresh_summaries

    path = build_corpus(tmp_path / "corpus.db")
    prepare_database(path)
    reader = sqlite3.connect(path)
    before = reader.execute("select count(*) from policy_stats").fetchone()[0]
    first_built = built_at(reader)
    assert before > 0 and first_built
    seen = []

    def trace(statement):
        if statement.lstrip().lower().startswith("insert into policy_stats"):
            seen.append(reader.execute("select count(*) from policy_stats").fetchone()[0])

    db = open_db(path)
    db.conn.set_trace_callback(trace)
    assert refresh_summaries(db, force=True)
    db.conn.set_trace_callback(None)
    assert seen == [before]
    assert reader.execute("select count(*) from policy_stats").fetchone()[0] == before
    assert built_at(reader) >= first_built


def test_charts_page_says_when_the_summaries_were_built(client, corpus):
    from publish.summary import built_at

    when = built_at(sqlite3.connect(corpus))
    assert when and f"summary tables built at\n{when}" in get(client, "/-/charts").text


def wheel_venv(package: Path, tmp_path: Path) -> Path:
    """A venv whose site-packages holds only the package's wheel (installed as its Dockerfile does, without
    dependencies); the dependencies are this environment's, reached by a .pth line, so its editable install of
    the project (a .pth *hook*, not processed there) is not seen. Returns the venv's python."""
    import subprocess
    import sys
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(package.glob("policycorpus-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True, timeout=300)
    return python


@pytest.mark.slow
def test_published_package_runs_its_dockerfile_commands(corpus, tmp_path):
    """Install the package's wheel as its Dockerfile does, then run its `datasette inspect` and CMD lines."""
    import os
    import shlex
    import socket
    import subprocess
    import time
    import urllib.request

    from publish.package import build_package

    out = build_package(corpus, tmp_path / "pkg")
    dockerfile = (out / "Dockerfile").read_text()
    python = wheel_venv(out, tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(python), "-c", "import publish.plugins.sql_guard as m; print(m.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(tmp_path / "venv")), where  # the plugin comes from the installed wheel
    inspect = re.search(r"^RUN (datasette inspect .*)$", dockerfile, re.M).group(1)
    subprocess.run([str(python), "-m", "datasette", *shlex.split(inspect)[1:]], cwd=out, env=env, check=True, timeout=120)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = shlex.split(re.search(r"^CMD (.*)$", dockerfile, re.M).group(1).replace("$PORT", str(port)))
    cmd = [str(python), "-m", "datasette", *cmd[1:]]
    cmd[cmd.index("0.0.0.0")] = "127.0.0.1"
    process = subprocess.Popen(cmd, cwd=out, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/-/versions.json", timeout=2)
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                time.sleep(0.2)
        html = urllib.request.urlopen(base + "/-/compare?companies=Acme+Retail,Globex+Bank", timeout=30).read().decode()
        assert 'id="pc-grid"' in html and "&lt;script&gt;" in html
        rows = json.loads(urllib.request.urlopen(base + "/corpus/restrictiveness.json?_shape=array", timeout=30).read())
        assert [r["company"] for r in rows][0] == "Acme Retail"
        plugins = json.loads(urllib.request.urlopen(base + "/-/plugins.json", timeout=30).read())
        assert {"policycorpus", "datasette-vega"} <= {p["name"] for p in plugins}
        hooks = {h for p in plugins if p["name"] == "policycorpus" for h in p["hooks"]}
        assert {"prepare_connection", "register_routes", "asgi_wrapper"} <= hooks
        refused = urllib.request.urlopen(base + "/corpus.json?" + urlencode({"sql": "select hex(fts3_tokenizer('simple'))"}))
    except urllib.error.HTTPError as exc:
        assert exc.code == 400 and "not authorized" in exc.read().decode()
    else:
        raise AssertionError(f"fts3_tokenizer answered {refused.status}")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_policy_versions_link_to_what_changed(client, corpus):
    old, new = snapshot_ids(corpus, "Acme Retail")
    html = get(client, "/corpus/policy_versions").text
    assert f'old_snapshot={old}&amp;new_snapshot={new}"' in html and "snapshot_changes?document=" in html


def test_the_corpus_is_served_as_corpus_whatever_the_file_name(tmp_path):
    from publish.server import database_name, make_datasette

    assert database_name(tmp_path / "my-clients-2026.db") == "corpus"
    path = tmp_path / "my-clients-2026.db"
    open_db(path).conn.close()
    ds = make_datasette(path)
    assert list(ds.databases) == ["corpus"] or "corpus" in ds.databases
    html = build_metadata(database_name(path))["description_html"]
    assert "/corpus/policies" in html


def test_serve_reports_a_port_in_use():
    import socket

    from policycorpus.options import UserError
    from publish.commands import bind_socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"port {port} on 127.0.0.1 is in use"):
            bind_socket("127.0.0.1", port)
    sock = bind_socket("127.0.0.1", 0)
    assert sock.getsockname()[1] > 0
    sock.close()


def test_serve_and_publish_refuse_a_file_that_is_not_a_corpus(tmp_path):
    from policycorpus.cli import cli

    path = tmp_path / "notes.db"
    path.write_bytes(b"these are notes, not an SQLite database" * 100)
    for args in (["serve", "--db", str(path)], ["publish", "--db", str(path), "--out", str(tmp_path / "out")]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1 and "not a PolicyCorpus corpus" in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert path.read_bytes().startswith(b"these are notes")
