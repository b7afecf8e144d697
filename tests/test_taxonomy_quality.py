"""Quality gate: the shipped model's figures on the real labelled sets must not fall below the stored floors.

The shipped model is trained on the taxonomy examples AND on the labelled
sets (gold, realdev, owndocs), so scoring it on them would be training on
the test. Its figures come from cross-validation grouped by document
(``taxonomy.crossval``, run by ``make evaluate``), recorded in the quality
card beside the model; these gates read them there. The slow test repeats
the cross-validation and checks that the card holds what it measures.

The floors live in eval/gold/quality_floors.json (gold), taxonomy/realdev/
and eval/owndocs/quality_floors.json and may only be raised: the test
also fails when a floor is lower than in the committed file or than any
earlier floor recorded in its history.
"""

import pytest

from taxonomy.evaluate import load_card
from taxonomy.pipeline import get_model

from floors import CELL_METRICS, METRICS, ROOT, card_figures, check_above, check_only_raised

GOLD = ROOT.parent / "shared" / "realcorpus" / "gold"
FLOORS = ROOT / "eval" / "gold" / "quality_floors.json"
CARD = ROOT / "taxonomy" / "models" / "default.card.json"


@pytest.mark.parametrize("metric", METRICS + CELL_METRICS)
def test_gold_figures_stay_above_floors(metric):
    check_above(card_figures("gold"), FLOORS, metric)


def test_floors_are_only_raised():
    check_only_raised(FLOORS)


def test_the_shipped_quality_card_belongs_to_the_shipped_model():
    card = load_card(CARD)
    assert card is not None, f"{CARD} is missing: run 'make evaluate'"
    assert card["model_version"] == get_model().version, "the quality card is stale: run 'make evaluate'"
    assert {"gold", "realdev", "owndocs"} <= set(card["sets"])


def test_figures_of_sets_the_model_was_trained_on_come_from_cross_validation():
    model = get_model()
    trained_on = " ".join(p for pair in model.info.get("labelled_documents", []) for p in pair)
    card = load_card(CARD)
    for name, entry in card["sets"].items():
        assert "cross-validation grouped by document" in entry["description"], name
    if model.info.get("labelled_clauses"):
        assert "gold" in trained_on and "owndocs" in trained_on


@pytest.mark.slow
def test_the_shipped_quality_card_holds_a_fresh_cross_validation(tmp_path):
    """Repeat the document-grouped cross-validation (five trainings) and compare with the card."""
    from taxonomy import crossval
    from taxonomy.realdev import FILES, build_units

    realcorpus = GOLD.parent
    if not (GOLD / "units.jsonl").exists():
        pytest.skip(f"gold set not found at {GOLD} (it lives beside the checkout in ../shared/realcorpus)")
    import json

    for batch in FILES:
        rows = build_units(realcorpus, batch)
        (tmp_path / f"realdev-{batch}.units.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = get_model()
    weight = crossval.model_weight(model)
    docs = crossval.load_documents(crossval.set_files(realcorpus, tmp_path))
    oof = crossval.out_of_fold(docs, weight, model=model if weight == 0 else None)
    cells = crossval.cell_crossval(docs, oof)
    for name in crossval.SETS:
        fresh = crossval.clause_figures(docs, oof, name)
        stored = card_figures(name)
        for metric in METRICS:
            assert round(getattr(fresh, metric), 4) == getattr(stored, metric), (name, metric)
        for metric in CELL_METRICS:
            assert round(float(cells[name][metric]), 4) == getattr(stored, metric), (name, metric)


def test_cross_validation_trains_each_fold_with_the_measured_models_backend(monkeypatch):
    """An embeddings model is measured by embeddings models trained without each fold, not by TF-IDF ones."""
    from taxonomy import crossval, training

    seen = []

    class Stop(Exception):
        pass

    def fake_train_model(**kwargs):
        seen.append((kwargs["backend"], kwargs["labelled_weight"]))
        raise Stop

    monkeypatch.setattr(training, "train_model", fake_train_model)
    doc = crossval.LabelledDoc(set="owndocs", doc="d1", units=[], labels=[])
    with pytest.raises(Stop):
        crossval.out_of_fold([doc], 3.0, folds=1, backend="embeddings", log=lambda _: None)
    assert seen == [("embeddings", 3.0)]
