"""Peer comparison: the grid, scores, gap list and the five output formats, on a small hand-made corpus.

The corpus is built with the real store (save_document) and direct clause/tag
rows with texts written for these tests, so the expected grid is known.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from policycorpus.db import open_db

from corpora import (  # noqa: E402  (tests/ is on sys.path)
    FORMULA,
    POLICIES,
    add_policy,
    demo_expectations,
    fill_categories,
)
from corpora import run_cli as run  # noqa: E402


def test_grid_matches_the_policies(corpus):
    from analysis.compare import compare_companies
    from policycorpus.companies import find_companies

    db = open_db(corpus)
    comp = compare_companies(db, find_companies(db, list(POLICIES)))
    assert comp.names == list(POLICIES)
    for company, clauses in POLICIES.items():
        expected = {c for _, _, cats in clauses for c in cats}
        covered = {cid for cid, cell in comp.cells[company].items() if cell.state == "covered"}
        assert covered == expected, company
    acme = comp.cells["Acme Bank"]
    assert acme["confidentiality"].modality == "prohibition" and acme["confidentiality"].count == 1
    assert acme["confidentiality"].clause["url"] == "https://acme-bank.example/social-media-policy"
    assert acme["confidentiality"].clause["collected"] == "2026-03-01"
    assert acme["confidentiality"].clause["document"] == "Acme Bank policy"
    assert acme["confidentiality"].state == "covered" and acme["confidentiality"].score == 0.9
    assert acme["scope"].modality == "obligation"
    assert acme["political"].state == "absent" and acme["political"].clause is None
    assert set(comp.common) == {"scope", "confidentiality"}
    assert comp.unique == {"participation": "Bolt Bank", "privacy": "Bolt Bank", "security": "Cobalt Credit",
                           "training": "Cobalt Credit", "work_time_use": "Delta Savings", "reporting": "Delta Savings",
                           "political": "Echo Union", "employee_rights": "Echo Union"}
    assert set(comp.partial) == {"spokesperson", "respect", "consequences", "disclosure"}
    assert "escalation" in comp.absent and "monitoring" in comp.absent
    # grid rows follow the taxonomy's groups
    assert comp.groups == ["Who", "When", "Identity", "Routing", "Reporting", "Conduct", "Governance"]
    order = [c["group"] for c in comp.categories]
    assert order == sorted(order, key=comp.groups.index)


def test_scores(corpus):
    from analysis.compare import compare_companies
    from policycorpus.companies import find_companies

    db = open_db(corpus)
    comp = compare_companies(db, find_companies(db, ["Acme Bank", "Delta Savings"]))
    acme, delta = comp.companies
    assert acme.clauses == 6 and delta.clauses == 4
    assert acme.restrictiveness == round(5 / 6, 3)  # 3 prohibitions + 2 obligations of 6
    assert delta.restrictiveness == 0.5
    assert acme.restrictiveness_by_group["Conduct"] == 1.0  # confidentiality and respect are prohibitions
    assert acme.restrictiveness_by_group["Governance"] == 0.0
    assert acme.restrictiveness_by_group["Routing"] is None
    assert acme.words > delta.words > 20
    assert 0 < acme.readability < 100


def test_representative_clause_is_the_best_scored(tmp_path):
    from analysis.compare import compare_companies
    from policycorpus.companies import find_companies

    db = open_db(tmp_path / "c.db")
    fill_categories(db)
    add_policy(db, "Foxtrot", [
        ("Tell the press office about any journalist who contacts you.", "obligation", ["escalation", "spokesperson"]),
        ("Only named spokespeople may comment to the media on our behalf.", "prohibition", ["spokesperson"]),
    ])
    comp = compare_companies(db, find_companies(db, ["Foxtrot"]))
    cell = comp.cells["Foxtrot"]["spokesperson"]
    assert cell.count == 2 and cell.modality == "prohibition"
    assert cell.clause["text"].startswith("Only named spokespeople")  # score 0.9 beats 0.8


def test_only_the_latest_snapshot_counts(tmp_path):
    from analysis.compare import compare_companies
    from policycorpus.companies import find_companies

    db = open_db(tmp_path / "c.db")
    fill_categories(db)
    add_policy(db, "Golf", [("Our old rule: never mention politics at all online.", "prohibition", ["political"])],
               fetched_at="2025-01-01T00:00:00+00:00")
    add_policy(db, "Golf", [("Everyone at Golf may use social media in their own name.", "permission", ["scope"])],
               fetched_at="2026-01-01T00:00:00+00:00")
    comp = compare_companies(db, find_companies(db, ["Golf"]))
    covered = {c for c, cell in comp.cells["Golf"].items() if cell.state == "covered"}
    assert covered == {"scope"}
    assert comp.cells["Golf"]["scope"].clause["collected"] == "2026-01-01"


def test_all_formats_via_cli(corpus, tmp_path):
    out = tmp_path / "out"
    result = run("compare", *POLICIES, "--format", "all", "-o", f"{out}/", "--db", corpus)
    for fmt in ("md", "html", "xlsx", "csv", "json"):
        assert (out / f"compare.{fmt}").stat().st_size > 500, fmt
    assert "Wrote" in result.output
    data = json.loads((out / "compare.json").read_text())
    assert [c["name"] for c in data["companies"]] == list(POLICIES)
    assert data["cells"]["Echo Union"]["political"]["modality"] == "prohibition"
    assert data["cells"]["Echo Union"]["political"]["state"] == "covered"
    md = (out / "compare.md").read_text()
    assert "## Grid" in md and "| **Conduct** |" in md
    assert "[Acme Bank policy](https://acme-bank.example/social-media-policy), collected 2026-03-01" in md
    # peer group selection gives the same companies
    pg = run("compare", "--peer-group", "banks", "--format", "json", "--db", corpus)
    assert [c["name"] for c in json.loads(pg.output)["companies"]] == sorted(POLICIES)


def test_html_escapes_policy_text(corpus, tmp_path):
    out = tmp_path / "grid.html"
    run("compare", *POLICIES, "--format", "html", "-o", out, "--db", corpus)
    page = out.read_text()
    assert "<script>alert" not in page and "<b>customer</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<script" not in page.lower()  # self-contained, no script at all
    assert "<link" not in page.lower() and "src=" not in page.lower()  # no external assets
    assert "Coverage at a glance" in page and "check by hand" in page  # the heatmap and its legend


def test_markdown_escapes_policy_text(corpus):
    md = run("compare", *POLICIES, "--db", corpus).output
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_spreadsheet_cells_are_neutralised(corpus, tmp_path):
    from openpyxl import load_workbook

    xlsx = tmp_path / "grid.xlsx"
    run("compare", *POLICIES, "--format", "xlsx", "-o", xlsx, "--db", corpus)
    wb = load_workbook(xlsx)
    assert wb.sheetnames[:3] == ["Summary", "Grid", "Scores"]
    assert "confidentiality" in wb.sheetnames and "employee_rights" in wb.sheetnames
    values = [c.value for ws in wb for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    formulas = [c for ws in wb for row in ws.iter_rows() for c in row if c.data_type == "f"]
    assert not formulas
    training = wb["training"]
    header = [c.value for c in training[1]]
    row = next(r for r in training.iter_rows(min_row=2, values_only=True) if r[0] == "Cobalt Credit")
    assert row[header.index("Clause")] == "'" + FORMULA
    assert not any(v.startswith(("=", "+", "-", "@")) for v in values)
    # the grid cell of Cobalt/training holds the formula text, quoted
    grid = wb["Grid"]
    names = [c.value for c in grid[1]]
    row = next(r for r in grid.iter_rows(min_row=2) if r[1].value.endswith("(training)"))
    assert not row[2].value  # no cell of the row to check
    assert FORMULA in row[names.index("Cobalt Credit")].value
    # per-category sheet: every company's clauses, sorted by company, with document, state and confidence
    conf = wb["confidentiality"]
    assert [c.value for c in conf[1]][:4] == ["Company", "Document", "Cell", "Confidence"]
    rows = list(conf.iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == sorted(POLICIES)
    assert rows[0][1] == "Acme Bank policy" and rows[0][2] == "covered" and rows[0][3] == 0.9

    text = run("compare", *POLICIES, "--format", "csv", "--db", corpus).output
    rows = list(csv.reader(io.StringIO(text)))
    flat = [v for r in rows for v in r]
    assert "'" + FORMULA in flat
    assert not any(v.startswith(("=", "+", "-", "@")) for v in flat)


def test_neutralise():
    from analysis.render import neutralise, safe_url

    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("+44 20") == "'+44 20"
    assert neutralise("-x") == "'-x"
    assert neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise("plain") == "plain" and neutralise(3) == 3
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://a.example/x") == "https://a.example/x"


def test_user_errors(corpus, tmp_path):
    bad = run("compare", "Nobody Inc", "--db", corpus, ok=False)
    assert bad.exit_code == 1 and "unknown company 'Nobody Inc'" in bad.output
    assert "needs -o" in run("compare", "Acme Bank", "--format", "xlsx", "--db", corpus, ok=False).output
    assert "peer group" in run("compare", "--peer-group", "nope", "--db", corpus, ok=False).output
    assert run("compare", "--db", tmp_path / "missing.db", "Acme Bank", ok=False).exit_code == 1


def test_compare_clauses_gap_list():
    from analysis.compare import compare_clauses
    from analysis.corpus import CorpusCategory, CorpusClause

    cats = [CorpusCategory("scope", "Scope", "Who", 0, 0), CorpusCategory("privacy", "Privacy", "Conduct", 5, 1),
            CorpusCategory("security", "Security", "Conduct", 5, 2)]

    def clause(i, company, text, modality, tags):
        return CorpusClause(i, 0, company, 0, f"https://{company}.example/p", "2026-01-02T00:00:00", i, text,
                      modality=modality, tags={t: 0.9 for t in tags})

    peers = {
        "a": [clause(1, "a", "Applies to all staff.", "information", ["scope"]),
              clause(2, "a", "Never post photos of patients.", "prohibition", ["privacy"])],
        "b": [clause(3, "b", "Applies to volunteers too.", "information", ["scope"]),
              clause(4, "b", "Ask before posting a colleague's photo.", "obligation", ["privacy"])],
        "c": [clause(5, "c", "Use two-factor authentication.", "obligation", ["security"])],
    }
    draft = ("Draft", [clause(-1, "Draft", "This policy applies to employees.", "information", ["scope"])])
    comp = compare_clauses(peers, cats, client=draft)
    assert comp.names[-1] == "Draft" and comp.companies[-1].is_client
    assert [g.category for g in comp.gaps] == ["privacy"]  # 2 of 3 peers; security only 1 of 3
    gap = comp.gaps[0]
    assert gap.peers == ["a", "b"] and gap.peer_share == round(2 / 3, 3)
    assert [e["text"] for e in gap.examples] == ["Never post photos of patients.", "Ask before posting a colleague's photo."]
    # the draft does not change what is common to the peers
    assert comp.common == [] and comp.unique == {"security": "c"}


DRAFT_MD = """# Zephyr Mutual social media policy

