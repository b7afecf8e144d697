"""The bad-input matrix: every bad file, CSV, database, option and name gives one `Error: …` line, a non-zero exit,
no traceback, and leaves corpus.db as it was.

Commands run in-process through click's runner (the same `cli` object as the `policycorpus` command), so the
matrix of a few hundred cases takes seconds. Crawl and merge cases, which start a reactor or other processes,
run as real subprocesses.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from policycorpus.cli import cli
from policycorpus.db import SCHEMA_VERSION, open_db

POLICY = """# Harbour Co social media policy

Only the communications team may speak for Harbour Co online.

- Do not share customer information on social media.
- Say that your views are your own.

Report online harassment to your manager.
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A healthy tagged corpus and every kind of bad file, made once."""
    root = tmp_path_factory.mktemp("bad-inputs")
    files = root / "files"
    files.mkdir()
    (files / "harbour.md").write_text(POLICY)
    (files / "lantern.md").write_text(POLICY.replace("Harbour Co", "Lantern Trust"))
    corpus = root / "corpus.db"
    for args in (["import-docs", str(files / "harbour.md"), "--company", "Harbour Co", "-q"],
                 ["import-docs", str(files / "lantern.md"), "--company", "Lantern Trust", "-q"],
                 ["segment"], ["tag"]):
        result = CliRunner().invoke(cli, [*args, "--db", str(corpus)])
        assert result.exit_code == 0, result.output
    conn = sqlite3.connect(corpus)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    make_bad_files(root, corpus)
    return root


def make_bad_files(root: Path, corpus: Path) -> None:
    (root / "text.db").write_text("just some notes\n" * 50)
    (root / "binary.db").write_bytes(bytes(range(256)) * 64)
    (root / "folder.db").mkdir()
    foreign = sqlite3.connect(root / "foreign.db")
    foreign.execute("create table notes (body text)")
    foreign.commit()
    foreign.close()
    shutil.copy(corpus, root / "newer.db")
    newer = sqlite3.connect(root / "newer.db")
    newer.execute("update meta set value = ? where key = 'schema_version'", [str(SCHEMA_VERSION + 5)])
    newer.commit()
    newer.close()
    shutil.copy(corpus, root / "readonly.db")
    (root / "readonly.db").chmod(0o444)
    (root / "truncated.db").write_bytes(corpus.read_bytes()[:3000])
    damaged = bytearray(corpus.read_bytes())
    damaged[100:4096] = b"\xff" * (4096 - 100)
    (root / "damaged.db").write_bytes(bytes(damaged))
    csvs = {
        "empty.csv": "",
        "header-only.csv": "name,homepage\n",
        "no-name.csv": "homepage\nhttps://a.example\n",
        "no-homepage-bad-policy-url.csv": "name,policy_url\nAcme,not a url\n",
        "bad-url.csv": "name,homepage\nAcme,not a url\n",
        "ftp-url.csv": "name,homepage\nAcme,ftp://a.example/\n",
        "js-url.csv": "name,homepage\nAcme,javascript:alert(1)\n",
        "file-url.csv": "name,homepage\nAcme,file:///etc/passwd\n",
        "empty-name.csv": "name,homepage\n,https://a.example\n",
        "duplicate.csv": "name,homepage\nAcme,https://a.example\nacme,https://b.example\n",
        "extra-fields.csv": "name,homepage\nAcme,https://a.example,surplus\n",
        "bad-policy-url.csv": "name,homepage,policy_url\nAcme,https://a.example,/relative\n",
        "whitespace.csv": "   \n\n  \n",
        "tsv.csv": "name\thomepage\nAcme\thttps://a.example\n",
        "semicolons.csv": "name;homepage\nAcme;https://a.example\n",
        "one-good-one-bad.csv": "name,homepage\nGood,https://good.example\nBad,mailto:x@y.example\n",
    }
    for name, text in csvs.items():
        (root / name).write_text(text)
    (root / "latin1.csv").write_bytes("name,homepage\nCafé Ltd,https://cafe.example\n".encode("latin-1"))
    (root / "utf16.csv").write_bytes("name,homepage\nAcme,https://a.example\n".encode("utf-16"))
    (root / "binary.csv").write_bytes(bytes(range(256)) * 16)
    (root / "nul.csv").write_bytes(b"name,homepage\nAc\x00me,https://a.example\n")
    (root / "bad.jsonl").write_text("{not json\n")
    (root / "list.jsonl").write_text("[1, 2, 3]\n")
    (root / "no-text.jsonl").write_text('{"heading": "x"}\n')
    (root / "empty.jsonl").write_text("")
    (root / "labels-mismatch.jsonl").write_text('{"idx": 99, "labels": ["scope"]}\n')
    (root / "units.jsonl").write_text('{"doc": "d", "idx": 0, "text": "Do not share customer data."}\n')
    (root / "labels-unknown.jsonl").write_text('{"doc": "d", "idx": 0, "labels": ["not_a_category"], "modality": "prohibition"}\n')
    (root / "labels-badmodality.jsonl").write_text('{"doc": "d", "idx": 0, "labels": ["confidentiality"], "modality": "sometimes"}\n')
    (root / "model.joblib").write_text("this is not a model")
    (root / "draft.docx").write_bytes(b"PK\x03\x04 not really a docx")
    (root / "draft.exe").write_bytes(b"MZ\x90\x00")
    (root / "empty-draft.md").write_text("")
    (root / "binary-draft.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    (root / "examples.yaml").write_text("categories: [unclosed\n")
    (root / "empty-folder").mkdir()
    unsupported = root / "unsupported-folder"
    unsupported.mkdir()
    (unsupported / "a.exe").write_bytes(b"MZ")
    (unsupported / "b.zip").write_bytes(b"PK")
    (root / "sidecar-no-company.tsv").write_text("file\tindustry\nharbour.md\tretail\n")
    (root / "sidecar-no-file.tsv").write_text("company\nHarbour Co\n")
    (root / "sidecar-latin1.tsv").write_bytes("file\tcompany\nharbour.md\tCafé\n".encode("latin-1"))
    (root / "sidecar-empty.tsv").write_text("")
    (root / "sidecar-binary.tsv").write_bytes(bytes(range(256)) * 4)


BAD_DBS = ["text.db", "binary.db", "folder.db", "foreign.db", "newer.db", "readonly.db", "truncated.db", "damaged.db",
           "missing/none.db"]
DB_COMMANDS = [
    ["status"], ["companies", "list"], ["segment"], ["tag"], ["compare", "Harbour Co", "Lantern Trust"],
    ["cluster", "-q"], ["templates", "-q"], ["plot", "heatmap", "-o", "{root}/plot-out"],
    ["import-docs", "{root}/files/harbour.md", "--company", "Harbour Co", "-q"],
    ["companies", "import", "{root}/good.csv"],
]


def db_cases():
    for db in BAD_DBS:
        for command in DB_COMMANDS:
            if db == "missing/none.db" and command[0] in ("import-docs", "companies", "segment", "tag") \
                    and command[:2] != ["companies", "list"]:
                continue  # write commands create a new corpus at a new path: that is not bad input
            yield pytest.param(db, command, id=f"{db}-{'-'.join(command[:2])}")


@pytest.mark.parametrize("db, command", list(db_cases()))
def test_unusable_database(workspace, db, command):
    (workspace / "good.csv").write_text("name,homepage\nNew Co,https://new.example\n")
    check_fails(workspace, [*fmt(command, workspace), "--db", str(workspace / db)], watched=workspace / db)


CORPUS_CASES = {
    # companies
    "csv-missing": ["companies", "import", "{root}/nope.csv"],
    "csv-folder": ["companies", "import", "{root}/empty-folder"],
    **{f"csv-{n}": ["companies", "import", f"{{root}}/{n}.csv"] for n in [
        "empty", "header-only", "no-name", "no-homepage-bad-policy-url", "bad-url", "ftp-url", "js-url", "file-url", "empty-name",
        "duplicate", "extra-fields", "bad-policy-url", "whitespace", "tsv", "semicolons", "one-good-one-bad",
        "latin1", "utf16", "binary", "nul"]},
    # import-docs
    "docs-missing": ["import-docs", "{root}/nope.md", "--company", "X"],
    "docs-unsupported-file": ["import-docs", "{root}/draft.exe", "--company", "X"],
    "docs-empty-folder": ["import-docs", "{root}/empty-folder", "--company", "X"],
    "docs-unsupported-folder": ["import-docs", "{root}/unsupported-folder", "--company", "X"],
    "docs-no-company": ["import-docs", "{root}/files/harbour.md"],
    "docs-sidecar-missing": ["import-docs", "{root}/files", "--sidecar", "{root}/nope.tsv"],
    "docs-sidecar-no-company": ["import-docs", "{root}/files", "--sidecar", "{root}/sidecar-no-company.tsv"],
    "docs-sidecar-no-file": ["import-docs", "{root}/files", "--sidecar", "{root}/sidecar-no-file.tsv"],
    "docs-sidecar-latin1": ["import-docs", "{root}/files", "--sidecar", "{root}/sidecar-latin1.tsv"],
    "docs-sidecar-empty": ["import-docs", "{root}/files", "--sidecar", "{root}/sidecar-empty.tsv"],
    "docs-sidecar-binary": ["import-docs", "{root}/files", "--sidecar", "{root}/sidecar-binary.tsv"],
    "docs-sidecar-folder": ["import-docs", "{root}/files", "--sidecar", "{root}/empty-folder"],
    "docs-empty-company": ["import-docs", "{root}/files/harbour.md", "--company", ""],
    # compare
    "compare-unknown": ["compare", "Nobody Ltd"],
    "compare-one-unknown": ["compare", "Harbour Co", "Nobody Ltd"],
    "compare-none": ["compare"],
    "compare-unknown-group": ["compare", "--peer-group", "nobody"],
    "compare-bad-format": ["compare", "Harbour Co", "--format", "docz"],
    "compare-xlsx-no-output": ["compare", "Harbour Co", "--format", "xlsx"],
    "compare-all-no-output": ["compare", "Harbour Co", "--format", "all"],
    "compare-gap-share-high": ["compare", "Harbour Co", "--gap-share", "3"],
    "compare-gap-share-negative": ["compare", "Harbour Co", "--gap-share", "-1"],
    "compare-gap-share-text": ["compare", "Harbour Co", "--gap-share", "half"],
    "compare-client-missing": ["compare", "Harbour Co", "--client", "{root}/nope.md"],
    "compare-client-docx": ["compare", "Harbour Co", "--client", "{root}/draft.docx"],
    "compare-client-exe": ["compare", "Harbour Co", "--client", "{root}/draft.exe"],
    "compare-client-empty": ["compare", "Harbour Co", "--client", "{root}/empty-draft.md"],
    "compare-client-binary-pdf": ["compare", "Harbour Co", "--client", "{root}/binary-draft.pdf"],
    "compare-client-folder": ["compare", "Harbour Co", "--client", "{root}/empty-folder"],
    "compare-output-under-a-file": ["compare", "Harbour Co", "-f", "html", "-o", "{root}/files/harbour.md/x.html"],
    "compare-empty-name": ["compare", ""],
    "compare-empty-group": ["compare", "--peer-group", ""],
    "compare-client-name-without-client": ["compare", "Harbour Co", "--client-name", "Ours", "--client", "{root}/nope.txt"],
    "docs-sidecar-and-missing-file": ["import-docs", "{root}/files/nope.md", "--sidecar", "{root}/sidecar-no-file.tsv"],
    "docs-unsupported-and-good": ["import-docs", "{root}/files/harbour.md", "{root}/draft.exe", "--company", "X"],
    "csv-two-missing": ["companies", "import", "{root}/nope.csv", "{root}/nope2.csv"],
    "cluster-seed-text": ["cluster", "--seed", "abc"],
    "templates-matrix-under-a-file": ["templates", "--matrix", "{root}/files/harbour.md/m.csv"],
    "templates-seed-text": ["templates", "--seed", "x"],
    "tag-model-binary": ["tag", "--model", "{root}/binary.db"],
    "segment-extra-argument": ["segment", "surplus"],
    "status-extra-argument": ["status", "surplus"],
    "schema-extra-argument": ["schema", "surplus"],
    "compare-output-is-folder": ["compare", "Harbour Co", "-f", "html", "-o", "{root}/empty-folder"],
    # cluster, templates, plot
    "cluster-k-order": ["cluster", "--k-min", "9", "--k-max", "3"],
    "cluster-k-min-1": ["cluster", "--k-min", "1"],
    "cluster-k-text": ["cluster", "--k-min", "many"],
    "cluster-method": ["cluster", "--method", "magic"],
    "cluster-backend": ["cluster", "--backend", "magic"],
    "cluster-outliers": ["cluster", "--max-outliers", "2"],
    "cluster-min-words": ["cluster", "--min-words", "0"],
    "cluster-too-few": ["cluster", "--min-words", "500"],
    "cluster-sample": ["cluster", "--sample-size", "-5"],
    "templates-bands": ["templates", "--bands", "7", "--num-perm", "128"],
    "templates-threshold": ["templates", "--threshold", "1.5"],
    "templates-shingle": ["templates", "--shingle-size", "0"],
    "templates-num-perm": ["templates", "--num-perm", "2"],
    "templates-min-companies": ["templates", "--min-companies", "0"],
    "templates-matrix-folder": ["templates", "--matrix", "{root}/empty-folder"],
    "plot-unknown": ["plot", "pie"],
    "plot-heatmap-before-templates": ["plot", "heatmap", "-o", "{root}/plots"],
    "plot-map-before-cluster": ["plot", "map", "-o", "{root}/plots"],
    "plot-dendrogram-before-templates": ["plot", "dendrogram", "-o", "{root}/plots"],
    # tag, segment
    "tag-model-missing": ["tag", "--model", "{root}/nope.joblib"],
    "tag-model-text": ["tag", "--model", "{root}/model.joblib"],
    "tag-model-folder": ["tag", "--model", "{root}/empty-folder"],
    # taxonomy
    "classify-missing": ["taxonomy", "classify", "{root}/nope.jsonl"],
    "classify-bad-json": ["taxonomy", "classify", "{root}/bad.jsonl"],
    "classify-list": ["taxonomy", "classify", "{root}/list.jsonl"],
    "classify-no-text": ["taxonomy", "classify", "{root}/no-text.jsonl"],
    "classify-binary": ["taxonomy", "classify", "{root}/binary.csv"],
    "classify-folder": ["taxonomy", "classify", "{root}/empty-folder"],
    "classify-model-text": ["taxonomy", "classify", "{root}/units.jsonl", "--model", "{root}/model.joblib"],
    "evaluate-missing-labels": ["taxonomy", "evaluate", "--units", "{root}/units.jsonl", "--labels", "{root}/nope.jsonl"],
    "evaluate-mismatch": ["taxonomy", "evaluate", "--units", "{root}/units.jsonl", "--labels", "{root}/labels-mismatch.jsonl"],
    "evaluate-unknown-category": ["taxonomy", "evaluate", "--units", "{root}/units.jsonl", "--labels", "{root}/labels-unknown.jsonl"],
    "evaluate-bad-modality": ["taxonomy", "evaluate", "--units", "{root}/units.jsonl", "--labels", "{root}/labels-badmodality.jsonl"],
    "evaluate-bad-json": ["taxonomy", "evaluate", "--units", "{root}/bad.jsonl", "--labels", "{root}/labels-unknown.jsonl"],
    "evaluate-no-sets": ["taxonomy", "evaluate"],
    "train-missing": ["taxonomy", "train", "{root}/nope.jsonl", "-o", "{root}/m.joblib"],
    "train-bad-json": ["taxonomy", "train", "{root}/bad.jsonl", "-o", "{root}/m.joblib"],
    "train-bad-examples": ["taxonomy", "train", "--examples", "{root}/examples.yaml", "-o", "{root}/m.joblib"],
    "train-unknown-category": ["taxonomy", "train", "{root}/labels-unknown.jsonl", "-o", "{root}/m.joblib"],
    "train-backend": ["taxonomy", "train", "--backend", "magic", "-o", "{root}/m.joblib"],
    # serve and publish
    "serve-port-range": ["serve", "--port", "70000"],
    "serve-port-text": ["serve", "--port", "http"],
    "serve-host": ["serve", "--host", "no such host .invalid"],
    "publish-out-is-file": ["publish", "--out", "{root}/files/harbour.md"],
    # unknowns
    "unknown-command": ["frobnicate"],
    "unknown-option": ["status", "--frobnicate"],
    "unknown-subcommand": ["companies", "frobnicate"],
}


@pytest.mark.parametrize("name", sorted(CORPUS_CASES))
def test_bad_input_on_a_healthy_corpus(workspace, name):
    corpus = workspace / "corpus.db"
    check_fails(workspace, [*fmt(CORPUS_CASES[name], workspace), "--db", str(corpus)], watched=corpus,
                watch_tables=True)


SUBPROCESS_CASES = {
    "crawl-allow-host": ["crawl", "--allow-host", "not-an-address"],
    "crawl-worker-without-redis": ["crawl", "--worker-id", "w1"],
    "crawl-bad-job": ["crawl", "--redis", "redis://127.0.0.1:1/0", "--job", "bad job/name"],
    "crawl-resume-nothing": ["crawl", "--resume"],
    "crawl-unknown-company": ["crawl", "Nobody Ltd"],
    "crawl-redis-unreachable": ["crawl", "--redis", "redis://127.0.0.1:1/0", "--job", "j", "--allow-private"],
    "crawl-max-pages": ["crawl", "--max-pages", "-1"],
    "crawl-threshold": ["crawl", "--threshold", "7"],
    "merge-missing": ["merge", "{root}/nope.db"],
    "merge-text": ["merge", "{root}/text.db"],
    "merge-foreign": ["merge", "{root}/foreign.db"],
    "merge-newer": ["merge", "{root}/newer.db"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SUBPROCESS_CASES))
def test_bad_input_in_a_subprocess(workspace, name):
    corpus = workspace / "corpus.db"
    before = digest(corpus)
    args = [*fmt(SUBPROCESS_CASES[name], workspace), "--db", str(corpus)]
    result = subprocess.run([sys.executable, "-m", "policycorpus", *args], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.stderr
    assert digest(corpus) == before


def test_the_matrix_is_large_enough():
    assert len(list(db_cases())) + len(CORPUS_CASES) + len(SUBPROCESS_CASES) >= 200


def fmt(command: list[str], root: Path) -> list[str]:
    return [part.replace("{root}", str(root)) for part in command]


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def table_counts(path: Path) -> dict:
    db = open_db(path)
    counts = {t: db[t].count for t in db.table_names() if not t.endswith(("_fts", "_data", "_idx", "_docsize", "_config"))}
    db.conn.close()
    return counts


def check_fails(root: Path, args: list[str], watched: Path, watch_tables: bool = False) -> None:
    before = digest(watched)
    counts = table_counts(watched) if watch_tables else None
    result = CliRunner().invoke(cli, args)
    output = result.output + (result.stderr if result.stderr_bytes else "")
    assert result.exit_code not in (0, None), f"exit 0 for bad input: {output}"
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}")
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and not result.stdout.strip(), output
    if watch_tables:
        assert table_counts(watched) == counts
    else:
        assert digest(watched) == before
