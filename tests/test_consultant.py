"""Issue 16 on a small hand-made corpus: three-state cells, documents as columns, names people use,
the one-page summary and the Word, PowerPoint, PDF and XLSX deliverables."""

from __future__ import annotations

import json
import shutil

import pytest

from policycorpus.db import open_db

from corpora import POLICIES, add_policy, build_corpus
from corpora import run_cli as run

CHROMIUM = shutil.which("chromium") or shutil.which("google-chrome")
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.fixture
def corpus(tmp_path):
    path = build_corpus(tmp_path / "corpus.db")
    db = open_db(path)
    db["companies"].update(1, {"name": "Acme Bank plc (UK retail)"})  # a long name, as imports give them
    # a second, weaker document of Bolt: a press kit page (low policy score) whose clauses score weakly
    add_policy(db, "Bolt Bank", [
        ("Journalists can download our logo from the press kit page.", "information", ["brand_voice"]),
        ("Our press office answers media questions on weekdays.", "information", ["spokesperson"]),
    ], url="https://bolt-bank.example/press-kit")
    doc = db["documents"].get(db.execute("select max(id) from documents").fetchone()[0])
    db["documents"].update(doc["id"], {"policy_score": 0.2, "title": "Bolt press kit"})
    db.execute("update documents set policy_score = 0.9 where policy_score is null")
    db.execute("update tags set score = 0.45 where clause_id in (select id from clauses where document_id = ?)", [doc["id"]])
    db.conn.commit()
    return path


# ------------------------------------------------------------------ cell_state


def test_cell_state_rule_and_evidence():
    from analysis.compare import cell_state

    assert cell_state([]) == ("absent", 0.0, None)
    assert cell_state([(0.2, "weak"), (0.29, "weaker")]) == ("absent", 0.29, None)
    assert cell_state([(0.31, "a"), (0.59, "b")]) == ("uncertain", 0.59, "b")
    # the evidence is the strongest clause, never a weak one listed first
    assert cell_state([(0.35, "weak"), (0.95, "strong"), (0.6, "mid")]) == ("covered", 0.95, "strong")
    assert cell_state([(0.6, "edge")]) == ("covered", 0.6, "edge")


def test_uncertain_cells_are_marked_on_the_grid_rows(corpus):
    from analysis.compare import compare_companies
    from analysis.render import to_csv, to_html, to_markdown
    from policycorpus.names import find_companies

    db = open_db(corpus)
    comp = compare_companies(db, find_companies(db, ["bolt"]), all_documents=True)
    cell = comp.cells["Bolt Bank"]["brand_voice"]
    assert (cell.state, cell.score, cell.count) == ("uncertain", 0.45, 1)
    assert cell.evidence["document"] == "Bolt press kit"
    # spokesperson: the strong policy clause (0.9) is the evidence, not the press-kit clause (0.45)
    spokes = comp.cells["Bolt Bank"]["spokesperson"]
    assert spokes.state == "covered" and spokes.evidence["text"].startswith("Refer journalists")
    assert [c["score"] for c in comp.clauses["spokesperson"]["Bolt Bank"]] == [0.9, 0.45]
    md = to_markdown(comp)
    brand_row = next(line for line in md.splitlines() if "(`brand_voice`)" in line)
    assert "**? check 1**" in brand_row and "? check 0.45" in brand_row
    page = to_html(comp)
    assert '<span class="check">? check 1</span>' in page and "check by hand" in page
    assert "? check" in to_csv(comp) or ",check," in to_csv(comp)


# ------------------------------------------------------------------ documents as columns


def test_main_document_is_chosen_and_the_others_listed(corpus):
    from analysis.compare import compare_companies
    from analysis.render import to_markdown
    from policycorpus.names import find_companies

    db = open_db(corpus)
    comp = compare_companies(db, find_companies(db, ["bolt", "acme"]))
    bolt = comp.companies[0]
    assert bolt.name == "Bolt Bank" and [d["title"] for d in bolt.documents] == ["Bolt Bank policy"]
    assert "main employee policy of 2 documents" in bolt.choice
    assert [o["title"] for o in bolt.other_documents] == ["Bolt press kit"]
    assert comp.cells["Bolt Bank"]["brand_voice"].state == "absent"  # the press kit is not merged in
    md = to_markdown(comp)
    assert "not compared: Bolt press kit" in md and "--document" in md


