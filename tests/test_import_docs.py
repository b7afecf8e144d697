"""`policycorpus import-docs` on real SQLite files in tmp_path."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from policycorpus.cli import cli
from policycorpus.structure import blocks_from_json

from pdfmaker import make_pdf

REALCORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "realcorpus"
needs_corpus = pytest.mark.skipif(not REALCORPUS.is_dir(), reason=f"real corpus not found at {REALCORPUS}")

MD = """---
title: Staff policy from front matter
---
# Staff social media policy

Employees must not share client information on social media.

- Say that your views are your own.
- Ask the communications team before speaking for the company.
"""
RST = """Posting rules
=============

Maintainers should keep posts about the project friendly and accurate.
"""
ADOC = """= Account guide

Volunteers who run the account must follow the code of conduct.

* Never post private messages.
"""
PHP = """<?php include 'top.php'; ?><h2>Online conduct</h2><p>Councillors must not disclose confidential business online.</p>"""
HTML = """<html><head><title>Blogging rules</title></head><body><nav><a href="/">Home page of the firm</a></nav>
<main><h1>Blogging rules</h1><p>Staff who blog about their work must make clear that they write in a personal capacity.</p></main></body></html>"""
TXT = "SOCIAL MEDIA\n\nTeam members should think before they post.\n"


def run(*args, input=None):
    return CliRunner().invoke(cli, list(map(str, args)), input=input, catch_exceptions=False)


@pytest.fixture
def policy_dir(tmp_path):
    folder = tmp_path / "policies"
    (folder / "sub").mkdir(parents=True)
    (folder / "policy.md").write_text(MD, encoding="utf-8")
    (folder / "rules.rst").write_text(RST, encoding="utf-8")
    (folder / "guide.adoc").write_text(ADOC, encoding="utf-8")
    (folder / "sub" / "conduct.php").write_text(PHP, encoding="utf-8")
    (folder / "sub" / "blogging.htm").write_text(HTML, encoding="utf-8")
    (folder / "notes.txt").write_text(TXT, encoding="utf-8")
    (folder / "sub" / "handbook.pdf").write_bytes(
        make_pdf([["SOCIAL MEDIA POLICY", "", "Employees must not post confidential client information online."]])
    )
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD.md").write_text("# hidden", encoding="utf-8")
    return folder


def test_import_folder_with_company(tmp_path, policy_dir):
    db_path = tmp_path / "corpus.db"
    result = run("import-docs", policy_dir, "--company", "Example Ltd", "--industry", "consulting", "--country", "UK", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "Imported 7 file(s) for 1 companies" in result.output and "1 other files ignored" in result.output
    db = sqlite_utils.Database(db_path)
    company = next(db["companies"].rows_where("name = ?", ["Example Ltd"]))
    assert (company["industry"], company["country"]) == ("consulting", "UK")
    docs = {Path(d["url"]).name: d for d in db["documents"].rows}
    assert set(docs) == {"policy.md", "rules.rst", "guide.adoc", "conduct.php", "blogging.htm", "notes.txt", "handbook.pdf"}
    assert all(d["source"] == "import" and d["url"].startswith("file:///") for d in docs.values())
    assert all(0 <= d["policy_score"] <= 1 for d in docs.values())
    snapshots = {Path(db["documents"].get(s["document_id"])["url"]).name: s for s in db["snapshots"].rows}
    md = snapshots["policy.md"]
    assert md["content_type"] == "text/markdown" and md["extractor"] == "markdown" and md["http_status"] is None
    assert "front matter" not in md["text"]  # front matter is not text
    assert md["title"] == "Staff policy from front matter"  # but its title is the document's
    blocks = blocks_from_json(md["structure"])
    assert [b.type for b in blocks] == ["heading", "paragraph", "list_item", "list_item"]
    assert all(md["text"][b.start:b.end] == b.text for b in blocks)
    assert snapshots["handbook.pdf"]["content_type"] == "application/pdf"
    assert "Employees must not post confidential client information online." in snapshots["handbook.pdf"]["text"]
    assert "Home page of the firm" not in snapshots["blogging.htm"]["text"]
    assert "include" not in snapshots["conduct.php"]["text"]
    assert docs["blogging.htm"]["title"] == "Blogging rules"


def test_reimport_unchanged_adds_nothing_and_changed_adds_a_version(tmp_path, policy_dir):
    db_path = tmp_path / "corpus.db"
    assert run("import-docs", policy_dir, "--company", "Example Ltd", "--db", db_path).exit_code == 0
    again = run("import-docs", policy_dir, "--company", "Example Ltd", "--db", db_path)
    assert "0 new documents, 0 new versions, 7 unchanged" in again.output
    db = sqlite_utils.Database(db_path)
    assert db["snapshots"].count == 7
    (policy_dir / "policy.md").write_text(MD + "\n- Report abusive messages to your manager.\n", encoding="utf-8")
    changed = run("import-docs", policy_dir / "policy.md", "--company", "Example Ltd", "--db", db_path)
    assert "0 new documents, 1 new versions" in changed.output
    doc = next(db["documents"].rows_where("url like ?", ["%policy.md"]))
    assert doc["snapshot_count"] == 2 and db["snapshots"].count == 8
    latest = db["snapshots"].get(doc["latest_snapshot_id"])
    assert "Report abusive messages" in latest["text"]


def test_sidecar_csv_assigns_companies_metadata_and_urls(tmp_path, policy_dir):
    sidecar = tmp_path / "clients.csv"
    sidecar.write_text(
        "file,company,industry,country,peer_group,url\n"
        "policies/policy.md,Acme Bank,banking,UK,uk-banks;retail,https://acme.example/social-media-policy\n"
        "rules.rst,Quill Project,open source,,,\n"
        "policies/sub/handbook.pdf,Acme Bank,banking,UK,uk-banks,\n",
        encoding="utf-8",
    )
    db_path = tmp_path / "corpus.db"
    result = run("import-docs", policy_dir / "policy.md", policy_dir / "rules.rst", policy_dir / "sub" / "handbook.pdf",
                 "--sidecar", sidecar, "--db", db_path)
    assert result.exit_code == 0, result.output
    db = sqlite_utils.Database(db_path)
    acme = next(db["companies"].rows_where("name = 'Acme Bank'"))
    assert (acme["industry"], acme["country"], json.loads(acme["peer_groups"])) == ("banking", "UK", ["uk-banks", "retail"])
    urls = {d["url"]: db["companies"].get(d["company_id"])["name"] for d in db["documents"].rows}
    assert urls["https://acme.example/social-media-policy"] == "Acme Bank"
    assert urls[(policy_dir / "rules.rst").resolve().as_uri()] == "Quill Project"
    assert urls[(policy_dir / "sub" / "handbook.pdf").resolve().as_uri()] == "Acme Bank"


def test_sidecar_plus_company_covers_the_rest(tmp_path, policy_dir):
    sidecar = tmp_path / "one.csv"
    sidecar.write_text("file,company\npolicy.md,Acme Bank\n", encoding="utf-8")
    db_path = tmp_path / "corpus.db"
    result = run("import-docs", policy_dir, "--sidecar", sidecar, "--company", "Fallback Co", "--db", db_path)
    assert result.exit_code == 0, result.output
    db = sqlite_utils.Database(db_path)
    names = {Path(d["url"]).name: db["companies"].get(d["company_id"])["name"] for d in db["documents"].rows}
    assert names["policy.md"] == "Acme Bank"
    assert {v for k, v in names.items() if k != "policy.md"} == {"Fallback Co"}


def test_uncovered_files_import_nothing(tmp_path, policy_dir):
    sidecar = tmp_path / "one.csv"
    sidecar.write_text("file,company\npolicy.md,Acme Bank\n", encoding="utf-8")
    db_path = tmp_path / "corpus.db"
    result = CliRunner().invoke(cli, ["import-docs", str(policy_dir), "--sidecar", str(sidecar), "--db", str(db_path)])
    assert result.exit_code == 1
    assert "no company for 6 file(s)" in result.output and "rules.rst" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not db_path.exists()


def test_missing_path_is_a_one_line_error_and_leaves_the_db_alone(tmp_path, policy_dir):
    db_path = tmp_path / "corpus.db"
    assert run("import-docs", policy_dir / "policy.md", "--company", "Example Ltd", "--db", db_path).exit_code == 0
    before = db_path.read_bytes()
    result = CliRunner().invoke(cli, ["import-docs", str(policy_dir), str(tmp_path / "nope"), "--company", "X", "--db", str(db_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: no such file or folder: {tmp_path / 'nope'}"]
    assert db_path.read_bytes() == before
    fresh = tmp_path / "fresh.db"
    assert CliRunner().invoke(cli, ["import-docs", str(tmp_path / "nope"), "--company", "X", "--db", str(fresh)]).exit_code == 1
    assert not fresh.exists()


def test_bad_inputs(tmp_path, policy_dir):
    db_path = tmp_path / "corpus.db"
    unsupported = CliRunner().invoke(cli, ["import-docs", str(policy_dir / "logo.png"), "--company", "X", "--db", str(db_path)])
    assert unsupported.exit_code == 1 and "unsupported file type .png" in unsupported.output
    bad_sidecar = tmp_path / "bad.csv"
    bad_sidecar.write_text("path,owner\na.md,X\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import-docs", str(policy_dir), "--sidecar", str(bad_sidecar), "--db", str(db_path)])
    assert result.exit_code == 1 and "needs a 'file' column and a 'company'" in result.output
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    result = CliRunner().invoke(cli, ["import-docs", str(empty_dir), "--company", "X", "--db", str(db_path)])
    assert result.exit_code == 1 and "no supported files" in result.output
    assert not db_path.exists()


def test_empty_and_garbage_files_are_skipped(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "empty.md").write_text("", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    (folder / "ok.md").write_text(MD, encoding="utf-8")
    db_path = tmp_path / "corpus.db"
    result = CliRunner().invoke(cli, ["import-docs", str(folder), "--company", "X", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "Imported 1 file(s)" in result.output and "2 skipped" in result.output
    assert sqlite_utils.Database(db_path)["documents"].count == 1


def test_dry_run_writes_nothing(tmp_path, policy_dir):
    db_path = tmp_path / "corpus.db"
    result = run("import-docs", policy_dir, "--company", "Example Ltd", "--dry-run", "--db", db_path)
    assert result.exit_code == 0 and "7 file(s) for 1 companies; nothing written" in result.output
    assert not db_path.exists()


def test_help_has_example():
    result = run("import-docs", "--help")
    assert "Example:" in result.output and "--sidecar" in result.output


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
@needs_corpus
def test_real_corpus_with_index_tsv_sidecar(tmp_path):
    rows = list(csv.DictReader(open(REALCORPUS / "INDEX.tsv", encoding="utf-8"), delimiter="\t"))
    texts = [r for r in rows if r["file"].startswith("texts/")]
    db_path = tmp_path / "corpus.db"
    result = run("import-docs", REALCORPUS / "texts", "--sidecar", REALCORPUS / "INDEX.tsv", "--db", db_path)
    assert result.exit_code == 0, result.output
    db = sqlite_utils.Database(db_path)
    assert db["documents"].count == len(texts)
    got = {d["file_name"]: db["companies"].get(d["company_id"])["name"] for d in db["documents"].rows}
    assert got == {Path(r["file"]).name: r["organization"] for r in texts}
    assert all(s["text"] and s["structure"] for s in db["snapshots"].rows)
    # every INDEX column is kept: org_type on the organization, the others on the document
    by_file = {Path(r["file"]).name: r for r in texts}
    for doc in db["documents"].rows:
        row = by_file[doc["file_name"]]
        company = db["companies"].get(doc["company_id"])
        assert company["org_type"] == row["org_type"]
        metadata = json.loads(doc["metadata"])
        for column in ("source_repo", "source_path", "source_commit", "is_employee_sm_policy", "in_gold"):
            assert metadata[column] == row[column]
        # the provenance URL is the file in its source repository at its commit, never a local path
        assert doc["url"].startswith("https://") and row["source_commit"] in doc["url"]
        assert doc["url"].endswith(row["source_path"])
    # policies marked yes score as policies
    yes = {Path(r["file"]).name for r in texts if r["is_employee_sm_policy"] == "yes"}
    low = [d["file_name"] for d in db["documents"].rows if d["file_name"] in yes and d["policy_score"] < 0.5]
    assert not low


@needs_corpus
def test_real_corpus_sidecar_found_automatically(tmp_path):
    db_path = tmp_path / "corpus.db"
    result = CliRunner().invoke(cli, ["import-docs", str(REALCORPUS / "texts" / "hypha-coop-social-media-policy.md"),
                                      str(REALCORPUS / "pages"), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "INDEX.tsv (found next to the files)" in result.output
    db = sqlite_utils.Database(db_path)
    names = {db["companies"].get(d["company_id"])["name"] for d in db["documents"].rows}
    assert "Hypha Worker Co-operative (Toronto)" in names and "California State University, Monterey Bay" in names
    assert db["documents"].count == 1 + len(list((REALCORPUS / "pages").glob("*.html")))


def test_two_files_cannot_share_a_url(tmp_path, policy_dir):
    sidecar = tmp_path / "dup.csv"
    sidecar.write_text("file,company,url\npolicy.md,Acme,https://acme.example/p\nrules.rst,Acme,https://acme.example/p\n", encoding="utf-8")
    db_path = tmp_path / "corpus.db"
    result = CliRunner().invoke(cli, ["import-docs", str(policy_dir / "policy.md"), str(policy_dir / "rules.rst"),
                                      "--sidecar", str(sidecar), "--db", str(db_path)])
    assert result.exit_code == 1 and "would both be Acme's document https://acme.example/p" in result.output
    assert not db_path.exists()
