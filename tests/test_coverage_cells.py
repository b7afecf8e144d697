"""Grid cells in corpus.db: `tag` stores every category's probability and each document's covered / uncertain /
absent cells with their evidence; `current_cells` is the view every reader counts from."""

import json
import subprocess
import sys

import pytest

from policycorpus.db import open_db

POLICY = """# Harbour Co social media policy

## Who may speak for us

Only the communications team may speak on behalf of Harbour Co on social media.

## Confidential information

- Never share customer information or account details online.
- Do not post about unannounced products or results.

## Your own accounts

If you mention your work, say that the views you express are your own and not those of Harbour Co.

Report any harassment you receive online to your manager or to HR straight away.

Breaches of this policy may lead to disciplinary action, up to dismissal.
"""


def run(*args):
    result = subprocess.run([sys.executable, "-m", "policycorpus", *map(str, args)], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("cells")
    (root / "harbour.md").write_text(POLICY)
    (root / "short.md").write_text("# Lantern Trust\n\nBe kind to colleagues online.\n")
    db_path = root / "corpus.db"
    run("import-docs", root / "harbour.md", "--company", "Harbour Co", "--db", db_path, "-q")
    run("import-docs", root / "short.md", "--company", "Lantern Trust", "--db", db_path, "-q")
    run("segment", "--db", db_path)
    run("tag", "--db", db_path)
    return open_db(db_path)


def test_every_document_has_a_calibrated_cell_per_category(corpus):
    n_categories = corpus["categories"].count
    cells = list(corpus.query("select * from current_cells"))
    assert len(cells) == 2 * n_categories
    assert {c["state"] for c in cells} <= {"covered", "uncertain", "absent"}
    assert all(c["calibrated"] == 1 and 0 <= c["score"] <= 1 for c in cells)
    harbour = {c["category"]: c for c in cells if c["company"] == "Harbour Co"}
    assert harbour["confidentiality"]["state"] == "covered"
    assert harbour["consequences"]["state"] in ("covered", "uncertain")


def test_evidence_is_the_strongest_clause_of_the_category(corpus):
    scores = {r["clause_id"]: json.loads(r["scores"] or "{}") for r in
              corpus.query("select cs.clause_id, c.scores from current_segments cs join clauses c on c.id = cs.clause_id "
                           "where cs.kind = 'clause'")}
    for cell in corpus.query("select * from current_cells where state != 'absent'"):
        in_document = [cid for cid in scores if corpus["clauses"].get(cid)["document_id"] == cell["document_id"]]
        best = max(scores[cid].get(cell["category"], 0.0) for cid in in_document)
        assert scores[cell["evidence_clause_id"]].get(cell["category"], 0.0) == best
        assert cell["evidence_text"]


def test_absent_cells_have_no_evidence(corpus):
    assert not list(corpus.query("select * from current_cells where state = 'absent' and evidence_clause_id is not null"))


def test_policy_page_shows_cells_and_graded_chips_and_clause_links_resolve(corpus):
    import asyncio

    from publish.server import make_datasette

    ds = make_datasette(corpus.conn.execute("pragma database_list").fetchone()[2])

    async def fetch():
        doc = corpus.execute("select id from documents order by id limit 1").fetchone()[0]
        policy = await ds.client.get(f"/-/policy/{doc}")
        key = corpus.execute("select clause_key from current_segments where document_id = ? and kind = 'clause' "
                             "limit 1", [doc]).fetchone()[0]
        clause = await ds.client.get(f"/-/clause/{key}")
        missing = await ds.client.get("/-/clause/0123456789abcdef")
        bad = await ds.client.get("/-/clause/not-a-key")
        doc_key = corpus.execute("select key from documents where id = ?", [doc]).fetchone()[0]
        by_key = await ds.client.get(f"/-/policy/{doc_key}")
        return doc, policy, key, clause, missing, bad, by_key

    doc, policy, key, clause, missing, bad, by_key = asyncio.run(fetch())
    assert by_key.status_code == 200 and by_key.text == policy.text
    assert "Cite this policy" in policy.text and "@misc{" in policy.text
    assert "file://" not in policy.text and "harbour.md" in policy.text
    assert policy.status_code == 200
    html = policy.text
    assert "How this version covers the taxonomy" in html and "pc-state-covered" in html
    assert "pc-chip-strong" in html and "%</span>" in html
    assert f"/-/clause/{key}" in html
    assert clause.status_code == 302 and clause.headers["location"].startswith(f"/-/policy/{doc}")
    assert missing.status_code == 404 and bad.status_code == 404
