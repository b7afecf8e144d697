"""The corpus file: foreign, newer, read-only files refused unchanged; writes are transactions; latest means latest seen."""

import hashlib
import json
import sqlite3
import subprocess
import sys

import pytest

from policycorpus.db import SCHEMA_VERSION, open_db, transaction
from policycorpus.errors import CorpusError, NotFoundError
from policycorpus.store import Fetched, save_document
from policycorpus.structure import Block


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(*args):
    return subprocess.run([sys.executable, "-m", "policycorpus", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def foreign_sqlite(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("create table notes (body text)")
    conn.execute("insert into notes values ('mine')")
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def newer_corpus(tmp_path):
    path = tmp_path / "newer.db"
    open_db(path).conn.close()
    conn = sqlite3.connect(path)
    conn.execute("update meta set value = ? where key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def readonly_corpus(tmp_path):
    path = tmp_path / "ro.db"
    db = open_db(path)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    path.chmod(0o444)
    yield path
    path.chmod(0o644)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20)
    return path


@pytest.mark.parametrize("kind, message", [
    ("text_file", "not an SQLite database"),
    ("foreign_sqlite", "another program's SQLite database"),
    ("newer_corpus", "made by a newer PolicyCorpus"),
    ("readonly_corpus", "read-only"),
])
# each case starts a policycorpus process (1-3 s): the fast tier keeps one command, the full suite all five
@pytest.mark.parametrize("command", [["status"]] + [pytest.param(c, marks=pytest.mark.slow) for c in
                                                    (["segment"], ["tag"], ["compare", "Acme"], ["companies", "list"])])
def test_unusable_files_one_line_error_and_unchanged(request, kind, message, command):
    path = request.getfixturevalue(kind)
    before = digest(path)
    result = run(*command, "--db", path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert digest(path) == before


def test_library_raises_the_projects_errors(foreign_sqlite, tmp_path):
    with pytest.raises(CorpusError):
        open_db(foreign_sqlite)
    with pytest.raises(NotFoundError):
        open_db(tmp_path / "missing.db", create=False)


def fetched(text, url="https://example.org/policy"):
    return Fetched(url=url, raw=text.encode(), content_type="text/plain", blocks=[Block("paragraph", text)],
                   title="Policy")


def test_a_policy_returning_to_earlier_text_shows_it_again(tmp_path):
    db = open_db(tmp_path / "c.db")
    company = db["companies"].insert({"name": "Acme", "slug": "acme"}).last_pk
    a1 = save_document(db, company, fetched("Staff must not speak for Acme online."), source="import")
    b = save_document(db, company, fetched("Staff may speak for Acme once trained."), source="import")
    a2 = save_document(db, company, fetched("Staff must not speak for Acme online."), source="import")
    assert a1.new_snapshot and b.new_snapshot and not a2.new_snapshot
    assert a2.snapshot_id == a1.snapshot_id
    doc = db["documents"].get(a1.document_id)
    assert doc["latest_snapshot_id"] == a1.snapshot_id
    assert doc["snapshot_count"] == 2
    history = [r["snapshot_id"] for r in db.query(
        "select snapshot_id from document_versions where document_id = ? order by id", [a1.document_id])]
    assert history == [a1.snapshot_id, b.snapshot_id, a1.snapshot_id]


def test_unchanged_refetch_adds_no_history(tmp_path):
    db = open_db(tmp_path / "c.db")
    company = db["companies"].insert({"name": "Acme", "slug": "acme"}).last_pk
    for _ in range(3):
        save_document(db, company, fetched("One rule for everyone."))
    assert db["document_versions"].count == 1


def test_a_failed_transaction_leaves_nothing(tmp_path):
    db = open_db(tmp_path / "c.db")
    with pytest.raises(RuntimeError):
        with transaction(db):
            db["companies"].insert({"name": "Half", "slug": "half"})
            raise RuntimeError("killed")
    assert db["companies"].count == 0


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
def test_company_reimport_changes_only_given_columns(tmp_path):
    full = tmp_path / "full.csv"
    full.write_text("name,homepage,industry,country,peer_group\nAcme,https://acme.example,retail,UK,shops;big\n")
    thin = tmp_path / "thin.csv"
    thin.write_text("name,homepage\nAcme,https://www.acme.example\n")
    db_path = tmp_path / "c.db"
    assert run("companies", "import", full, "--db", db_path).returncode == 0
    assert run("companies", "import", thin, "--db", db_path).returncode == 0
    row = open_db(db_path)["companies"].get(1)
    assert (row["industry"], row["country"], row["peer_groups"]) == ("retail", "UK", '["shops", "big"]')
    assert row["homepage"] == "https://www.acme.example"
    assert "acme.example" in row["domains"] and "www.acme.example" in row["domains"]


def test_a_bad_company_file_leaves_no_partial_rows(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,homepage\nGood,https://good.example\nBad,not-a-url\n")
    db_path = tmp_path / "c.db"
    result = run("companies", "import", bad, "--db", db_path)
    assert result.returncode == 1 and "line 3" in result.stderr
    assert open_db(db_path)["companies"].count == 0


def test_company_list_keeps_org_type_and_every_other_column(tmp_path):
    path = tmp_path / "orgs.csv"
    path.write_text("name,homepage,org_type,sector,headcount\nLantern Trust,https://lantern.example,nonprofit,health,120\n")
    db_path = tmp_path / "c.db"
    assert run("companies", "import", path, "--db", db_path).returncode == 0
    row = open_db(db_path)["companies"].get(1)
    assert row["org_type"] == "nonprofit"
    assert json.loads(row["metadata"]) == {"sector": "health", "headcount": "120"}
