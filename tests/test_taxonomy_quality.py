"""Quality gate: the default model on the real gold set must not fall below the stored floors.

The floors live in taxonomy/quality_floors.json and may only be raised: the
test also fails when a floor is lower than in the committed file or than any
earlier floor recorded in its history.
"""

import json
import subprocess
from pathlib import Path

import pytest

from taxonomy.evaluate import format_scores, score
from taxonomy.pipeline import classify_units, get_model

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT.parent / "shared" / "realcorpus" / "gold"
FLOORS = ROOT / "taxonomy" / "quality_floors.json"
METRICS = ("macro_f1", "micro_f1", "coverage_f1", "modality_accuracy")


def _floors(text: str) -> dict:
    return json.loads(text)["floors"]


@pytest.fixture(scope="module")
def measured():
    if not (GOLD / "units.jsonl").exists():
        pytest.skip(f"gold set not found at {GOLD} (it lives beside the checkout in ../shared/realcorpus)")
    units = [json.loads(line) for line in (GOLD / "units.jsonl").read_text(encoding="utf-8").splitlines() if line]
    labels = {(r["doc"], r["idx"]): r for r in map(json.loads, (GOLD / "labels.jsonl").read_text().splitlines())}
    model = get_model()
    predicted = classify_units(units, model)
    scores = score([labels[(u["doc"], u["idx"])] for u in units], predicted, model.categories)
    print(f"\nmodel {model.version}\n{format_scores(scores)}")
    return scores


@pytest.mark.parametrize("metric", METRICS)
def test_gold_figures_stay_above_floors(measured, metric):
    floor = _floors(FLOORS.read_text())[metric]
    value = getattr(measured, metric)
    assert value >= floor, f"{metric} {value:.3f} fell below its floor {floor:.3f}"


def test_floors_are_only_raised():
    data = json.loads(FLOORS.read_text())
    floors = data["floors"]
    assert set(METRICS) <= set(floors)
    for entry in data.get("history", []):
        for metric, old in entry["floors"].items():
            assert floors[metric] >= old, f"floor of {metric} lowered below {old} ({entry['date']})"
    try:
        committed = subprocess.run(["git", "show", "HEAD:taxonomy/quality_floors.json"], cwd=ROOT,
                                   capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return
    if committed.returncode == 0:
        for metric, old in _floors(committed.stdout).items():
            assert floors[metric] >= old, f"floor of {metric} lowered from the committed {old}"
