"""Three-state grid cells: is a category covered by a document, absent from it, or uncertain?

A grid cell is (document x category). From the tagger's clause probabilities
a cell gets a *cell score*: a calibrated probability that the document covers
the category, computed by a small logistic model over the category's clause
scores in the document (the best, the second best, how many clauses reach
the category's clause threshold, and the number of taggable clauses), with
one intercept per category. The cell is

* ``covered`` when the cell score reaches the category's ``hi`` threshold,
* ``absent`` when it is below the category's ``lo`` threshold,
* ``uncertain`` (check by hand) in between.

Its *evidence* is the clause with the highest probability for the category,
never a weaker one. The calibrator and the thresholds are data shipped beside
the model (``MODEL.thresholds.json``, see ``CellCalibration``), fitted on
out-of-fold scores of the project's real labelled sets by cross-validation
grouped by document (``taxonomy.crossval``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

COVERED, UNCERTAIN, ABSENT = "covered", "uncertain", "absent"
STATES = (COVERED, UNCERTAIN, ABSENT)
CALIBRATION_FORMAT = 1
FEATURES = ("logit_best", "logit_second", "log1p_reaching", "log_clauses")


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def cell_features(scores: np.ndarray, clause_threshold: float) -> list[float]:
    """Features of one cell from its category's probabilities in the document's taggable clauses."""
    if len(scores) == 0:
        return [_logit(0.0), _logit(0.0), 0.0, 0.0]
    top = np.sort(scores)[::-1]
    second = top[1] if len(top) > 1 else 0.0
    return [_logit(top[0]), _logit(second), math.log1p(int(np.sum(scores >= clause_threshold))),
            math.log(len(scores))]


@dataclass
class CellCalibration:
    """What turns clause probabilities into cell states: a calibrator and per-category (lo, hi) thresholds.

    ``coef`` weighs ``FEATURES``; ``intercepts`` are per category;
    ``clause_thresholds`` are the model's own per-category clause thresholds
    (a feature counts the clauses reaching them); ``lo``/``hi`` bound the
    uncertain band of the calibrated cell score. ``info`` records how they
    were chosen and what they measured by cross-validation.
    """

    model_version: str
    categories: list[str]
    coef: list[float]
    intercepts: dict[str, float]
    clause_thresholds: dict[str, float]
    lo: dict[str, float]
    hi: dict[str, float]
    info: dict = field(default_factory=dict)
    format: int = CALIBRATION_FORMAT

    def cell_score(self, category: str, scores: np.ndarray) -> float:
        x = cell_features(np.asarray(scores, dtype=float), self.clause_thresholds[category])
        z = self.intercepts[category] + sum(w * v for w, v in zip(self.coef, x))
        return 1.0 / (1.0 + math.exp(-z))

    def state(self, category: str, cell_score: float) -> str:
        if cell_score >= self.hi[category]:
            return COVERED
        if cell_score < self.lo[category]:
            return ABSENT
        return UNCERTAIN

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")
        return path


def load_calibration(path: str | Path) -> CellCalibration | None:
    """The calibration stored at ``path``, or None when there is no such file."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        calibration = CellCalibration(**data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"cannot read the cell thresholds {path}: {exc}") from exc
    if calibration.format != CALIBRATION_FORMAT or not set(calibration.categories) <= set(calibration.hi):
        raise ValueError(f"{path} is not a cell-threshold file of format {CALIBRATION_FORMAT}")
    return calibration


def _clause_scores(clause) -> Mapping[str, float]:
    scores = clause.get("scores") if isinstance(clause, Mapping) else getattr(clause, "scores", None)
    return scores if isinstance(scores, Mapping) else {}


def _clause_attr(clause, name: str, default=None):
    return clause.get(name, default) if isinstance(clause, Mapping) else getattr(clause, name, default)


