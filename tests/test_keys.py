"""Stable clause and document keys: the same in every build, whatever the import order, across re-segmentation."""

import subprocess
import sys

from policycorpus.db import open_db
from policycorpus.keys import clause_keys, document_key

POLICY_A = """# Harbour Co social media policy

Only the communications team may speak for Harbour Co online.

- Do not share customer information.
- Do not share customer information.
- Say that your views are your own.
"""

POLICY_B = """# Lantern Trust guidelines for staff online

Report harassment you receive to your line manager.

Do not post photographs of service users without written consent.
"""


def run(*args):
    result = subprocess.run([sys.executable, "-m", "policycorpus", *map(str, args)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def build(tmp_path, name, order):
    folder = tmp_path / "files"
    folder.mkdir(exist_ok=True)
    (folder / "harbour.md").write_text(POLICY_A)
    (folder / "lantern.md").write_text(POLICY_B)
    db_path = tmp_path / f"{name}.db"
    companies = {"harbour.md": "Harbour Co", "lantern.md": "Lantern Trust"}
    for file in order:
        run("import-docs", folder / file, "--company", companies[file], "--db", db_path, "-q")
    run("segment", "--db", db_path)
    return db_path


def keys_of(db_path):
    db = open_db(db_path)
    docs = {r["url"].rsplit("/", 1)[-1]: r["key"] for r in db.query("select url, key from documents")}
    clauses = sorted((r["key"], r["text"]) for r in db.query("select key, text from clauses"))
    return docs, clauses


def test_two_builds_in_different_orders_give_the_same_keys(tmp_path):
    first = keys_of(build(tmp_path, "first", ["harbour.md", "lantern.md"]))
    second = keys_of(build(tmp_path, "second", ["lantern.md", "harbour.md"]))
    assert first == second
    docs, clauses = first
    assert len(set(docs.values())) == 2 and all(docs.values())
    assert len({k for k, _ in clauses}) == len(clauses)  # the repeated list item gets its own key


def test_resegmentation_keeps_the_keys(tmp_path):
    db_path = build(tmp_path, "c", ["harbour.md", "lantern.md"])
    before = keys_of(db_path)
    db = open_db(db_path)
    with db.conn:
        db.execute("delete from processing where step = 'segment'")
    db.conn.close()
    run("segment", "--db", db_path)
    assert keys_of(db_path) == before


def test_key_functions():
    doc = document_key("Harbour Co", "https://harbour.example/policy")
    assert doc == document_key("  harbour co ", "https://harbour.example/policy")
    assert doc != document_key("Harbour Co", "https://harbour.example/other")
    a, b, c = clause_keys(doc, ["Be kind.", "be  KIND.", "Be brief."])
    assert a != b != c and a == clause_keys(doc, ["Be kind."])[0]
