"""Tags and review decisions carry over to a document's new version: a clause that is unchanged or moved keeps its
stable key (policycorpus.keys: the document's key, the clause's normalised text and its occurrence), so the
tagger gives it the same tags and every review decision on it (held by clause key and the hash of the text the
reviewer saw: policycorpus.reviews) applies to it in the current views; a modified clause has a new key and text,
so nothing is inherited and it is queued for review again."""

from __future__ import annotations

import json
import sqlite3

import pytest

from analysis.history import diff_snapshots
from policycorpus import reviews as rv
from policycorpus.db import open_db
from policycorpus.extract import extract
from policycorpus.store import Fetched, save_document
from publish.review_pages import active_learning
from taxonomy.pipeline import segment_snapshots, tag_snapshots

URL = "http://harbour.example/social-media-policy"
SPEAK = "Only the communications team may speak on behalf of Harbour Co on social media."
SHARE = "Never share customer information or account details online."
VIEWS_OLD = "If you mention your work, say that the views you express are your own and not those of Harbour Co."
VIEWS_NEW = ("If you mention your work online, always say that the views you express are your own and not those "
             "of Harbour Co.")
REPORT = "Report any harassment you receive online to your manager or to HR straight away."
BREACH = "Breaches of this policy may lead to disciplinary action, up to dismissal."
VERSION_1 = [SPEAK, SHARE, VIEWS_OLD, REPORT, BREACH]
VERSION_2 = [SHARE, VIEWS_NEW, REPORT, SPEAK, BREACH]  # SPEAK moved, VIEWS reworded, the others unchanged


def page(paragraphs: list[str]) -> bytes:
    return ("<html><head><title>Harbour Co social media policy</title></head><body><main>"
            "<h1>Harbour Co social media policy</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs)
            + "</main></body></html>").encode()


def crawl_version(db, company_id: int, paragraphs: list[str], fetched_at: str) -> None:
    """What the crawl's PolicyStorePipeline does with an accepted page, then `segment` and `tag`."""
    body = page(paragraphs)
    ex = extract(body, URL, "text/html")
    save_document(db, company_id, Fetched(url=URL, raw=body, content_type="text/html", blocks=ex.blocks,
                                          title=ex.title, http_status=200, extractor=ex.extractor,
                                          fetched_at=fetched_at))
    segment_snapshots(db)
    tag_snapshots(db)


def current(conn: sqlite3.Connection, text: str) -> dict:
    row = conn.execute("select clause_id, clause_key, snapshot_id, categories, modality from current_clauses "
                       "where text = ?", [text]).fetchone()
    assert row is not None, text
    sources = dict(conn.execute("select category, source from effective_tags where clause_id = ?", [row[0]]))
    return {"id": row[0], "key": row[1], "snapshot": row[2], "categories": set(json.loads(row[3])),
            "modality": row[4], "sources": sources}


@pytest.fixture
def reviewed_then_recrawled(tmp_path):
    """Version 1 crawled, tagged and reviewed; then version 2 crawled, segmented and tagged."""
    db_path = tmp_path / "corpus.db"
    db = open_db(db_path)
    company = db["companies"].insert({"name": "Harbour Co", "slug": "harbour-co"}).last_pk
    crawl_version(db, company, VERSION_1, "2024-01-10T09:00:00+00:00")
    conn = sqlite3.connect(db_path)
    before = {t: current(conn, t) for t in VERSION_1}
    store = rv.open_store(rv.default_path(db_path))
    decide = lambda text, action, **kw: rv.clause_decision(conn, before[text]["key"], "ana", action, **kw)  # noqa: E731
    rv.record(store, [
        decide(REPORT, "remove", category="escalation"),  # unchanged clause
        decide(REPORT, "add", category="respect"),
        decide(REPORT, "modality", value="recommendation"),
        decide(SPEAK, "confirm", category="spokesperson"),  # moved clause
        decide(SPEAK, "add", category="official_accounts"),
        decide(VIEWS_OLD, "add", category="legal_compliance"),  # clause modified in version 2
        decide(VIEWS_OLD, "modality", value="recommendation"),
    ])
    conn.close()
    crawl_version(db, company, VERSION_2, "2025-03-02T09:00:00+00:00")
    return {"db": db, "db_path": db_path, "store": store, "before": before}


def test_the_model_setup_is_what_the_test_relies_on(reviewed_then_recrawled):
    before = reviewed_then_recrawled["before"]
    assert "escalation" in before[REPORT]["categories"] and "respect" not in before[REPORT]["categories"]
    assert "spokesperson" in before[SPEAK]["categories"] and "official_accounts" not in before[SPEAK]["categories"]
    assert "legal_compliance" not in before[VIEWS_OLD]["categories"]
    db = reviewed_then_recrawled["db"]
    doc = next(db["documents"].rows)
    assert doc["snapshot_count"] == 2
    old, new = [r[0] for r in db.execute("select snapshot_id from document_versions order by since")]
    assert doc["latest_snapshot_id"] == new
    changes, _ = diff_snapshots(db, old, new)
    kinds = {(c.old or c.new).text: c.kind for c in changes}
    assert kinds == {SHARE: "unchanged", REPORT: "unchanged", BREACH: "unchanged", SPEAK: "moved",
                     VIEWS_OLD: "modified"}
    for change in changes:  # unchanged and moved clauses keep their key; a modified one gets a new key
        assert (change.old.key == change.new.key) == (change.kind in ("unchanged", "moved"))


