"""Cross-validation grouped by document on the project's real labelled sets, and fitting the cell thresholds.

The labelled sets are gold (``shared/realcorpus/gold``), the real development
set (``taxonomy/realdev``, units rebuilt from ``shared/realcorpus``) and the
own documents (``eval/owndocs``). Every document lands in exactly one of
``FOLDS`` folds (documents of each set dealt round-robin in a fixed shuffled
order). For each fold a model is trained without the fold's documents (on
the taxonomy examples, plus the other folds' labelled clauses when
``labelled_weight`` > 0) and scores them; all figures are pooled over the
folds, so no document is scored by a model or a threshold that saw it.

    python -m taxonomy.crossval ../shared/realcorpus --realdev demo-out/realdev [--weight 1] [--write-thresholds]

The cell calibrator and its thresholds are fitted the same way: for each fold
on the out-of-fold scores of the other folds' documents, and measured on the
fold. ``--write-thresholds`` then fits them on all documents' out-of-fold
scores and stores them beside the model (``MODEL.thresholds.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from taxonomy import coverage
from taxonomy.evaluate import Scores, score
from taxonomy.segment import CLAUSE, Clause, clauses_from_units

if TYPE_CHECKING:
    from taxonomy.model import TaggerModel

FOLDS = 5
SETS = ("gold", "realdev", "owndocs")
# evaluation data lives in the repository's eval/ folder, not in the installed package
EVAL_DIR = Path(__file__).resolve().parents[1] / "eval"
OWNDOCS_DIR = EVAL_DIR / "owndocs"
REALDEV_LABELS = EVAL_DIR / "realdev" / "labels"


@dataclass
class LabelledDoc:
    set: str
    doc: str
    units: list[dict]
    labels: list[dict]
    clauses: list[Clause] = field(default_factory=list)

    @property
    def records(self) -> list[dict]:
        from taxonomy.pipeline import clause_record

        return [clause_record(c) for c in self.clauses]

    @property
    def taggable(self) -> np.ndarray:
        return np.array([c.kind == CLAUSE for c in self.clauses], dtype=bool)

    def label_matrix(self, categories: list[str]) -> np.ndarray:
        index = {c: k for k, c in enumerate(categories)}
        Y = np.zeros((len(self.units), len(categories)), dtype=bool)
        for i, row in enumerate(self.labels):
            for c in row.get("labels") or ():
                Y[i, index[c]] = True
        return Y

    def training_rows(self) -> list[dict]:
        """The labelled taggable clauses, read in context, as ``train_model(labelled_rows=...)`` takes them."""
        return [{"text": c.text, "context": c.context or c.text, "heading": c.heading, "lead_in": c.lead_in,
                 "labels": lab.get("labels") or [], "modality": lab.get("modality"), "doc": self.doc}
                for c, lab in zip(self.clauses, self.labels) if c.kind == CLAUSE]


def set_files(realcorpus: str | Path | None, realdev_units: str | Path | None) -> dict[str, list[tuple[Path, Path]]]:
    """(units, labels) file pairs of each labelled set that is present."""
    out: dict[str, list[tuple[Path, Path]]] = {}
    gold = Path(realcorpus) / "gold" if realcorpus else None
    if gold and (gold / "units.jsonl").is_file():
        out["gold"] = [(gold / "units.jsonl", gold / "labels.jsonl")]
    if realdev_units:
        pairs = [(Path(realdev_units) / f"realdev-{b}.units.jsonl", REALDEV_LABELS / f"{b}.labels.jsonl")
                 for b in ("A", "B", "C")]
        if all(u.is_file() for u, _ in pairs):
            out["realdev"] = pairs
    out["owndocs"] = [(u, u.with_name(u.name.replace(".units.", ".labels.")))
                      for u in sorted(OWNDOCS_DIR.glob("*.units.jsonl"))]
    return out


def load_documents(files: dict[str, list[tuple[Path, Path]]]) -> list[LabelledDoc]:
    from taxonomy.training import read_unit_labels

    docs = []
    for name, pairs in files.items():
        for units_path, labels_path in pairs:
            units, labels = read_unit_labels(units_path, labels_path)
            grouped: dict = {}
            for u, lab in zip(units, labels):
                grouped.setdefault(u.get("doc"), ([], []))
                grouped[u.get("doc")][0].append(u)
                grouped[u.get("doc")][1].append(lab)
            for doc, (us, ls) in grouped.items():
                docs.append(LabelledDoc(name, f"{name}/{units_path.name}#{doc}", us, ls, clauses_from_units(us)))
    return docs


def fold_of(docs: list[LabelledDoc], folds: int = FOLDS) -> np.ndarray:
    """Each document's fold: the documents of each set, in a fixed pseudo-random order, dealt round-robin."""
    out = np.zeros(len(docs), dtype=int)
    for name in {d.set for d in docs}:
        members = [i for i, d in enumerate(docs) if d.set == name]
        members.sort(key=lambda i: hashlib.sha256(docs[i].doc.encode()).hexdigest())
        for n, i in enumerate(members):
            out[i] = n % folds
    return out


