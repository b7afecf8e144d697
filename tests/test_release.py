"""`policycorpus release`: a Frictionless data package whose row counts match corpus.db and that pandas loads."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from policycorpus.db import open_db

POLICY = """# {name} social media policy

Only the communications team may speak for {name} online.

- Do not share customer information.
- Say that your views are your own.
"""


def run(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "policycorpus", *map(str, args)], capture_output=True, text=True,
                            timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    files = root / "files"
    files.mkdir()
    sidecar = ["file\tcompany\torg_type\turl\tsource_note"]
    for name, org_type in (("Harbour Co", "company"), ("Lantern Trust", "nonprofit"), ("Quill Project", "open source")):
        path = files / f"{name.split()[0].lower()}.md"
        path.write_text(POLICY.format(name=name))
        sidecar.append(f"{path.name}\t{name}\t{org_type}\thttps://{name.split()[0].lower()}.example/policy\tgiven by hand")
    (files / "INDEX.tsv").write_text("\n".join(sidecar) + "\n")
    db_path = root / "corpus.db"
    run("import-docs", files, "--db", db_path, "-q")
    run("segment", "--db", db_path)
    run("tag", "--db", db_path)
    out = root / "out"
    run("release", "-o", out, "--version", "2026.1", "--author", "Test Author", "--db", db_path)
    return db_path, out


def test_release_validates_as_a_frictionless_package(release):
    frictionless = pytest.importorskip("frictionless")
    _, out = release
    report = frictionless.validate(str(out / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]


def test_row_counts_match_the_corpus_and_pandas_loads_it(release):
    db_path, out = release
    db = open_db(db_path)
    expected = {
        "organizations": db["companies"].count,
        "documents": db["documents"].count,
        "snapshots": db["snapshots"].count,
        "clauses": db.execute("select count(*) from current_segments").fetchone()[0],
        "categories": db["categories"].count,
    }
    for name, count in expected.items():
        assert len(pd.read_csv(out / f"{name}.csv")) == count, name
        assert len(pd.read_parquet(out / f"{name}.parquet")) == count, name
    clauses = pd.read_csv(out / "clauses.csv")
    assert clauses["clause_key"].is_unique
    tagged = clauses[clauses["categories"] != "[]"]
    assert len(tagged) and all(set(json.loads(c)) == set(json.loads(s)) for c, s in
                               zip(tagged["categories"], tagged["category_scores"]))


def test_release_keeps_metadata_and_no_local_paths(release):
    _, out = release
    orgs = pd.read_csv(out / "organizations.csv")
    assert set(orgs["org_type"]) == {"company", "nonprofit", "open source"}
    docs = pd.read_csv(out / "documents.csv")
    assert all(json.loads(m)["source_note"] == "given by hand" for m in docs["metadata"])
    for path in out.iterdir():
        if path.suffix in (".csv", ".json", ".md", ".cff"):
            assert "file://" not in path.read_text(), path.name
    assert "version: \"2026.1\"" in (out / "CITATION.cff").read_text()
    package = json.loads((out / "datapackage.json").read_text())
    described = [f for r in package["resources"] for f in r["schema"]["fields"]]
    assert all(f["description"] for f in described)


def test_release_refuses_a_non_empty_folder(release, tmp_path):
    db_path, out = release
    result = run("release", "-o", out, "--db", db_path, check=False)
    assert result.returncode == 1 and result.stderr.startswith("Error: ") and "not an empty folder" in result.stderr