This policy applies to all employees and contractors of Zephyr Mutual.

Do not share confidential information about members or internal figures on social media.
"""

DRAFT_HTML = """<html><head><title>Draft</title></head><body><main><h1>Zephyr draft policy</h1>
<p>This policy applies to all employees and contractors of Zephyr Mutual.</p>
<p>Do not share confidential information about members or internal figures on social media.</p>
<p>&lt;script&gt;alert(1)&lt;/script&gt; must never appear in a post.</p>
</main></body></html>"""


@pytest.mark.parametrize("suffix, body", [(".md", DRAFT_MD), (".txt", DRAFT_MD.replace("# ", "")), (".html", DRAFT_HTML)])
def test_client_draft_column_and_gaps(corpus, tmp_path, suffix, body):
    """The draft is extracted, segmented and tagged by the project's tagger, then compared."""
    draft = tmp_path / f"zephyr-draft{suffix}"
    draft.write_text(body, encoding="utf-8")
    result = run("compare", "--peer-group", "banks", "--client", draft, "--format", "json", "--db", corpus)
    data = json.loads(result.output)
    name = f"Draft: zephyr-draft{suffix}"
    assert data["client"] == name and data["companies"][-1]["is_client"]
    covered = {c for c, cell in data["cells"][name].items() if cell["state"] == "covered"}
    assert {"scope", "confidentiality"} <= covered
    assert "disclosure" not in covered
    gaps = {g["category"]: g for g in data["gaps"]}
    # disclosure: 3 of the 5 peers have it, the draft does not
    assert gaps["disclosure"]["peers"] == ["Acme Bank", "Bolt Bank", "Cobalt Credit"]
    assert gaps["disclosure"]["examples"][0]["text"].startswith("When you mention Acme")
    assert "scope" not in gaps and "confidentiality" not in gaps
    assert all(g["peer_share"] >= 0.5 for g in data["gaps"])
    # the corpus is untouched: drafts are not stored
    assert open_db(corpus)["documents"].count == len(POLICIES)
    if suffix == ".html":
        page = tmp_path / "g.html"
        run("compare", "--peer-group", "banks", "--client", draft, "--format", "html", "-o", page, "--db", corpus)
        html = page.read_text()
        assert "Gaps in Draft: zephyr-draft.html" in html and "<script>alert(1)" not in html