def test_a_document_compared_on_its_own(corpus, tmp_path):
    db = open_db(corpus)
    key = db.execute("select key from documents where title = 'Bolt press kit'").fetchone()[0]
    for ref in (key, "bolt:press kit", "Bolt Bank:Bolt press"):
        data = json.loads(run("compare", "acme", "--document", ref, "--format", "json", "--db", corpus).output
                          if ref == key else
                          run("compare", "acme", ref, "--format", "json", "--db", corpus).output)
        names = [c["name"] for c in data["companies"]]
        assert names == ["Acme Bank plc (UK retail)", "Bolt Bank: Bolt press kit"], ref
        assert data["cells"]["Bolt Bank: Bolt press kit"]["brand_voice"]["state"] == "uncertain"
    bad = run("compare", "bolt:annual report", "--db", corpus, ok=False)
    assert bad.exit_code == 1 and "Bolt Bank" in bad.output and "Traceback" not in bad.output


def test_every_quoted_clause_names_its_document(corpus, tmp_path):
    out = tmp_path / "out"
    run("compare", "acme", "bolt", "cobalt", "--format", "json", "--format", "md", "-o", out, "--db", corpus)
    data = json.loads((tmp_path / "out.json").read_text())
    for cells in data["cells"].values():
        for cell in cells.values():
            if cell["evidence"]:
                assert cell["evidence"]["document"].endswith("policy") and cell["evidence"]["url"].startswith("https://")
    for by in data["clauses"].values():
        for clauses in by.values():
            assert all(c["document"] and c["source"] for c in clauses)


# ------------------------------------------------------------------ names


def test_names_people_type(corpus):
    from policycorpus.errors import InputError, NotFoundError
    from policycorpus.names import find_companies

    db = open_db(corpus)
    assert [r["name"] for r in find_companies(db, ["ACME", "bolt", "cobalt credit", "Delta Savngs", "echo-union"])] == [
        "Acme Bank plc (UK retail)", "Bolt Bank", "Cobalt Credit", "Delta Savings", "Echo Union"]
    with pytest.raises(NotFoundError, match=r"did you mean 'Cobalt Credit'"):
        find_companies(db, ["Cobolt"])
    with pytest.raises(NotFoundError, match="unknown company 'zzzz'"):
        find_companies(db, ["zzzz"])
    db["companies"].insert({"name": "Acme Insurance", "slug": "acme-insurance"})
    with pytest.raises(NotFoundError, match="ambiguous: did you mean"):
        find_companies(db, ["acme"])
    with pytest.raises((InputError, NotFoundError), match="too long"):
        find_companies(db, ["x" * 500])


def test_alias_display_name_and_groups(corpus, tmp_path):
    out = run("companies", "alias", "acme bank", "Acme", "--display", "--db", corpus).output
    assert "shown as 'Acme'" in out
    run("companies", "alias", "cobalt", "CC", "--db", corpus)
    clash = run("companies", "alias", "bolt", "CC", "--db", corpus, ok=False)
    assert clash.exit_code == 1 and "already names 'Cobalt Credit'" in clash.output
    assert "added Acme Bank plc (UK retail), Cobalt Credit" in run(
        "companies", "group", "add", "my peers", "acme", "cc", "--db", corpus).output
    missing = run("companies", "group", "add", "my peers", "nobody", "--db", corpus, ok=False)
    assert missing.exit_code == 1 and "unknown company 'nobody'" in missing.output
    listing = run("companies", "list", "--db", corpus).output
    assert "shown as Acme; also Acme" in listing and "my peers" in listing
    data = json.loads(run("compare", "--peer-group", "my peers", "--format", "json", "--db", corpus).output)
    assert [c["name"] for c in data["companies"]] == ["Acme", "Cobalt Credit"]  # the display name in reports
    assert data["companies"][0]["company"] == "Acme Bank plc (UK retail)"
    md = run("compare", "--peer-group", "my peers", "--db", corpus).output
    assert "| Acme |" in md.replace("| Acme | Cobalt", "| Acme |") and "Acme Bank plc" not in md.split("## Grid")[1]


