"""Quick experiments with the document-grouped cross-validation of ``taxonomy.crossval``.

    python bench/cv_experiment.py collect NAME [--C 8] [--weight 3] [--backend tfidf|embeddings]
    python bench/cv_experiment.py report NAME [NAME ...] [--thresholds model|rows|labelled] [--with NAME2 --alpha A]

``collect`` trains the five fold models once (the recipe of ``make evaluate``)
and pickles, per fold, the out-of-fold probabilities of the held-out documents
and the inner cross-validation scores of the training rows (what the
thresholds are chosen on), under ``demo-out/exp/NAME``. Decision variants
(thresholds, ensembles) are then evaluated from the pickles in seconds, with
the same figures and cell cross-validation as ``taxonomy.crossval``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from taxonomy import crossval  # noqa: E402
from taxonomy.crossval import FOLDS, FoldScores, LabelledDoc  # noqa: E402

EXP = ROOT / "demo-out" / "exp"
REALCORPUS = ROOT.parent / "shared" / "realcorpus"
REALDEV = ROOT / "demo-out" / "realdev"


def documents() -> list[LabelledDoc]:
    return crossval.load_documents(crossval.set_files(REALCORPUS, REALDEV))


@dataclass
class FoldData:
    test: list[int]            # document indices scored by this fold's model
    P: list[np.ndarray]        # their probabilities (sentence scoring included)
    modality: list[list[str]]
    thresholds: np.ndarray     # the model's clause thresholds
    inner_oof: np.ndarray      # inner cross-validation probabilities of the training rows
    inner_Y: np.ndarray
    inner_hard: np.ndarray     # rows that choose thresholds (neutral-heading copies and labelled clauses)
    inner_labelled: np.ndarray  # rows that are labelled real clauses
    inner_groups: np.ndarray
    tagger: object             # the fold's ClauseTagger (for decide())


def collect(name: str, C: float = 8.0, weight: float = 3.0, backend: str = "tfidf", seed: int = 0,
            **tagger_params) -> None:
    from taxonomy.taxonomy import TAXONOMY_PATH, load_taxonomy
    from taxonomy.training import build_training_set, default_tagger, train_model

    if backend == "embeddings":
        _cache_embeddings()
    docs = documents()
    fold = crossval.fold_of(docs)
    out = EXP / name
    out.mkdir(parents=True, exist_ok=True)
    tax = load_taxonomy(str(TAXONOMY_PATH))
    for f in range(FOLDS):
        test = [i for i in range(len(docs)) if fold[i] == f]
        rows = [r for i in range(len(docs)) if fold[i] != f for r in docs[i].training_rows()]
        tagger = default_tagger(backend, str(TAXONOMY_PATH))
        tagger.set_params(C=C, **tagger_params)
        model = train_model(tagger=tagger, seed=seed, labelled_rows=rows, labelled_weight=weight, backend=backend)
        data = build_training_set(tax, rows, True, seed, weight)
        P, _, M = crossval.score_documents(model, [docs[i] for i in test])
        labelled = np.arange(len(data.records)) >= data.n_examples
        fd = FoldData(test, P, M, model.tagger.thresholds_, model.tagger.oof_scores_, data.Y,
                      np.array([r["hard"] for r in data.records]), labelled, data.groups, model.tagger)
        with open(out / f"fold{f}.pkl", "wb") as fh:
            pickle.dump(fd, fh)
        print(f"{name}: fold {f} done", file=sys.stderr, flush=True)


class _Unpickler(pickle.Unpickler):
    # collect pickles FoldData as __main__.FoldData when run as a script
    def find_class(self, module: str, name: str) -> object:
        if name == "FoldData":
            return FoldData
        return super().find_class(module, name)


def _cache_embeddings() -> None:
    """Encode each distinct text once across the folds (the encoder is deterministic)."""
    from taxonomy import embeddings
    from taxonomy.features import field

    cache: dict[str, np.ndarray] = {}

    def embed(self: embeddings.EmbeddingFeaturizer, X: list) -> np.ndarray:
        texts = [field(r, "context") or field(r, "text") for r in X]
        new = sorted({t for t in texts if t not in cache})
        if new:
            vectors = embeddings.load_encoder(self.model_dir).encode(
                new, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False)
            cache.update(zip(new, np.asarray(vectors, dtype=np.float32)))
        return np.vstack([cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    embeddings.EmbeddingFeaturizer.embed = embed  # type: ignore[method-assign]


def load(name: str) -> list[FoldData]:
    folds = []
    for f in range(FOLDS):
        with open(EXP / name / f"fold{f}.pkl", "rb") as fh:
            folds.append(_Unpickler(fh).load())
    return folds


def assemble(docs: list[LabelledDoc], folds: list[FoldData], thresholds: list[np.ndarray] | None = None,
             P: list[list[np.ndarray]] | None = None, decide_params: dict | None = None,
             modality: list[list[str]] | None = None) -> FoldScores:
    """Out-of-fold scores with optional per-fold thresholds / probabilities replaced."""
    n = len(docs)
    Ps: list = [None] * n
    Cs: list = [None] * n
    Ms: list = [None] * n
    Ts: list = [None] * n
    for f, fd in enumerate(folds):
        t = fd.thresholds if thresholds is None else thresholds[f]
        probs = fd.P if P is None else P[f]
        tagger = fd.tagger
        saved = tagger.thresholds_, {k: getattr(tagger, k) for k in (decide_params or {})}
        tagger.thresholds_ = t
        for k, v in (decide_params or {}).items():
            setattr(tagger, k, v)
        allP = np.concatenate(probs)
        taggable = np.concatenate([docs[i].taggable for i in fd.test])
        ids = [docs[i].doc for i in fd.test for _ in docs[i].clauses]
        chosen = tagger.decide(allP, taggable, ids)
        tagger.thresholds_ = saved[0]
        for k, v in saved[1].items():
            setattr(tagger, k, v)
        off = 0
        for j, i in enumerate(fd.test):
            m = len(docs[i].clauses)
            Ps[i], Cs[i], Ts[i] = probs[j], chosen[off:off + m], t
            Ms[i] = fd.modality[j] if modality is None else modality[i]
            off += m
    return FoldScores(Ps, Cs, Ms, Ts, categories())


def f1_thresholds(scores: np.ndarray, Y: np.ndarray, rows: np.ndarray, floor: float = 0.2) -> np.ndarray:
    """Per-category thresholds maximising F1 on ``rows`` of inner out-of-fold scores (ClauseTagger's rule)."""
    from taxonomy.model import THRESHOLD_GRID

    out = np.empty(Y.shape[1])
    for k in range(Y.shape[1]):
        y, p = Y[rows, k].astype(bool), scores[rows, k]
        best, best_f1 = 0.5, -1.0
        for t in THRESHOLD_GRID:
            pred = p >= t
            f1 = 2 * np.sum(pred & y) / max(1, pred.sum() + y.sum())
            if f1 > best_f1 + 1e-9:
                best, best_f1 = t, f1
        out[k] = max(floor, best)
    return out


def variant(docs: list[LabelledDoc], name: str, thresholds: str = "model", other: str | None = None,
            alpha: float = 0.0) -> FoldScores:
    """Out-of-fold scores of a collected run, with thresholds re-chosen on the inner scores of the labelled
    clauses only (``thresholds="labelled"``) or of all threshold rows (``"rows"``), optionally averaged with
    another collected run's probabilities (weight ``alpha``; thresholds then re-chosen on the averaged inner
    scores)."""
    folds = load(name)
    others = load(other) if other else None
    T, P = [], []
    for f, fd in enumerate(folds):
        inner, probs = fd.inner_oof, fd.P
        if others is not None:
            inner = (1 - alpha) * inner + alpha * others[f].inner_oof
            probs = [(1 - alpha) * a + alpha * b for a, b in zip(fd.P, others[f].P)]
        P.append(probs)
        if thresholds == "model" and others is None:
            T.append(fd.thresholds)
        else:
            T.append(f1_thresholds(inner, fd.inner_Y, fd.inner_labelled if thresholds == "labelled" else fd.inner_hard))
    return assemble(docs, folds, thresholds=T, P=P)


def categories() -> list[str]:
    from taxonomy.taxonomy import TAXONOMY_PATH, load_taxonomy

    return list(load_taxonomy(str(TAXONOMY_PATH)).ids)


def figures(docs: list[LabelledDoc], oof: FoldScores, cells: bool = True) -> dict:
    if cells:
        c = crossval.cell_crossval(docs, oof)
    else:
        c = {"all": {"decided_share": 0.0, "decided_accuracy": 0.0, "evidence_precision": 0.0}}
    return crossval.summary(docs, oof, c)


def line(label: str, fig: dict) -> str:
    parts = []
    for s in ("gold", "realdev", "owndocs"):
        f = fig[s]
        parts.append(f"{f['macro_f1']:.3f}/{f['micro_f1']:.3f}/{f['coverage_f1']:.3f}/{f['modality_accuracy']:.3f}"
                     + (f" [{f['decided_share']:.3f}/{f['decided_accuracy']:.3f}/{f['evidence_precision']:.3f}]"
                        if "decided_share" in f else ""))
    return f"{label:<28} " + " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("name")
    c.add_argument("--C", type=float, default=8.0)
    c.add_argument("--weight", type=float, default=3.0)
    c.add_argument("--backend", default="tfidf")
    c.add_argument("--params", default="{}", help="more ClauseTagger parameters as JSON")
    r = sub.add_parser("report")
    r.add_argument("names", nargs="+")
    r.add_argument("--thresholds", choices=("model", "rows", "labelled"), default="model")
    r.add_argument("--with", dest="other", help="average with this collected run's probabilities")
    r.add_argument("--alpha", type=float, default=0.5, help="weight of --with")
    args = ap.parse_args(argv)
    if args.cmd == "collect":
        collect(args.name, args.C, args.weight, args.backend, **json.loads(args.params))
    else:
        docs = documents()
        for name in args.names:
            label = name + (f" + {args.alpha:g} x {args.other}" if args.other else "") + \
                ("" if args.thresholds == "model" else f" ({args.thresholds})")
            print(line(label, figures(docs, variant(docs, name, args.thresholds, args.other, args.alpha))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
