"""Hostile crawled content end to end: Quillsoft's policy (demo web) quotes <script>alert(1)</script> and has
a paragraph starting =HYPERLINK(...). Crawled, segmented and tagged with the real commands, it must come out
escaped in every HTML view and report and neutralised in every CSV/XLSX export."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from demo.webserver import DemoWeb
from policycorpus.db import open_db

from commandline import policycorpus

SITES = ["quillsoft", "tallis-coffee", "vantage-freight"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    db_path = str(tmp / "corpus.db")
    with DemoWeb(port=0, sites=SITES) as web:
        policycorpus("companies", "import", str(web.write_companies_csv(tmp / "c.csv")), "--db", db_path)
        hosts = [a for s in SITES for a in ("--allow-host", web.sites[s].host)]
        policycorpus("crawl", *hosts, "-q", "--db", db_path)
    policycorpus("segment", "--db", db_path)
    policycorpus("tag", "--db", db_path)
    names = [r["name"] for r in open_db(db_path)["companies"].rows]
    policycorpus("compare", *names, "--format", "all", "-o", str(tmp / "grid"), "--db", db_path)
    return {"db_path": db_path, "tmp": tmp, "grid": tmp / "grid"}


def test_hostile_text_was_crawled_as_text(corpus):
    db = open_db(corpus["db_path"])
    assert db.execute("select count(*) from clauses where text like '%<script>alert(1)</script>%'").fetchone()[0]
    assert db.execute("select count(*) from clauses where text like '=HYPERLINK(%'").fetchone()[0]


def test_compare_html_and_markdown_escape_script(corpus):
    html = corpus["grid"].with_name("grid.html").read_text()
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = corpus["grid"].with_name("grid.md").read_text()
    assert "<script>" not in md


def test_compare_json_keeps_text_verbatim(corpus):
    data = json.loads(corpus["grid"].with_name("grid.json").read_text())
    assert "<script>alert(1)</script>" in json.dumps(data, ensure_ascii=False)  # data, not a view: unchanged


def test_compare_csv_and_xlsx_neutralise_formulas(corpus):
    from openpyxl import load_workbook

    rows = list(csv.reader(io.StringIO(corpus["grid"].with_name("grid.csv").read_text())))
    assert not [c for row in rows for c in row if c.startswith(FORMULA_START)]
    workbook = load_workbook(corpus["grid"].with_name("grid.xlsx"))
    values = [c for ws in workbook for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert not [c.value for c in values if c.value.startswith(FORMULA_START)]
    assert not [c for c in values if c.data_type == "f"]
    assert any("HYPERLINK(" in c.value for c in values)


@pytest.fixture(scope="module")
def client(corpus):
    pytest.importorskip("datasette")
    from datasette.utils.testing import TestClient

    from publish.server import make_datasette, prepare_database

    prepare_database(corpus["db_path"], log=lambda msg: None)
    return TestClient(make_datasette(corpus["db_path"]))


def hostile_clause(corpus, like):
    return open_db(corpus["db_path"]).execute("select id, document_id from clauses where text like ?", [like]).fetchone()


def company_names(corpus):
    return [r["name"] for r in open_db(corpus["db_path"])["companies"].rows]


def test_datasette_pages_escape_script(corpus, client):
    clause_id, document_id = hostile_clause(corpus, "%<script>alert(1)%")
    db_name = client.ds.get_database().name
    snapshot_id = open_db(corpus["db_path"]).execute("select latest_snapshot_id from documents where id = ?",
                                                      [document_id]).fetchone()[0]
    for path in [f"/{db_name}/clauses/{clause_id}", f"/{db_name}/clauses?text__contains=alert",
                 f"/{db_name}/current_clauses?text__contains=alert", f"/-/policy/{document_id}",
                 f"/{db_name}/snapshots/{snapshot_id}", f"/{db_name}/clauses?_search=alert",
                 "/-/compare?" + "&".join(f"company={n.replace(' ', '+')}" for n in company_names(corpus))]:
        response = client.get(path)
        assert response.status == 200, path
        assert "<script>alert(1)" not in response.text, path
        if not path.startswith("/-/compare"):  # the grid shows categories, not every clause
            assert "&lt;script&gt;" in response.text, path  # shown as text (search pages highlight inside it)


def test_datasette_csv_export_neutralises_formulas(corpus, client):
    db_name = client.ds.get_database().name
    for path in [f"/{db_name}/clauses.csv?_size=max", f"/{db_name}/current_clauses.csv?_size=max&_stream=on",
                 f"/{db_name}.csv?sql=select+text+from+clauses"]:
        response = client.get(path)
        assert response.status == 200, path
        cells = [c for row in csv.reader(io.StringIO(response.text)) for c in row]
        assert any("HYPERLINK(" in c for c in cells), path
        bad = [c for c in cells if c.startswith(FORMULA_START) and not re.fullmatch(r"-?\d+(\.\d+)?", c)]
        assert not bad, (path, bad[:3])


def test_csv_rewriter_streams_across_chunk_boundaries():
    """Quoted newlines and multi-byte characters split between chunks; numbers stay numbers."""
    from publish.plugins import csv_formulas as module
    rows = [["id", "text", "score"], ["1", '=HYPERLINK("http://x","y")\nsecond line "quoted"', "-0.5"],
            ["2", "Zoë @mention", "+3"], ["3", "-dash list", "-7"], ["4", "\tTAB", "1e-3"]]
    source = io.StringIO()
    csv.writer(source, lineterminator="\r\n").writerows(rows)
    data = source.getvalue().encode("utf-8")
    for size in (1, 3, 7, 64, len(data)):
        rewriter, out = module.CsvRewriter(), b""
        for i in range(0, len(data), size):
            out += rewriter.feed(data[i:i + size])
        out += rewriter.feed(b"", final=True)
        got = list(csv.reader(io.StringIO(out.decode("utf-8"), newline="")))
        assert got == [["id", "text", "score"], ["1", "'" + rows[1][1], "-0.5"], ["2", "Zoë @mention", "+3"],
                       ["3", "'-dash list", "-7"], ["4", "'\tTAB", "1e-3"]], size