def test_company_csv_without_homepage(tmp_path):
    csv_path = tmp_path / "peers.csv"
    csv_path.write_text("name,peer_group\nImported Co,agencies\nCrawled Co,agencies\n")
    db_path = tmp_path / "c.db"
    run("companies", "import", csv_path, "--db", db_path)
    rows = {r["name"]: r for r in open_db(db_path)["companies"].rows}
    assert rows["Imported Co"]["homepage"] is None and json.loads(rows["Imported Co"]["peer_groups"]) == ["agencies"]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,homepage\nX,not a url\n")
    assert "not an http(s) URL" in run("companies", "import", bad, "--db", db_path, ok=False).output


# ------------------------------------------------------------------ outputs


def _client(tmp_path):
    draft = tmp_path / "zephyr-draft.md"
    draft.write_text("# Zephyr policy\n\nThis policy applies to all employees and contractors of Zephyr.\n\n"
                     "Do not share confidential information about members on social media.\n", encoding="utf-8")
    return draft


def test_no_local_paths_and_no_policy_dates(corpus, tmp_path):
    out = tmp_path / "out"
    run("compare", "--peer-group", "banks", "--client", _client(tmp_path), "--format", "all", "-o", f"{out}/",
        "--db", corpus)
    texts = {p.name: p.read_text(encoding="utf-8") for p in out.iterdir() if p.suffix in (".md", ".html", ".csv", ".json")}
    assert set(texts) == {"compare.md", "compare.html", "compare.summary.html", "compare.csv", "compare.json"}
    for name, text in texts.items():
        assert "file:" not in text and str(tmp_path) not in text, name
        assert "policy date" not in text.lower() and "snapshot 2026" not in text, name
    assert "collected 2026-03-01" in texts["compare.md"]
    for name in ("compare.docx", "compare.pptx", "compare.xlsx"):
        import zipfile

        with zipfile.ZipFile(out / name) as z:
            blob = " ".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
        assert "file:" not in blob and str(tmp_path) not in blob, name


def test_one_modality_vocabulary_in_every_format(corpus, tmp_path):
    from docx import Document

    out = tmp_path / "out"
    run("compare", "acme", "echo", "--format", "all", "-o", f"{out}/", "--db", corpus)
    for name in ("compare.md", "compare.html", "compare.csv"):
        assert "prohibition (must not)" in (out / name).read_text(), name
    from openpyxl import load_workbook

    wb = load_workbook(out / "compare.xlsx")
    assert any(c.value == "prohibition (must not)" for row in wb["confidentiality"].iter_rows() for c in row)
    doc = Document(out / "compare.docx")
    table_text = " ".join(c.text for t in doc.tables for r in t.rows for c in r.cells)
    assert "✓ covered" in table_text and "— not found" in table_text


