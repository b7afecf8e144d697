"""The clustering estimators follow scikit-learn's conventions: estimator checks, clone, params, sub-models."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from analysis.estimators import ClauseClusterer, CTfidfLabeller, TfidfLSA, choose_by_peak

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import clause_texts  # noqa: E402

# A fixed 2-component reducer cannot reduce data of one sample or one feature: scikit-learn's
# own PCA raises its own message there, not the one these two checks look for.
CUSTOM_EXPECTED = {
    "check_fit2d_1sample": "PCA(n_components=2) cannot fit one sample; its own error is raised",
    "check_fit2d_1feature": "PCA(n_components=2) cannot reduce one feature; its own error is raised",
}


@parametrize_with_checks(
    [ClauseClusterer(method="hdbscan", reduce_outliers=True),
     ClauseClusterer(metric="euclidean", reducer=PCA(n_components=2), clusterer=AgglomerativeClustering(n_clusters=3))],
    expected_failed_checks=lambda est: CUSTOM_EXPECTED if est.clusterer is not None else {},
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# The default representation runs the shipped tagger on every check's data: half a minute, so in the full suite only
@pytest.mark.slow
@parametrize_with_checks([ClauseClusterer()])
def test_sklearn_estimator_checks_on_the_default_clusterer(estimator, check):
    check(estimator)


def texts_and_types(seed=1):
    rows = [(t, cats[0] if cats else "parking") for clauses in clause_texts(seed).values() for t, _, cats in clauses]
    return [t for t, _ in rows], [c for _, c in rows]


def test_clone_params_and_fit_predict():
    texts, types = texts_and_types()
    model = ClauseClusterer(n_clusters=3, random_state=4)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert model.set_params(k_max=9) is model and model.get_params()["k_max"] == 9
    labels = model.fit_predict(texts)
    assert np.array_equal(labels, model.labels_) and model.n_clusters_ == 3
    assert adjusted_rand_score(types, labels) > 0.9
    # the same parameters give the same clusters
    assert np.array_equal(clone(model).fit(texts).labels_, labels)
    # new clauses go to the cluster of their type
    new = ["Never post secret client lists online.", "Turn on two-factor authentication for the brand account.",
           "The staff car park closes early for deliveries."]
    predicted = model.predict(new)
    for text, cluster in zip(new, predicted):
        own = labels[[i for i, t in enumerate(texts) if t.split()[0] == text.split()[0]][0]]
        assert cluster == own, text
    distances = model.transform(new)
    assert distances.shape == (3, 3) and np.array_equal(distances.argmin(axis=1), predicted)
    assert model.fit_transform(texts).shape == (len(texts), 3)


def test_precomputed_embeddings_and_sub_models():
    texts, types = texts_and_types(2)
    vectors = TfidfLSA(n_components=20, random_state=0).fit_transform(texts)
    on_vectors = ClauseClusterer(n_clusters=3, random_state=0).fit(vectors)
    assert on_vectors.topic_terms_ == {} and on_vectors.n_features_in_ == 20
    assert adjusted_rand_score(types, on_vectors.labels_) > 0.9
    with_texts = ClauseClusterer(n_clusters=3, random_state=0).fit(texts, embeddings=vectors)
    assert np.array_equal(with_texts.labels_, on_vectors.labels_)
    assert any({"parking", "car", "park"} & set(terms) for terms in with_texts.topic_terms_.values())
    with pytest.raises(ValueError, match="embeddings"):
        ClauseClusterer().fit(texts, embeddings=vectors[:5])
    # BERTopic-style parts: any vectorizer, reducer, clusterer and labeller
    custom = ClauseClusterer(representation=TfidfVectorizer(), reducer=PCA(n_components=5, random_state=0),
                             clusterer=AgglomerativeClustering(n_clusters=3), labeller=CTfidfLabeller(n_terms=3),
                             metric="euclidean").fit(texts)
    assert custom.n_clusters_ == 3 and all(len(t) <= 3 for t in custom.topic_terms_.values())
    assert adjusted_rand_score(types, custom.labels_) > 0.8
    assert custom.predict(texts[:4]).shape == (4,)
    assert custom.stability_ is None  # a given clusterer's stability is not ours to measure


def test_k_is_chosen_by_a_peak_or_says_it_is_not():
    assert choose_by_peak({2: 0.1, 4: 0.3, 8: 0.2, 16: 0.15}) == (4, True)
    k, peaked = choose_by_peak({2: 0.05, 4: 0.20, 8: 0.25, 16: 0.27, 32: 0.28})
    assert (k, peaked) == (32, False)  # rising to the cap: the cap, and it says it did not peak
    assert choose_by_peak({2: None, 3: None}) == (2, False)
    texts, _ = texts_and_types()
    model = ClauseClusterer(k_min=2, k_max=8, random_state=0).fit(texts)
    assert set(model.selection_) <= set(range(2, 9))
    best = max(model.selection_, key=model.selection_.get)
    assert model.n_clusters_ == best and model.k_peaked_ == (min(model.selection_) < best < max(model.selection_))
    assert model.stability_ is not None and model.stability_ > 0.5


def test_hdbscan_meets_the_outlier_bound_only_when_asked():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 10)) * 5
    dense = np.vstack([c + rng.normal(scale=0.3, size=(40, 10)) for c in centres])
    noise = rng.uniform(-12, 12, size=(80, 10))
    X = np.vstack([dense, noise])
    plain = ClauseClusterer(method="hdbscan", metric="euclidean", min_cluster_sizes=(10,), max_outlier_share=0.1).fit(X)
    assert plain.outlier_share_ > 0.1 and not plain.outlier_bound_met_ and plain.outliers_reassigned_ == 0
    reduced = ClauseClusterer(method="hdbscan", metric="euclidean", min_cluster_sizes=(10,), max_outlier_share=0.1,
                              reduce_outliers=True).fit(X)
    assert reduced.outlier_bound_met_ and reduced.outlier_share_ <= 0.1
    assert reduced.outlier_share_before_ == pytest.approx(plain.outlier_share_)
    assert reduced.outliers_reassigned_ == int(np.sum(plain.labels_ < 0)) - int(np.sum(reduced.labels_ < 0))
    # the dense points keep their clusters
    assert np.array_equal(reduced.labels_[:120], plain.labels_[:120])


def test_bad_parameters_fail_at_fit_not_init():
    model = ClauseClusterer(method="nope", representation="words")
    with pytest.raises(ValueError, match="method"):
        model.fit(["a b c"] * 5)
    with pytest.raises(ValueError, match="n_samples = 2"):
        ClauseClusterer().fit(["one clause here", "another clause here"])
