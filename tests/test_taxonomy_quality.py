"""Quality gate: the default model on the real gold set must not fall below the stored floors.

The floors live in taxonomy/quality_floors.json and may only be raised: the
test also fails when a floor is lower than in the committed file or than any
earlier floor recorded in its history.
"""

import pytest
from floors import METRICS, ROOT, check_above, check_only_raised

from taxonomy.evaluate import format_scores, score
from taxonomy.pipeline import classify_units, get_model
from taxonomy.training import read_unit_labels

GOLD = ROOT.parent / "shared" / "realcorpus" / "gold"
FLOORS = ROOT / "taxonomy" / "quality_floors.json"


@pytest.fixture(scope="module")
def measured():
    if not (GOLD / "units.jsonl").exists():
        pytest.skip(f"gold set not found at {GOLD} (it lives beside the checkout in ../shared/realcorpus)")
    units, labels = read_unit_labels(GOLD / "units.jsonl", GOLD / "labels.jsonl")
    model = get_model()
    scores = score(labels, classify_units(units, model), model.categories)
    print(f"\nmodel {model.version}\n{format_scores(scores)}")
    return scores


@pytest.mark.parametrize("metric", METRICS)
def test_gold_figures_stay_above_floors(measured, metric):
    check_above(measured, FLOORS, metric)


def test_floors_are_only_raised():
    check_only_raised(FLOORS)


CARD = ROOT / "taxonomy" / "models" / "default.card.json"


def test_the_shipped_quality_card_belongs_to_the_shipped_model():
    from taxonomy.evaluate import load_card

    card = load_card(CARD)
    assert card is not None, f"{CARD} is missing: run 'make evaluate'"
    assert card["model_version"] == get_model().version, "the quality card is stale: run 'make evaluate'"
    assert {"gold", "realdev", "owndocs"} <= set(card["sets"])


def test_the_shipped_quality_card_holds_the_measured_gold_figures(measured):
    from taxonomy.evaluate import card_entry, load_card

    gold = load_card(CARD)["sets"]["gold"]
    fresh = card_entry(measured, gold["description"])
    assert gold == fresh, "the quality card's gold figures differ from a fresh measurement: run 'make evaluate'"
