"""`policycorpus merge` of corpora built with the library's own writers (store.save_document).

The distributed tests (tests/test_distributed.py) merge real per-worker crawls; these check the
document history across corpora quickly: the current version is the one seen last by any corpus.
"""

import pytest

from crawler.merge import merge_databases
from policycorpus.companies import CompanyRow, import_companies
from policycorpus.db import open_db
from policycorpus.errors import InputError, NotFoundError
from policycorpus.store import Fetched, save_document
from policycorpus.structure import Block

URL = "https://acme.example/social-media-policy"
A = "Staff must not speak for Acme on social media without approval."
B = "Staff may speak for Acme on social media once trained."


def corpus(path, *sightings):
    """A corpus where Acme's policy was seen with each (text, time) in turn."""
    db = open_db(path)
    import_companies(db, [CompanyRow("Acme", "https://acme.example/", None, "retail", "DE", [])])
    company = db["companies"].rows_where("name = 'Acme'").__next__()["id"]
    for text, at in sightings:
        save_document(db, company, Fetched(url=URL, raw=text.encode(), content_type="text/plain",
                                           blocks=[Block("paragraph", text)], title=text[:20], fetched_at=at))
    db.conn.close()
    return path


def current(db):
    doc = next(db["documents"].rows)
    text = db.execute("select text from snapshots where id = ?", [doc["latest_snapshot_id"]]).fetchone()[0]
    history = [r[0] for r in db.execute(
        "select s.text from document_versions v join snapshots s on s.id = v.snapshot_id "
        "where v.document_id = ? order by v.since, v.id", [doc["id"]])]
    return text, history, doc


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_the_text_seen_last_is_current_whatever_the_merge_order(tmp_path, order):
    sources = [corpus(tmp_path / "w1.db", (A, "2026-01-01T00:00:00+00:00"), (B, "2026-02-01T00:00:00+00:00")),
               corpus(tmp_path / "w2.db", (A, "2026-03-01T00:00:00+00:00"))]
    dest = tmp_path / "corpus.db"
    merge_databases(dest, [sources[i] for i in order])
    db = open_db(dest)
    text, history, doc = current(db)
    assert text == A
    assert history[-1] == A and B in history
    assert doc["snapshot_count"] == 2 and doc["last_seen"].startswith("2026-03-01")
    assert doc["title"] == A[:20]


def test_an_older_sighting_does_not_bring_back_a_withdrawn_text(tmp_path):
    sources = [corpus(tmp_path / "w1.db", (A, "2026-01-01T00:00:00+00:00")),
               corpus(tmp_path / "w2.db", (A, "2026-01-01T00:00:00+00:00"), (B, "2026-02-01T00:00:00+00:00"))]
    dest = tmp_path / "corpus.db"
    merge_databases(dest, sources)
    text, history, _ = current(open_db(dest))
    assert text == B and history[-1] == B


def test_merging_again_changes_nothing(tmp_path):
    sources = [corpus(tmp_path / "w1.db", (A, "2026-01-01T00:00:00+00:00"), (B, "2026-02-01T00:00:00+00:00")),
               corpus(tmp_path / "w2.db", (A, "2026-03-01T00:00:00+00:00"))]
    dest = tmp_path / "corpus.db"
    first = merge_databases(dest, sources)
    before = {t: list(open_db(dest)[t].rows) for t in ("companies", "documents", "snapshots", "document_versions")}
    second = merge_databases(dest, sources)
    after = {t: list(open_db(dest)[t].rows) for t in before}
    assert first["snapshots"] == 2 and first["document_versions"] >= 3
    assert set(second.values()) == {0}
    assert after == before


def test_company_columns_arrive_whole(tmp_path):
    dest = tmp_path / "corpus.db"
    merge_databases(dest, [corpus(tmp_path / "w1.db", (A, "2026-01-01T00:00:00+00:00"))])
    row = next(open_db(dest)["companies"].rows)
    assert (row["industry"], row["country"], row["homepage"]) == ("retail", "DE", "https://acme.example/")


def test_bad_sources_are_library_errors(tmp_path):
    with pytest.raises(NotFoundError, match="no corpus database"):
        merge_databases(tmp_path / "corpus.db", [tmp_path / "missing.db"])
    source = corpus(tmp_path / "w1.db", (A, "2026-01-01T00:00:00+00:00"))
    with pytest.raises(InputError, match="destination itself"):
        merge_databases(source, [source])