@dataclass
class FoldScores:
    """Out-of-fold probabilities, decisions and modalities of every document."""

    P: list[np.ndarray]
    chosen: list[np.ndarray]
    modality: list[list[str]]
    clause_thresholds: list[np.ndarray]  # of the model that scored each document
    categories: list[str]


def score_documents(model: TaggerModel, docs: list[LabelledDoc]) -> tuple[list, list, list]:
    """Probabilities, label decisions and modalities of documents, each read as one document."""
    records = [r for d in docs for r in d.records]
    taggable = np.concatenate([d.taggable for d in docs]) if docs else np.zeros(0, bool)
    ids = [d.doc for d in docs for _ in d.clauses]
    P = model.tagger.predict_proba(records) if records else np.zeros((0, len(model.categories)))
    chosen = model.tagger.decide(P, taggable, ids)
    mods = [m if t else "information" for (m, _), t in zip(model.modality.predict_with_score(records), taggable)]
    out_p, out_c, out_m, off = [], [], [], 0
    for d in docs:
        n = len(d.clauses)
        out_p.append(np.where(d.taggable[:, None], P[off:off + n], 0.0))
        out_c.append(chosen[off:off + n])
        out_m.append(mods[off:off + n])
        off += n
    return out_p, out_c, out_m


def out_of_fold(docs: list[LabelledDoc], labelled_weight: float = 0.0, seed: int = 0, folds: int = FOLDS,
                train: Callable[[list[dict]], TaggerModel] | None = None, log: Callable[[str], object] = print,
                model: TaggerModel | None = None, backend: str = "tfidf") -> FoldScores:
    """Score each document with a model trained without its fold.

    With ``labelled_weight`` 0 no labelled clause is trained on, so one model
    scores every fold: ``model`` (say, the shipped one) or one trained on the
    examples. Otherwise each fold trains a model of ``backend`` (the measured
    model's own: an embeddings model is measured by embeddings models).
    """
    from taxonomy.training import train_model

    train = train or (lambda rows: train_model(seed=seed, labelled_rows=rows or None, labelled_weight=labelled_weight,
                                               backend=backend))
    fold = fold_of(docs, folds)
    P: list = [None] * len(docs)
    C: list = [None] * len(docs)
    M: list = [None] * len(docs)
    T: list = [None] * len(docs)
    shared = None if labelled_weight > 0 else (model or train([]))
    for f in range(folds):
        test = [i for i in range(len(docs)) if fold[i] == f]
        rows = [r for i in range(len(docs)) if fold[i] != f for r in docs[i].training_rows()]
        fold_model = shared or train(rows)
        log(f"fold {f}: {len(test)} documents scored by {fold_model.version}"
            + (f" (trained with {len(rows)} labelled clauses)" if shared is None else ""))
        p, c, m = score_documents(fold_model, [docs[i] for i in test])
        for j, i in enumerate(test):
            P[i], C[i], M[i], T[i] = p[j], c[j], m[j], fold_model.tagger.thresholds_
    return FoldScores(P, C, M, T, list(fold_model.categories))


def clause_figures(docs: list[LabelledDoc], oof: FoldScores, which: str | None = None) -> Scores:
    """taxonomy.evaluate.score of the out-of-fold decisions (one set, or all pooled)."""
    gold, predicted = [], []
    for i, d in enumerate(docs):
        if which and d.set != which:
            continue
        for j, lab in enumerate(d.labels):
            gold.append({"doc": d.doc, "labels": lab.get("labels") or [], "modality": lab.get("modality")})
            predicted.append({"doc": d.doc, "labels": [oof.categories[k] for k in np.flatnonzero(oof.chosen[i][j])],
                              "modality": oof.modality[i][j]})
    return score(gold, predicted, oof.categories)