def test_xlsx_reads_well(corpus, tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "g.xlsx"
    run("compare", "--peer-group", "banks", "--client", _client(tmp_path), "--format", "xlsx", "-o", path, "--db", corpus)
    wb = load_workbook(path)
    assert wb.sheetnames[:4] == ["Summary", "Grid", "Scores", "Gaps"]
    for ws in wb:
        if ws.title == "Quality":
            continue
        assert ws.freeze_panes in ("A2", "D2"), ws.title
        widths = [ws.column_dimensions[c].width for c in "ABC"]
        assert all(w and w >= 9 for w in widths), (ws.title, widths)
        assert all(c.alignment.wrap_text for c in ws[1] if c.value), ws.title
    scores = wb["Scores"]
    head = [c.value for c in scores[1]]
    col = head.index("Restrictiveness") + 1
    assert scores.cell(row=2, column=col).number_format == "0%" and 0 < scores.cell(row=2, column=col).value < 1
    gaps = wb["Gaps"]
    assert gaps.cell(row=2, column=3).number_format == "0%" and gaps.cell(row=2, column=7).number_format == "0.00"
    conf = wb["confidentiality"]
    rows = list(conf.iter_rows(min_row=2, values_only=True))
    companies = [r[0] for r in rows]
    assert companies[-1].startswith("Draft:") and companies[:-1] == sorted(companies[:-1], key=str.lower)
    assert all(r[1] and r[2] in ("covered", "check", "not found") and isinstance(r[3], float) for r in rows)
    assert conf.cell(row=2, column=4).number_format == "0.00"


def test_category_side_by_side(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the columns wrap at the terminal's width: give them room for the checks
    out = run("compare", "acme", "bolt", "--client", _client(tmp_path), "--client-name", "Zephyr",
              "--category", "confidentiality", "--db", corpus).output
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("Acme Bank plc"))
    assert "│ Bolt Bank" in header and "│ Zephyr" in header
    assert "Do not share confidential" in out and "You must not disclose" in out and "members on social" in out
    assert "unknown category 'nope'" in run("compare", "acme", "--category", "nope", "--db", corpus, ok=False).output
    assert "drop --format" in run("compare", "acme", "--category", "scope", "-f", "html", "--db", corpus, ok=False).output
    saved = tmp_path / "conf.txt"
    run("compare", "acme", "bolt", "--category", "confidentiality", "-o", saved, "--db", corpus)
    assert "You must not disclose" in saved.read_text()


def test_summary_is_its_own_output_and_tops_every_report(corpus, tmp_path):
    page = run("compare", "--peer-group", "banks", "--client", _client(tmp_path), "--format", "summary",
               "--db", corpus).output
    assert page.count('<section class="exec"') == 1 and "Top gaps in the draft" in page
    assert "Restrictiveness is the share" in page and "check by hand" in page and "not found" in page
    full = run("compare", "--peer-group", "banks", "--format", "html", "--db", corpus).output
    assert full.index('id="summary"') < full.index("<h2 class=\"page-break\">Overview")
    md = run("compare", "--peer-group", "banks", "--db", corpus).output
    assert md.index("## Executive summary") < md.index("## Grid")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: the PDF checks need it")
def test_pdf_and_one_page_summary(corpus, tmp_path):
    from pypdf import PdfReader

    from analysis.compare import compare_companies
    from analysis.render import html_to_pdf, to_summary_html
    from policycorpus.names import find_companies

    db = open_db(corpus)
    comp = compare_companies(db, find_companies(db, list(POLICIES)[1:] + ["acme"]))
    for paper in ("a4", "letter"):
        html_to_pdf(to_summary_html(comp, paper), tmp_path / f"s-{paper}.pdf")
        assert len(PdfReader(tmp_path / f"s-{paper}.pdf").pages) == 1, paper
    run("compare", "--peer-group", "banks", "--format", "pdf", "-o", tmp_path / "r.pdf", "--db", corpus)
    assert len(PdfReader(tmp_path / "r.pdf").pages) >= 2


def test_pdf_without_chromium_is_one_line(corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run("compare", "acme", "--format", "pdf", "-o", tmp_path / "r.pdf", "--db", corpus, ok=False)
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "needs Chromium" in result.output


@pytest.mark.slow
@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed: the conversion check needs it")
def test_docx_and_pptx_open_and_convert(corpus, tmp_path):
    from corpora import check_office_files

    out = tmp_path / "out"
    run("compare", "--peer-group", "banks", "--client", _client(tmp_path), "--format", "docx", "--format", "pptx",
        "-o", out, "--db", corpus)
    check_office_files(tmp_path / "out.docx", tmp_path / "out.pptx", tmp_path)



def test_side_by_side_never_prints_terminal_escapes():
    from analysis.compare import compare_clauses
    from analysis.corpus import CorpusCategory, CorpusClause
    from analysis.render import side_by_side

    cats = [CorpusCategory("confidentiality", "Confidential information", "Conduct", 5, 0)]
    hostile = CorpusClause(1, 1, "Evil\x1b]0;title\x07 Co", 1, "https://evil.example/p", "2026-01-01", 0,
                     "Keep secrets\x1b[2J\x1b[31m safe.", modality="obligation", tags={"confidentiality": 0.9})
    text = side_by_side(compare_clauses({"Evil\x1b]0;title\x07 Co": [hostile]}, cats), "confidentiality")
    assert "\x1b" not in text and "\x07" not in text
    assert "Keep secrets [2J [31m safe." in text