def test_client_draft_pdf(corpus, tmp_path):
    from demo.make_pdf import render

    draft = tmp_path / "zephyr.pdf"
    draft.write_bytes(render(DRAFT_MD, header="Zephyr Mutual"))
    data = json.loads(run("compare", "--peer-group", "banks", "--client", draft, "--client-name", "Zephyr draft",
                          "--format", "json", "--db", corpus).output)
    # a two-sentence draft: the calibrated cells find both categories, covered or to check, never absent
    found = {c for c, cell in data["cells"]["Zephyr draft"].items() if cell["state"] != "absent"}
    assert {"scope", "confidentiality"} <= found
    assert "disclosure" in {g["category"] for g in data["gaps"]}


def test_client_draft_errors(corpus, tmp_path):
    odd = tmp_path / "draft.docx"
    odd.write_bytes(b"PK")
    result = run("compare", "Acme Bank", "--client", odd, "--db", corpus, ok=False)
    assert result.exit_code == 1 and ".md, .txt, .html or .pdf" in result.output
    empty = tmp_path / "empty.md"
    empty.write_text("   \n")
    result = run("compare", "Acme Bank", "--client", empty, "--db", corpus, ok=False)
    assert result.exit_code == 1 and "cannot read the draft" in result.output


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
def test_demo_peer_group_compare(demo_corpus, tmp_path):
    expectations = demo_expectations("regional-banks")
    assert len(expectations) == 5
    out = tmp_path / "out"
    for fmt in ("md", "html", "xlsx", "json"):
        run("compare", "--peer-group", "regional-banks", "--format", fmt, "-o", out / f"banks.{fmt}", "--db", demo_corpus)
        assert (out / f"banks.{fmt}").stat().st_size > 2000
    data = json.loads((out / "banks.json").read_text())
    assert sorted(c["name"] for c in data["companies"]) == sorted(expectations)
    # `tag` copied the shipped model's quality card, so the report says how far each row can be trusted
    from taxonomy.pipeline import get_model

    assert data["quality"]["model_version"] == get_model().version and data["quality"]["reference"] == "gold"
    assert "How far to trust the grid" in (out / "banks.md").read_text()

    # The grid says exactly what the tagger stored for each company's current policy ...
    db = open_db(demo_corpus)
    for name in expectations:
        rows = db.execute("""select t.category, count(*) from clauses cl
                             join documents d on d.latest_snapshot_id = cl.snapshot_id
                             join companies co on co.id = cl.company_id
                             join tags t on t.clause_id = cl.id and t.model_version = cl.model_version
                             where co.name = ? and cl.kind = 'clause' group by t.category""", [name]).fetchall()
        stored = dict(rows)
        grid = {c: cell["count"] for c, cell in data["cells"][name].items() if cell["count"]}
        assert grid == stored, name
        for cat, cell in data["cells"][name].items():
            if cell["state"] != "absent":
                assert cell["evidence"]["url"].startswith("http://127.0.0.") and cell["evidence"]["collected"]
                # the cell's score is the calibrated probability of coverage; the evidence is the strongest clause
                assert cell["evidence"]["document"] and 0 <= cell["score"] <= 1 and cell["evidence"]["score"] > 0
                strongest = db.execute(
                    "select max(json_extract(cs.scores, '$.' || ?)) from current_segments cs "
                    "join companies co on co.id = cs.company_id where co.name = ? and cs.kind = 'clause'",
                    [cat, name]).fetchone()[0]
                assert cell["evidence"]["score"] == round(strongest, 3)
    # ... and that agrees with what each demo policy is known to contain (the tagger is allowed a few misses).
    expected = absent = found = wrong = 0
    for name, (exp, ab) in expectations.items():
        covered = {c for c, cell in data["cells"][name].items() if cell["state"] == "covered"}
        expected += len(exp)
        absent += len(ab)
        found += len(exp & covered)
        wrong += len(ab & covered)
    assert found / expected >= 0.75, (found, expected)
    assert wrong / absent <= 0.25, (wrong, absent)
    expected_everywhere = set.intersection(*(exp for exp, _ in expectations.values()))
    assert len(set(data["common"]) & expected_everywhere) >= 2, (data["common"], expected_everywhere)
    for cat in data["common"]:
        assert all(data["cells"][n][cat]["state"] == "covered" for n in expectations)


