"""Three-state grid cells: cell_states, the shipped cell thresholds and 'policycorpus taxonomy coverage'."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from policycorpus.cli import cli
from taxonomy.coverage import (
    ABSENT,
    COVERED,
    UNCERTAIN,
    CellCalibration,
    build_cells,
    cell_figures,
    cell_states,
    load_calibration,
)
from taxonomy.pipeline import DEFAULT_MODEL_PATH, get_calibration, get_model, thresholds_path


def calibration(**overrides) -> CellCalibration:
    # cell score = sigmoid(8 * (best - 0.5)): the best clause alone decides, which keeps the cases readable
    cats = ["privacy", "security"]
    base = dict(model_version="m1", categories=cats, coef=[0.0, 0.0, 0.0, 0.0],
                intercepts={c: 0.0 for c in cats}, clause_thresholds={c: 0.5 for c in cats},
                lo={c: 0.2 for c in cats}, hi={c: 0.8 for c in cats})
    base.update(overrides)
    cal = CellCalibration(**base)
    cal.cell_score = lambda category, scores: float(  # type: ignore[method-assign]
        1 / (1 + np.exp(-8 * ((max(scores) if len(scores) else 0.0) - 0.5))))
    return cal


def test_states_follow_the_thresholds_and_evidence_is_the_strongest_clause():
    clauses = [
        {"idx": 10, "scores": {"privacy": 0.3, "security": 0.55}},
        {"idx": 11, "scores": {"privacy": 0.95, "security": 0.1}},
        {"idx": 12, "scores": {"privacy": 0.4}},
    ]
    cells = {c["category"]: c for c in cell_states(clauses, calibration())}
    assert cells["privacy"]["state"] == COVERED and cells["privacy"]["evidence_idx"] == 11
    assert cells["privacy"]["best"] == 0.95
    assert cells["security"]["state"] == UNCERTAIN and cells["security"]["evidence_idx"] == 10
    assert 0 <= cells["security"]["score"] <= 1


def test_absent_cells_have_no_evidence_and_non_clauses_never_count():
    clauses = [
        {"idx": 0, "kind": "heading", "scores": {"privacy": 0.99}},
        {"idx": 1, "kind": "fragment", "scores": {"privacy": 0.99}},
        {"idx": 2, "kind": "clause", "scores": {"privacy": 0.05}},
    ]
    cells = {c["category"]: c for c in cell_states(clauses, calibration())}
    assert cells["privacy"]["state"] == ABSENT and cells["privacy"]["evidence_idx"] is None
    assert cells["security"]["state"] == ABSENT  # a category missing from every clause scores 0


def test_an_empty_document_has_every_category_absent_and_positions_stand_in_for_idx():
    assert {c["state"] for c in cell_states([], calibration())} == {ABSENT}
    cells = cell_states([{"scores": {"privacy": 0.1}}, {"scores": {"privacy": 0.9}}], calibration(),
                        categories=["privacy"])
    assert [c["evidence_idx"] for c in cells] == [1]


def test_the_real_calibrator_is_monotone_in_the_best_clause():
    cal = load_calibration(thresholds_path(DEFAULT_MODEL_PATH))
    assert cal is not None
    for category in cal.categories:
        scores = [cal.cell_score(category, np.array([p, 0.05])) for p in (0.05, 0.3, 0.6, 0.95)]
        assert scores == sorted(scores)
        assert 0.0 <= cal.lo[category] <= cal.hi[category] <= 1.0


def test_cell_figures_count_decided_right_and_evidence():
    P = np.array([[0.9, 0.3], [0.2, 0.05], [0.1, 0.15]])
    Y = np.array([[1, 0], [0, 0], [0, 1]], dtype=bool)
    cells = build_cells([(P, np.ones(3, bool), Y)], np.array([0.5, 0.5]))
    assert list(cells.truth) == [True, True] and list(cells.evidence_ok) == [True, False]
    score = np.array([0.95, 0.5])
    f = cell_figures(score, np.array([0.1, 0.1]), np.array([0.9, 0.9]), cells)
    assert f["decided"] == 1 and f["decided_accuracy"] == 1.0 and f["evidence_precision"] == 1.0
    f = cell_figures(score, np.array([0.1, 0.6]), np.array([0.9, 0.9]), cells)
    assert f["decided"] == 2 and f["decided_accuracy"] == 0.5


def test_the_shipped_thresholds_belong_to_the_shipped_model_and_record_how_they_were_chosen():
    cal = get_calibration(get_model())
    assert set(cal.categories) == set(get_model().categories)
    assert "cross-validation grouped by document" in cal.info["method"]
    assert {"gold", "realdev", "owndocs"} <= set(cal.info["crossval"])


def test_a_calibration_for_another_model_is_refused(tmp_path):
    from policycorpus.errors import InputError

    other = tmp_path / "other.thresholds.json"
    calibration(model_version="not-this-model").save(other)
    with pytest.raises(InputError, match="fitted for model not-this-model"):
        get_calibration(get_model(), path=other)


UNITS = [
    {"doc": "a", "idx": 0, "text": "Social media policy"},
    {"doc": "a", "idx": 1, "text": "Never share your password or log-in details with anyone, including colleagues."},
    {"doc": "a", "idx": 2, "text": "Do not post confidential information about customers, suppliers or unreleased "
                                   "products."},
    {"doc": "a", "idx": 3, "text": "Breaches of this policy may lead to disciplinary action, up to dismissal."},
    {"doc": "b", "idx": 0, "text": "Only the communications team may speak to journalists on behalf of the company."},
]


def test_coverage_command_prints_one_cell_per_document_and_category(tmp_path):
    path = tmp_path / "units.jsonl"
    path.write_text("".join(json.dumps(u) + "\n" for u in UNITS))
    result = CliRunner().invoke(cli, ["taxonomy", "coverage", str(path)])
    assert result.exit_code == 0, result.output
    cells = [json.loads(line) for line in result.output.splitlines()]
    categories = get_model().categories
    assert len(cells) == 2 * len(categories)
    assert all(set(c) == {"doc", "category", "state", "score", "evidence_idx"} for c in cells)
    for c in cells:
        assert c["state"] in (COVERED, UNCERTAIN, ABSENT)
        if c["state"] == ABSENT:
            assert c["evidence_idx"] is None
        else:  # the title is a heading, never evidence
            assert c["evidence_idx"] in ({1, 2, 3} if c["doc"] == "a" else {0})
    by = {(c["doc"], c["category"]): c for c in cells}
    assert by[("a", "security")]["evidence_idx"] == 1
    assert by[("a", "security")]["state"] != ABSENT


def test_coverage_command_refuses_thresholds_of_another_model(tmp_path):
    path = tmp_path / "units.jsonl"
    path.write_text("".join(json.dumps(u) + "\n" for u in UNITS))
    other = tmp_path / "other.thresholds.json"
    calibration(model_version="not-this-model").save(other)
    result = CliRunner().invoke(cli, ["taxonomy", "coverage", str(path), "--thresholds", str(other)])
    assert result.exit_code != 0
    assert "fitted for model not-this-model" in result.output



def test_evaluate_prints_cell_figures_and_warns_when_the_model_was_trained_on_the_set(monkeypatch):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)  # the model records its training files relative to the checkout
    units, labels = "eval/owndocs/oss.units.jsonl", "eval/owndocs/oss.labels.jsonl"
    result = CliRunner().invoke(cli, ["taxonomy", "evaluate", "--units", units, "--labels", labels])
    assert result.exit_code == 0, result.output
    text = result.output + (getattr(result, "stderr", "") or "")
    assert "decided accuracy" in text and "evidence precision" in text
    # the shipped model is trained on the own documents, so this is no test of it and evaluate says so
    assert any(Path(u).parts[-2:] == Path(units).parts[-2:] for u, _ in get_model().info["labelled_documents"])
    assert "these figures are not a test" in text
