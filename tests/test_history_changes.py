"""analysis/history.py: clause alignment of two versions written here, and the version in force each year."""

from __future__ import annotations

import pytest

from analysis.history import (
    ClauseRef,
    align,
    coverage_by_year,
    diff_snapshots,
    in_force_by_year,
    summarise,
    timeline,
    version_changes,
)

A = "Employees may post about the company on personal accounts."
R = "Be respectful to everyone online, even when you disagree."
M_OLD = "Do not share confidential information about customers."
M_NEW = "Do not share confidential or proprietary information about customers and partners."
X = "Speak for yourself and never on behalf of the company."
Y = "Report harassment you see online to the safety team."
Z = "Ask the communications team before you talk to journalists."
N = "Label any image or text made with generative AI tools before you publish it."


def refs(texts, cats=None, modality=None):
    cats = cats or {}
    modality = modality or {}
    return [ClauseRef(t, i, categories=frozenset(cats.get(t, ())), modality=modality.get(t)) for i, t in enumerate(texts)]


def test_two_known_versions_align_into_the_expected_changes():
    old = refs([A, R, M_OLD, X, Y, Z], cats={R: {"civility"}, M_OLD: {"confidentiality"}},
               modality={A: "permission", R: "recommendation", M_OLD: "prohibition", X: "obligation"})
    new = refs([Y, A, M_NEW, X, Z, N], cats={M_NEW: {"confidentiality"}, N: {"ai_content"}},
               modality={A: "permission", M_NEW: "prohibition", X: "obligation", N: "obligation"})
    changes = align(old, new)
    kinds = {(c.kind, (c.old or c.new).text) for c in changes}
    assert kinds == {("moved", Y), ("unchanged", A), ("modified", M_OLD), ("unchanged", X), ("unchanged", Z),
                     ("added", N), ("removed", R)}
    modified = next(c for c in changes if c.kind == "modified")
    assert modified.new.text == M_NEW and modified.similarity >= 60
    assert ("insert", "or proprietary ") in modified.diff and ("insert", " and partners") in modified.diff
    assert "".join(t for op, t in modified.diff if op != "insert") == M_OLD
    assert "".join(t for op, t in modified.diff if op != "delete") == M_NEW
    summary = summarise(old, new, changes)
    assert summary.counts == {"unchanged": 3, "moved": 1, "modified": 1, "added": 1, "removed": 1}
    assert summary.categories_added == ["ai_content"] and summary.categories_removed == ["civility"]
    assert summary.restrictiveness_old == 0.5 and summary.restrictiveness_new == 0.75
    assert summary.restrictiveness_change == 0.25


def test_unrelated_clauses_are_not_paired_and_repeats_pair_by_occurrence():
    changes = align(refs([A, A, R]), refs([A, Z, A]))
    assert sorted(c.kind for c in changes) == ["added", "removed", "unchanged", "unchanged"]


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
def test_corpus_history_in_force_by_year(tmp_path):
    from archive_fixtures import InternetArchiveLike, make_corpus, records

    from policycorpus.db import open_db

    from commandline import policycorpus

    db_path = make_corpus(tmp_path / "corpus.db")
    ia = InternetArchiveLike(records())
    try:
        policycorpus("history", "--archive", ia.url, "--allow-host", "127.0.0.1", "--delay", "0", "--db", db_path)
    finally:
        ia.close()
    policycorpus("segment", "--db", db_path)
    policycorpus("tag", "--db", db_path)
    db = open_db(db_path)
    doc = next(db["documents"].rows_where("url like '%beta%'"))
    versions = timeline(db, doc["id"])
    assert [v["since"][:4] for v in versions] == ["2019", "2020", "2021", "2026"]
    assert [v["source"] for v in versions] == ["archive", "archive", "archive", "crawl"]
    changes = version_changes(db, doc["id"])
    assert len(changes) == 3
    v1_v2 = changes[0]
    assert v1_v2["modified"] == 1 and v1_v2["added"] == 1 and v1_v2["removed"] == 0  # v2: one reworded, one new
    v2_v3 = changes[1]
    assert v2_v3["removed"] == 1 and v2_v3["added"] == 1
    frame = in_force_by_year(db)
    beta = frame[frame.document_id == doc["id"]]
    assert list(beta.year) == list(range(2019, 2027))
    assert list(beta.snapshot_id[beta.year == 2022]) == [versions[2]["snapshot_id"]]  # 2021's text still in force
    assert frame.groupby(["company_id", "year"]).size().max() == 1
    assert set(frame.company) == {"Alpha", "Beta", "Gamma"}
    cov = coverage_by_year(db)
    assert list(cov.columns) == ["year", "category", "organizations"]
    old, new = versions[0]["snapshot_id"], versions[1]["snapshot_id"]
    changes, summary = diff_snapshots(db, old, new)
    assert summary.counts["modified"] == 1

    # unchanged clauses keep their stable key and their categories from one version to the next, so whatever
    # is attached to a clause key (reviews, citations) holds across versions
    changes, _ = diff_snapshots(db, versions[1]["snapshot_id"], versions[2]["snapshot_id"])
    unchanged = [c for c in changes if c.kind == "unchanged"]
    assert len(unchanged) == 3
    assert all(c.old.key == c.new.key and c.old.categories == c.new.categories for c in unchanged)
    assert all(c.old.clause_id != c.new.clause_id for c in unchanged)