def cells_of(docs: list[LabelledDoc], oof: FoldScores, indices: Sequence[int]) -> coverage.CellTable:
    tables = [coverage.build_cells([(oof.P[i], docs[i].taggable, docs[i].label_matrix(oof.categories))],
                                   oof.clause_thresholds[i]) for i in indices]
    X, category, truth, evidence_ok = (np.concatenate([getattr(t, a) for t in tables]) for a in
                                       ("X", "category", "truth", "evidence_ok"))
    return coverage.CellTable(X, category, truth, evidence_ok,
                              np.concatenate([np.full(len(t.truth), i) for t, i in zip(tables, indices)]))


def fit_cells(cells: coverage.CellTable, n_categories: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    coef, intercepts = coverage.fit_calibrator(cells, n_categories)
    s = coverage.calibrated(cells, coef, intercepts)
    lo, hi, chosen = coverage.fit_thresholds(s, cells, n_categories)
    return coef, intercepts, lo, hi, chosen


def cell_crossval(docs: list[LabelledDoc], oof: FoldScores, folds: int = FOLDS) -> dict:
    """Cell figures per set with calibrator and thresholds fitted on the other folds (pooled over folds)."""
    K = len(oof.categories)
    everything = cells_of(docs, oof, range(len(docs)))
    fold = fold_of(docs, folds)
    state_score = np.zeros(len(everything.truth))
    lo_all, hi_all = np.zeros(len(everything.truth)), np.zeros(len(everything.truth))
    for f in range(folds):
        train_cells = cells_of(docs, oof, [i for i in range(len(docs)) if fold[i] != f])
        coef, intercepts, lo, hi, _ = fit_cells(train_cells, K)
        m = fold[everything.group] == f
        state_score[m] = coverage.calibrated(everything, coef, intercepts)[m]
        lo_all[m], hi_all[m] = lo[everything.category[m]], hi[everything.category[m]]
    # thresholds are per cell here (each from its own fold's fit); cell_figures indexes by category
    per_cell = coverage.CellTable(everything.X, np.arange(len(everything.truth)), everything.truth,
                                  everything.evidence_ok, everything.group)
    out = {}
    sets = np.array([docs[g].set for g in everything.group])
    for name in ("all", *SETS):
        mask = np.ones(len(sets), bool) if name == "all" else sets == name
        if mask.any():
            out[name] = coverage.cell_figures(state_score, lo_all, hi_all, per_cell, mask)
    return out


def calibration_for(model: TaggerModel, docs: list[LabelledDoc], oof: FoldScores, method: dict) -> coverage.CellCalibration:
    """Calibrator and thresholds fitted on all documents' out-of-fold scores, for ``model``."""
    K = len(oof.categories)
    coef, intercepts, lo, hi, chosen = fit_cells(cells_of(docs, oof, range(len(docs))), K)
    cats = oof.categories
    return coverage.CellCalibration(
        model_version=model.version, categories=cats, coef=[round(float(c), 6) for c in coef],
        intercepts={c: round(float(v), 6) for c, v in zip(cats, intercepts)},
        clause_thresholds={c: float(t) for c, t in zip(cats, model.tagger.thresholds_)},
        lo={c: float(v) for c, v in zip(cats, lo)}, hi={c: float(v) for c, v in zip(cats, hi)},
        info={**method, "fit_on_all_documents": {k: (round(v, 4) if isinstance(v, float) else v)
                                                 for k, v in chosen.items()}})


def summary(docs: list[LabelledDoc], oof: FoldScores, cells: dict) -> dict:
    out = {}
    for name in SETS:
        if not any(d.set == name for d in docs):
            continue
        s = clause_figures(docs, oof, name)
        c = cells.get(name, {})
        out[name] = {"documents": sum(d.set == name for d in docs), "units": s.units,
                     "macro_f1": s.macro_f1, "micro_f1": s.micro_f1, "coverage_f1": s.coverage_f1,
                     "modality_accuracy": s.modality_accuracy,
                     **{k: c[k] for k in ("decided_share", "decided_accuracy", "evidence_precision") if k in c}}
    out["all"] = {k: cells["all"][k] for k in ("decided_share", "decided_accuracy", "evidence_precision")}
    return {k: {m: (round(float(v), 4) if isinstance(v, float) else v) for m, v in f.items()} for k, f in out.items()}


def model_weight(model: TaggerModel) -> float:
    """The weight the model gave labelled clauses (0 when it was trained on the taxonomy examples alone)."""
    from taxonomy.training import LABELLED_WEIGHT

    if not model.info.get("labelled_clauses"):
        return 0.0
    return float(model.info.get("labelled_weight", LABELLED_WEIGHT))


def write_card(path: str | Path, model: TaggerModel, docs: list[LabelledDoc], oof: FoldScores, cells: dict, weight: float) -> None:
    """Record each set's cross-validated figures in the model's quality card."""
    from taxonomy.evaluate import update_card

    how = (f"{FOLDS}-fold cross-validation grouped by document: each document scored by a model trained "
           + ("on the taxonomy examples alone" if weight == 0 else
              f"on the taxonomy examples and the other folds' labelled documents (weight {weight:g})")
           + ", cell thresholds fitted on the other folds")
    about = {"gold": "shared/realcorpus/gold: real policies labelled by hand",
             "realdev": "taxonomy/realdev: real policies of shared/realcorpus labelled by the PolicyCorpus team",
             "owndocs": "eval/owndocs: fictional policies written and labelled by the PolicyCorpus team"}
    for name in SETS:
        if name not in cells:
            continue
        s = clause_figures(docs, oof, name)
        for k in ("decided_share", "decided_accuracy", "evidence_precision"):
            setattr(s, k, float(cells[name][k]))
        s.cells = cells[name]["cells"]
        update_card(path, model.version, name, s, f"{about[name]}; {how}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m taxonomy.crossval", description=__doc__.split("\n\n")[0])
    ap.add_argument("realcorpus", help="shared/realcorpus (for gold)")
    ap.add_argument("--realdev", help="directory of realdev-A|B|C.units.jsonl (python -m taxonomy.realdev)")
    ap.add_argument("--model", help="the model measured (default: the shipped model); its training recipe is "
                                    "repeated in each fold")
    ap.add_argument("--weight", type=float, default=None,
                    help="weight of the other folds' labelled clauses in training (default: as the model was "
                         "trained; 0: the taxonomy examples only, and the model itself scores every fold)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write-thresholds", action="store_true",
                    help="fit the cell thresholds on all out-of-fold scores and write MODEL.thresholds.json")
    ap.add_argument("--card", action="store_true", help="record the figures in the model's quality card")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--save-scores", help="pickle the out-of-fold scores here (to refit thresholds without training)")
    ap.add_argument("--load-scores", help="use out-of-fold scores pickled by --save-scores instead of training")
    args = ap.parse_args(argv)
    from taxonomy.pipeline import card_path, get_model, model_path, thresholds_path

    model = get_model(args.model)
    weight = model_weight(model) if args.weight is None else args.weight
    docs = load_documents(set_files(args.realcorpus, args.realdev))
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    if args.load_scores:
        import pickle

        with open(args.load_scores, "rb") as fh:
            oof = FoldScores(**pickle.load(fh))
    else:
        oof = out_of_fold(docs, weight, args.seed, log=log, model=model if weight == 0 else None,
                          backend=model.info.get("backend") or "tfidf")
    if args.save_scores:
        import pickle

        with open(args.save_scores, "wb") as fh:
            pickle.dump(vars(oof), fh)
    cells = cell_crossval(docs, oof)
    figures = summary(docs, oof, cells)
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    if args.card:
        write_card(card_path(model_path(args.model)), model, docs, oof, cells, weight)
        log(f"recorded the figures in {card_path(model_path(args.model))}")
    if args.write_thresholds:
        method = {"method": "taxonomy.crossval: calibrator and per-category thresholds fitted on out-of-fold "
                            f"scores of {FOLDS}-fold cross-validation grouped by document",
                  "labelled_weight": weight, "seed": args.seed,
                  "sets": {s: sum(d.set == s for d in docs) for s in SETS},
                  "targets": {"decided_accuracy": coverage.TARGET_ACCURACY,
                              "evidence_precision": coverage.TARGET_EVIDENCE,
                              "margins": [coverage.ACCURACY_MARGIN, coverage.EVIDENCE_MARGIN]},
                  "crossval": figures}
        path = calibration_for(model, docs, oof, method).save(thresholds_path(model_path(args.model)))
        log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