def cell_states(scores_by_clause: Sequence, thresholds: CellCalibration,
                categories: Iterable[str] | None = None) -> list[dict]:
    """The state of each category's cell for ONE document, with its score and evidence clause.

    ``scores_by_clause``: the document's clauses in order, each a mapping (or
    object) with ``scores`` = {category id: probability} -- the tagger's
    probabilities for every category (``TaggerModel.clause_scores``); a
    category missing from a clause's mapping counts as probability 0. Optional
    ``idx`` (any key that identifies the clause; defaults to its position) and
    ``kind`` (clauses whose kind is not ``"clause"`` -- headings, boilerplate,
    fragments -- are never evidence and are ignored). Passing only the tags a
    clause was given (instead of all probabilities) works, but turns some
    ``uncertain`` cells into ``absent`` ones.

    ``thresholds``: the ``CellCalibration`` shipped with the model
    (``load_calibration(MODEL.thresholds.json)``).

    Returns one dict per category (in ``categories`` or the calibration's
    order): ``{"category", "state": "covered"|"uncertain"|"absent", "score":
    calibrated cell score in [0, 1] rounded to 4 places, "best": the highest
    clause probability, "evidence_idx": the ``idx`` of the highest-scoring
    clause (None when the state is absent or no clause scores above 0),
    "lo", "hi"}``. An empty document gives every category ``absent``.
    """
    rows = [(i, c) for i, c in enumerate(scores_by_clause) if _clause_attr(c, "kind", "clause") == "clause"]
    out = []
    for category in (list(categories) if categories is not None else thresholds.categories):
        probs = np.array([float(_clause_scores(c).get(category, 0.0) or 0.0) for _, c in rows], dtype=float)
        score = thresholds.cell_score(category, probs)
        state = thresholds.state(category, score)
        evidence = None
        if len(probs) and probs.max() > 0 and state != ABSENT:
            i, clause = rows[int(probs.argmax())]
            evidence = _clause_attr(clause, "idx", i)
        out.append({"category": category, "state": state, "score": round(score, 4),
                    "best": round(float(probs.max()) if len(probs) else 0.0, 4), "evidence_idx": evidence,
                    "lo": thresholds.lo[category], "hi": thresholds.hi[category]})
    return out


def uncalibrated_cell_states(scores_by_clause: Sequence, categories: Iterable[str]) -> list[dict]:
    """Cells of a tagger that has no calibration (an ``llm`` model, a model trained without thresholds).

    Such a tagger's own decisions are all there is: a category it gave some
    clause is ``covered`` (evidence: that clause with the highest confidence),
    one it gave none is ``absent``; nothing is marked ``uncertain``, and the
    stored rows say ``calibrated = 0`` so readers can tell.
    """
    rows = [(i, c) for i, c in enumerate(scores_by_clause) if _clause_attr(c, "kind", "clause") == "clause"]
    out = []
    for category in categories:
        given = [(float((_clause_attr(c, "labels") or {}).get(category, 0.0) or 0.0), i, c) for i, c in rows
                 if category in (_clause_attr(c, "labels") or {})]
        if given:
            best, i, clause = max(given, key=lambda t: t[0])
            out.append({"category": category, "state": COVERED, "score": round(best, 4), "best": round(best, 4),
                        "evidence_idx": _clause_attr(clause, "idx", i)})
        else:
            probs = [float(_clause_scores(c).get(category, 0.0) or 0.0) for _, c in rows]
            best = round(max(probs), 4) if probs else 0.0
            out.append({"category": category, "state": ABSENT, "score": best, "best": best, "evidence_idx": None})
    return out


# ---------------------------------------------------------------- fitting (taxonomy.crossval)

THRESHOLD_GRID = np.round(np.arange(0.0, 1.0001, 0.01), 3)
TARGET_ACCURACY = 0.95
TARGET_EVIDENCE = 0.90
# thresholds are chosen to reach the targets plus these margins on the fitting cells (what they reach on
# unseen documents is lower: see taxonomy/README.md, seventh round)
ACCURACY_MARGIN = 0.03
EVIDENCE_MARGIN = 0.05
PENALTIES = (2, 3, 4, 6, 8, 10, 13, 16, 20, 25, 30)  # cost of a wrong decided cell, in right ones
EVIDENCE_PENALTIES = (0, 1, 2, 4, 8)  # cost of a right covered cell whose evidence is wrong
POOLING = 5.0  # weight of the pooled utility curve in each category's choice (shrinks rare categories)


@dataclass
class CellTable:
    """Cells of labelled documents: features, category index, truth, and whether the evidence is right."""

    X: np.ndarray
    category: np.ndarray
    truth: np.ndarray
    evidence_ok: np.ndarray
    group: np.ndarray  # document index


def build_cells(documents: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], clause_thresholds: np.ndarray,
                ) -> CellTable:
    """Cells of documents given as (P: clauses x categories, taggable mask, Y: clauses x categories labels)."""
    X, cat, truth, ev, grp = [], [], [], [], []
    for g, (P, taggable, Y) in enumerate(documents):
        P, Y = np.asarray(P)[np.asarray(taggable, bool)], np.asarray(Y, bool)
        Yt = Y[np.asarray(taggable, bool)]
        for k in range(P.shape[1] if P.ndim == 2 else len(clause_thresholds)):
            col = P[:, k] if len(P) else np.zeros(0)
            X.append(cell_features(col, clause_thresholds[k]))
            cat.append(k)
            truth.append(bool(Y[:, k].any()))
            ev.append(bool(len(col) and col.max() > 0 and Yt[int(col.argmax()), k]))
            grp.append(g)
    return CellTable(np.array(X), np.array(cat), np.array(truth), np.array(ev), np.array(grp))


