"""Quality floors kept in a JSON file: a measured figure must not fall below them, and they may only be raised."""

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

from taxonomy.evaluate import load_card
from taxonomy.pipeline import card_path, get_model, model_path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("macro_f1", "micro_f1", "coverage_f1", "modality_accuracy")


def floors(path: Path) -> dict:
    return json.loads(path.read_text())["floors"]


def check_above(scores, path: Path, metric: str) -> None:
    floor = floors(path)[metric]
    value = getattr(scores, metric)
    assert value >= floor, f"{metric} {value:.3f} fell below its floor {floor:.3f} ({path.name})"


def check_only_raised(path: Path) -> None:
    """Against the history kept in the file and against the committed version of it."""
    data = json.loads(path.read_text())
    current = data["floors"]
    assert set(METRICS) <= set(current)
    for entry in data.get("history", []):
        for metric, old in entry["floors"].items():
            assert current[metric] >= old, f"floor of {metric} lowered below {old} ({entry['date']})"
    try:
        committed = subprocess.run(["git", "show", f"HEAD:{path.relative_to(ROOT)}"], cwd=ROOT,
                                   capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return
    if committed.returncode == 0:  # not committed yet: nothing to compare with
        for metric, old in json.loads(committed.stdout)["floors"].items():
            assert current[metric] >= old, f"floor of {metric} lowered from the committed {old}"


CELL_METRICS = ("decided_share", "decided_accuracy", "evidence_precision")


def card_figures(name: str) -> SimpleNamespace:
    """The cross-validated figures of one labelled set in the shipped model's quality card."""
    card = load_card(card_path(model_path()), get_model().version)
    assert card is not None and name in card["sets"], "the quality card is missing or stale: run 'make evaluate'"
    return SimpleNamespace(**card["sets"][name])