def test_tags_and_decisions_of_unchanged_and_moved_clauses_apply_to_the_new_version(reviewed_then_recrawled):
    db_path, before = reviewed_then_recrawled["db_path"], reviewed_then_recrawled["before"]
    plain = sqlite3.connect(db_path)
    reviewed = sqlite3.connect(db_path)
    rv.attach(reviewed, rv.default_path(db_path))
    new_snapshot = current(plain, SHARE)["snapshot"]
    for text in (SHARE, REPORT, BREACH, SPEAK):
        now = current(plain, text)
        assert now["snapshot"] == new_snapshot != before[text]["snapshot"] and now["id"] != before[text]["id"]
        assert now["key"] == before[text]["key"]
        # the model's tags: the same clause text gets the same tags in the new version
        assert now["categories"] == before[text]["categories"] and now["modality"] == before[text]["modality"]
    # the unchanged clause: a removed tag stays removed, an added one added, the reviewed modality holds
    report = current(reviewed, REPORT)
    assert report["snapshot"] == new_snapshot
    assert report["categories"] == before[REPORT]["categories"] - {"escalation"} | {"respect"}
    assert report["sources"]["respect"] == "review" and report["modality"] == "recommendation"
    # the moved clause: confirmed and added categories, marked as the reviewer's
    speak = current(reviewed, SPEAK)
    assert speak["categories"] == before[SPEAK]["categories"] | {"official_accounts"}
    assert speak["sources"]["spokesperson"] == speak["sources"]["official_accounts"] == "review"
    # ... and the document's grid cell in the new version is covered by the reviewer's addition
    cell = reviewed.execute("select state, source, evidence_clause_key from current_cells where category = ?",
                            ["official_accounts"]).fetchone()
    assert cell == ("covered", "review", before[SPEAK]["key"])
    # the corpus itself keeps the model's tags
    assert "escalation" in current(plain, REPORT)["categories"]


def test_a_modified_clause_inherits_nothing_and_is_queued_again(reviewed_then_recrawled):
    db_path, before = reviewed_then_recrawled["db_path"], reviewed_then_recrawled["before"]
    reviewed = sqlite3.connect(db_path)
    rv.attach(reviewed, rv.default_path(db_path))
    views = current(reviewed, VIEWS_NEW)
    assert views["key"] != before[VIEWS_OLD]["key"]
    assert "legal_compliance" not in views["categories"] and "review" not in views["sources"].values()
    assert views["modality"] == current(sqlite3.connect(db_path), VIEWS_NEW)["modality"] != "recommendation"
    old_version = reviewed.execute("select modality from snapshot_segments where clause_key = ?",
                                   [before[VIEWS_OLD]["key"]]).fetchone()
    assert old_version == ("recommendation",)  # on the text ana saw, her decision still holds
    queued = {r["clause_key"] for r in active_learning(reviewed, [], {}, limit=1000)}
    assert views["key"] in queued  # the new text waits for a reviewer
    assert before[REPORT]["key"] not in queued and before[SPEAK]["key"] not in queued  # decided, text unchanged
    # the decisions on the old text stay in the store as history
    store = reviewed_then_recrawled["store"]
    history = [d for d in rv.decisions(store) if d["clause_key"] == before[VIEWS_OLD]["key"]]
    assert [d["action"] for d in history] == ["add", "modality"]
    assert before[VIEWS_OLD]["key"] not in {r[0] for r in reviewed.execute("select clause_key from current_clauses")}


def test_model_tags_of_unchanged_and_moved_clauses_carry_over_even_where_context_would_change_them(tmp_path):
    """The tagger reads a clause's context, so a clause whose neighbours changed could be read differently in the
    new version. Its tags, modality and scores come from the version tagged first instead: version 1's stored
    tags are altered here (as another reading of its context would), and version 2's unchanged and moved clauses
    show the altered tags, while the reworded clause gets the model's own."""
    db = open_db(tmp_path / "corpus.db")
    company = db["companies"].insert({"name": "Harbour Co", "slug": "harbour-co"}).last_pk
    crawl_version(db, company, VERSION_1, "2024-01-10T09:00:00+00:00")
    version = db.execute("select model_version from clauses where model_version is not null limit 1").fetchone()[0]
    for text in (SHARE, SPEAK, VIEWS_OLD):
        clause_id = db.execute("select id from clauses where text = ?", [text]).fetchone()[0]
        db.execute("delete from tags where clause_id = ?", [clause_id])
        db["tags"].insert({"clause_id": clause_id, "category": "training", "score": 0.61, "model_version": version})
        db.execute("update clauses set modality = 'permission', modality_score = 0.5, scores = ? where id = ?",
                   [json.dumps({"training": 0.61}), clause_id])
    db.conn.commit()
    crawl_version(db, company, VERSION_2, "2025-03-01T09:00:00+00:00")

    def tags_in_version_2(text: str) -> tuple[dict, str]:
        clause_id, modality = db.execute("select c.id, c.modality from clauses c join snapshots s on s.id = "
                                         "c.snapshot_id where c.text = ? order by s.id desc limit 1", [text]).fetchone()
        return dict(db.execute("select category, score from tags where clause_id = ? and model_version = ?",
                               [clause_id, version]).fetchall()), modality

    assert tags_in_version_2(SHARE) == ({"training": 0.61}, "permission")  # unchanged
    assert tags_in_version_2(SPEAK) == ({"training": 0.61}, "permission")  # moved
    reworded_tags, reworded_modality = tags_in_version_2(VIEWS_NEW)
    assert "training" not in reworded_tags and reworded_modality != "permission"