@pytest.mark.slow  # builds the demo crawl
def test_demo_hostile_text_is_neutralised(demo_corpus, tmp_path):
    """Quillsoft's policy quotes <script> and starts a paragraph with =HYPERLINK(...)."""
    from openpyxl import load_workbook

    names = ["Quillsoft GmbH", "Harbourline Bank", "Tallis Coffee Roasters", "Vantage Freight B.V.", "BrightCart"]
    stem = tmp_path / "five"
    run("compare", *names, "--format", "html", "--format", "xlsx", "--format", "csv", "-o", stem, "--db", demo_corpus)
    page = (tmp_path / "five.html").read_text()
    at = page.lower().find("<script")
    assert at < 0, page[max(0, at - 300) : at + 100]
    hostile = [r[0] for r in open_db(demo_corpus).execute("select text from clauses where text like '%<script>%'")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, hostile
    wb = load_workbook(tmp_path / "five.xlsx")
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    assert not [c for c in cells if c.data_type == "f"]
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert any("=HYPERLINK(" in v for v in texts)
    assert not any(v.startswith(("=", "+", "-", "@")) for v in texts)
    rows = list(csv.reader(io.StringIO((tmp_path / "five.csv").read_text())))
    assert not any(v.startswith(("=", "+", "-", "@")) for r in rows for v in r)


def test_uncategorised_clauses_are_listed(tmp_path):
    from analysis.compare import compare_companies
    from analysis.render import to_html, to_markdown
    from policycorpus.companies import find_companies

    db = open_db(tmp_path / "c.db")
    fill_categories(db)
    add_policy(db, "Hotel", [("Staff may post about Hotel events on their own accounts.", "permission", ["participation"]),
                             ("Lockers on the <b>second</b> floor are emptied every Friday.", "information", [])])
    comp = compare_companies(db, find_companies(db, ["Hotel"]))
    assert [c["text"] for c in comp.uncategorised["Hotel"]] == ["Lockers on the <b>second</b> floor are emptied every Friday."]
    assert comp.companies[0].clauses == 2 and comp.companies[0].covered == 1
    assert "| Clauses in no category | 1 |" in to_markdown(comp)
    page = to_html(comp)
    assert "Lockers on the &lt;b&gt;second&lt;/b&gt; floor" in page and "<b>second" not in page


def _quality_card(version: str, weak: str, description: str) -> dict:
    """A quality card in which every category but ``weak`` is found reliably at document level."""
    figures = {c: {"precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 12, "coverage_precision": 0.9,
                   "coverage_recall": 0.9, "coverage_f1": 0.9, "coverage_support": 5}
               for c in ("scope", "confidentiality", "security", "political", "respect")}
    figures[weak] = {**figures[weak], "f1": 0.3, "coverage_f1": 0.6}
    return {"model_version": version, "sets": {"gold": {"description": description, "units": 40, "documents": 6,
                                                        "per_category": figures}}}


def test_reports_say_how_far_to_trust_the_grid(corpus, tmp_path):
    from openpyxl import load_workbook

    from taxonomy.pipeline import store_quality_card

    db = open_db(corpus)
    plain = run("compare", *POLICIES, "--db", corpus).output
    assert "How far to trust" not in plain  # no quality card for the model that tagged these clauses
    store_quality_card(db, _quality_card("other-model", "security", "not ours"))
    assert "How far to trust" not in run("compare", *POLICIES, "--db", corpus).output

    store_quality_card(db, _quality_card("test-1", "security", '<script>alert("q")</script> =HYPERLINK("x")'))
    out = tmp_path / "out"
    run("compare", *POLICIES, "--format", "all", "-o", f"{out}/", "--db", corpus)
    md = (out / "compare.md").read_text()
    section = md.split("## How far to trust the grid")[1].split("## Sources")[0]
    assert "test-1" in section and "below 0.75" in section
    rows = {line.split("(`")[1].split("`)")[0]: line for line in section.splitlines() if "(`" in line}
    assert rows["security"].startswith("| ⚠ ") and rows["security"].endswith("| 0.60 (5 docs) | 0.30 (12 clauses) |")
    assert not rows["scope"].startswith("| ⚠") and rows["scope"].endswith("| 0.90 (5 docs) | 0.75 (12 clauses) |")
    assert rows["monitoring"].endswith("| – (0 docs) | – (0 clauses) |")  # not in the card
    assert "<script>" not in md
    data = json.loads((out / "compare.json").read_text())
    assert data["quality"]["doubtful"] == ["security"] and data["quality"]["reference"] == "gold"
    page = (out / "compare.html").read_text()
    assert "How far to trust the grid" in page and 'class="doubtful"' in page
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    sheet = load_workbook(out / "compare.xlsx")["Quality"]
    rows = list(sheet.iter_rows(min_row=4, values_only=True))
    security = next(r for r in rows if r[0].endswith("(security)"))
    assert security[1] == "yes" and security[2] == 0.6
    assert not sheet["A1"].value.startswith("=")  # the card's text is never a formula