def _design(cells: CellTable, n_categories: int) -> np.ndarray:
    return np.hstack([cells.X, np.eye(n_categories)[cells.category]])


def fit_calibrator(cells: CellTable, n_categories: int) -> tuple[np.ndarray, np.ndarray]:
    """Logistic model of 'the document covers the category' over cell features and a per-category intercept."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0, max_iter=5000).fit(_design(cells, n_categories), cells.truth)
    coef = lr.coef_[0]
    nf = cells.X.shape[1]
    return coef[:nf], coef[nf:] + lr.intercept_[0]


def calibrated(cells: CellTable, coef: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(cells.X @ coef + intercepts[cells.category])))


def _utilities(score, truth, evidence_ok, penalty, evidence_penalty):
    covered = score[None, :] >= THRESHOLD_GRID[:, None]
    gain_cov = np.where(truth, np.where(evidence_ok, 1.0, 1.0 - evidence_penalty), -penalty)
    absent = score[None, :] < THRESHOLD_GRID[:, None]
    gain_abs = np.where(~truth, 1.0, -penalty)
    return (covered * gain_cov[None, :]).sum(1), (absent * gain_abs[None, :]).sum(1)


def choose_thresholds(score: np.ndarray, cells: CellTable, n_categories: int, penalty: float, evidence_penalty: float,
                      pooling: float = POOLING) -> tuple[np.ndarray, np.ndarray]:
    """Per-category (lo, hi) maximising decided cells minus penalties, shrunk towards the pooled choice."""
    pooled_hi, pooled_lo = _utilities(score, cells.truth, cells.evidence_ok, penalty, evidence_penalty)
    lo, hi = np.zeros(n_categories), np.ones(n_categories)
    for k in range(n_categories):
        m = cells.category == k
        uh, ul = _utilities(score[m], cells.truth[m], cells.evidence_ok[m], penalty, evidence_penalty)
        uh = uh + pooling * pooled_hi / n_categories
        ul = ul + pooling * pooled_lo / n_categories
        hi[k] = THRESHOLD_GRID[int(np.argmax(uh))]
        ul = np.where(THRESHOLD_GRID <= hi[k], ul, -np.inf)
        lo[k] = THRESHOLD_GRID[int(np.argmax(ul))]
    return lo, hi


def cell_figures(score: np.ndarray, lo: np.ndarray, hi: np.ndarray, cells: CellTable,
                 mask: np.ndarray | None = None) -> dict:
    """Decided share, decided accuracy and evidence precision of cells under thresholds lo/hi (per category)."""
    m = np.ones(len(score), bool) if mask is None else np.asarray(mask, bool)
    covered = m & (score >= hi[cells.category])
    absent = m & (score < lo[cells.category]) & ~covered
    decided = covered | absent
    right = (covered & cells.truth) | (absent & ~cells.truth)
    n = int(m.sum())
    return {"cells": n, "decided": int(decided.sum()), "covered": int(covered.sum()),
            "decided_share": decided.sum() / n if n else 0.0,
            "decided_accuracy": right[decided].mean() if decided.any() else 0.0,
            "evidence_precision": (cells.evidence_ok[covered] & cells.truth[covered]).mean() if covered.any() else 0.0}


def fit_thresholds(score: np.ndarray, cells: CellTable, n_categories: int, accuracy: float | None = None,
                   evidence: float | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The per-category thresholds deciding most cells while reaching the targets on the fitting cells.

    Tries each (penalty, evidence penalty) pair; when none reaches both
    targets, the one closest to them is taken.
    """
    accuracy = TARGET_ACCURACY + ACCURACY_MARGIN if accuracy is None else accuracy
    evidence = TARGET_EVIDENCE + EVIDENCE_MARGIN if evidence is None else evidence
    tried = []
    for penalty in PENALTIES:
        for evidence_penalty in EVIDENCE_PENALTIES:
            lo, hi = choose_thresholds(score, cells, n_categories, penalty, evidence_penalty)
            f = cell_figures(score, lo, hi, cells)
            shortfall = max(0.0, accuracy - f["decided_accuracy"]) + max(0.0, evidence - f["evidence_precision"])
            key = (-round(shortfall, 4), f["decided_share"])
            tried.append((key, lo, hi, {"penalty": penalty, "evidence_penalty": evidence_penalty, **f}))
    best = max(tried, key=lambda t: t[0])  # the first of equally good ones
    return best[1], best[2], best[3]
