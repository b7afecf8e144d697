"""The category tagger (one-vs-rest logistic regression over clause features) and the saved model."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

import joblib
import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from taxonomy.features import ClauseFeaturizer
from taxonomy.features import field as record_field
from taxonomy.modality import ModalityTagger
from taxonomy.segment import sentence_spans

MODEL_FORMAT = 1
THRESHOLD_GRID = np.round(np.arange(0.10, 0.905, 0.025), 3)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class ClauseTagger(BaseEstimator):
    """Multi-label clause classifier: zero or more categories per clause, each with a confidence.

    One logistic regression per category on ``ClauseFeaturizer`` features.
    A category is given when its probability reaches its own threshold,
    chosen by grouped cross-validation on the training set (never on an
    evaluation set). A clause that reaches no threshold still gets its best
    category when that scores at least ``fallback_ratio`` of its threshold:
    almost every sentence of a policy does something the taxonomy names.
    Likewise, within one document, a category no clause reaches is given to
    its best clause when that scores at least ``document_ratio`` of its
    threshold (documents of at least ``document_min_clauses`` taggable
    clauses; in a shorter text the clause thresholds alone decide).
    """

    def __init__(
        self,
        featurizer: ClauseFeaturizer | None = None,
        C: float = 8.0,
        class_weight: str | None = "balanced",
        cv: int = 5,
        threshold_floor: float = 0.2,
        fallback_ratio: float = 0.5,
        document_ratio: float | None = 0.5,
        document_min_clauses: int = 3,
        max_labels: int = 3,
        sentence_min_chars: int | None = 250,
        random_state: int = 0,
    ) -> None:
        self.featurizer = featurizer
        self.C = C
        self.class_weight = class_weight
        self.cv = cv
        self.threshold_floor = threshold_floor
        self.fallback_ratio = fallback_ratio
        self.document_ratio = document_ratio
        self.document_min_clauses = document_min_clauses
        self.max_labels = max_labels
        self.sentence_min_chars = sentence_min_chars
        self.random_state = random_state

    def _fit_linear(self, M, Y, sample_weight=None) -> tuple[np.ndarray, np.ndarray]:
        coefs, intercepts = [], []
        for k in range(Y.shape[1]):
            y = Y[:, k]
            if y.min() == y.max():  # a category without positives (or negatives) cannot be learned
                coefs.append(np.zeros(M.shape[1], dtype=np.float32))
                intercepts.append(-10.0 if y.max() == 0 else 10.0)
                continue
            lr = LogisticRegression(C=self.C, class_weight=self.class_weight, solver="liblinear", dual=True,
                                    random_state=self.random_state, max_iter=1000)
            lr.fit(M, y, sample_weight=sample_weight)
            coefs.append(lr.coef_[0].astype(np.float32))
            intercepts.append(float(lr.intercept_[0]))
        return np.vstack(coefs), np.array(intercepts, dtype=np.float32)

    def fit(self, X: Sequence[Any], Y: np.ndarray, groups: np.ndarray | None = None,
            sample_weight: np.ndarray | None = None, threshold_rows: Sequence[bool] | None = None) -> Self:
        """Fit on records X and label matrix Y (n x categories).

        ``groups`` keeps copies of one example in one cross-validation fold;
        ``threshold_rows`` (boolean mask) says which rows choose the thresholds.
        """
        Y = np.asarray(Y, dtype=np.int8)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.featurizer_ = clone(self.featurizer if self.featurizer is not None else ClauseFeaturizer()).fit(X)
        M = self.featurizer_.transform(X)
        self.n_labels_ = Y.shape[1]
        self.thresholds_ = self._cv_thresholds(M, Y, groups, w, threshold_rows)
        self.coef_, self.intercept_ = self._fit_linear(M, Y, w)
        return self

    def _cv_thresholds(self, M, Y, groups, sample_weight=None, rows=None) -> np.ndarray:
        """Per-category thresholds maximising F1 on out-of-fold probabilities of the training set."""
        groups = np.arange(M.shape[0]) if groups is None else np.asarray(groups)
        oof = np.zeros(Y.shape, dtype=np.float64)
        n_splits = min(self.cv, len(np.unique(groups)))
        if n_splits < 2:
            return np.full(Y.shape[1], 0.5)
        for train, test in GroupKFold(n_splits=n_splits).split(M, Y, groups):
            coef, intercept = self._fit_linear(M[train], Y[train],
                                               None if sample_weight is None else sample_weight[train])
            oof[test] = _sigmoid(M[test] @ coef.T + intercept)
        self.oof_scores_ = oof
        rows = np.ones(len(Y), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
        thresholds = np.empty(Y.shape[1])
        for k in range(Y.shape[1]):
            y = Y[rows, k].astype(bool)
            best, best_f1 = 0.5, -1.0
            for t in THRESHOLD_GRID:
                pred = oof[rows, k] >= t
                tp = np.sum(pred & y)
                f1 = 2 * tp / max(1, pred.sum() + y.sum())
                if f1 > best_f1 + 1e-9:
                    best, best_f1 = t, f1
            thresholds[k] = max(self.threshold_floor, best)
        return thresholds

    def _proba(self, X) -> np.ndarray:
        M = self.featurizer_.transform(X)
        return _sigmoid(np.asarray(M @ self.coef_.T) + self.intercept_)

    def predict_proba(self, X: Sequence[Any]) -> np.ndarray:
        """Probabilities per category; a long clause scores the best of itself and each of its sentences.

        A topic a policy mentions in one sentence of a long paragraph (a
        password rule amid posting advice) is drowned in the paragraph's other
        words; read on its own, the sentence shows it.
        """
        P = self._proba(X)
        # models saved before sentence scoring existed do not have the attribute
        min_chars = getattr(self, "sentence_min_chars", None)
        if min_chars:
            sentences, owners = _sentence_records(X, min_chars)
            if sentences:
                np.maximum.at(P, np.asarray(owners), self._proba(sentences))
        return P

    def decide(self, P: np.ndarray, taggable: np.ndarray | None = None,
               documents: Sequence[Hashable] | None = None) -> np.ndarray:
        """Turn probabilities into label decisions (thresholds, fallback, at most max_labels).

        ``documents`` gives each row's document id (rows of one document need
        not be adjacent); without it all rows form one document. It matters
        only for the document rule (``document_ratio``).
        """
        ratio = P / self.thresholds_
        chosen = ratio >= 1.0
        top = ratio.argmax(axis=1)
        rows = np.arange(P.shape[0])
        none = ~chosen.any(axis=1) & (ratio[rows, top] >= self.fallback_ratio)
        chosen[rows[none], top[none]] = True
        if self.max_labels:
            over = chosen.sum(axis=1) > self.max_labels
            if over.any():
                keep = np.argsort(-ratio[over], axis=1)[:, : self.max_labels]
                limited = np.zeros((over.sum(), P.shape[1]), dtype=bool)
                np.put_along_axis(limited, keep, True, axis=1)
                chosen[over] &= limited
        if taggable is not None:
            chosen[~np.asarray(taggable, dtype=bool)] = False
        # models saved before the document rule existed do not have the attribute
        document_ratio = getattr(self, "document_ratio", None)
        if document_ratio is not None and len(P):
            self._cover_documents(ratio, chosen, taggable, documents, document_ratio)
        return chosen

    def _cover_documents(self, ratio, chosen, taggable, documents, document_ratio) -> None:
        """Give each category no clause of a document carries to its best clause, if that is close enough."""
        ok = np.ones(len(ratio), dtype=bool) if taggable is None else np.asarray(taggable, dtype=bool)
        if documents is None:
            groups = [np.flatnonzero(ok)]
        else:
            ids = np.asarray(documents)
            order = np.argsort(ids, kind="stable")
            bounds = np.flatnonzero(ids[order][1:] != ids[order][:-1]) + 1
            groups = [g[ok[g]] for g in np.split(order, bounds)]
        for idx in groups:
            if len(idx) < self.document_min_clauses:
                continue
            sub = ratio[idx]
            best = sub.argmax(axis=0)
            cats = np.arange(sub.shape[1])
            score = sub[best, cats]
            for k in cats[~chosen[idx].any(axis=0) & (score >= document_ratio)]:
                row = idx[best[k]]
                if not self.max_labels or chosen[row].sum() < self.max_labels:
                    chosen[row, k] = True

    def predict(self, X: Sequence[Any], taggable: np.ndarray | None = None,
                documents: Sequence[Hashable] | None = None) -> np.ndarray:
        return self.decide(self.predict_proba(X), taggable, documents).astype(np.int8)


MIN_SENTENCE_CHARS = 25


def _sentence_records(X, min_chars: int) -> tuple[list[dict], list[int]]:
    """The sentences (with their clause's heading and lead-in) of clauses of at least ``min_chars`` characters.

    Line fragments (read with the rest of their sentence) are left whole;
    sentences shorter than ``MIN_SENTENCE_CHARS`` are skipped.
    """
    sentences, owners = [], []
    for i, record in enumerate(X):
        text = record_field(record, "text")
        context = record_field(record, "context")
        if len(text) < min_chars or (context and context != text):
            continue
        spans = [(a, b) for a, b in sentence_spans(text) if b - a >= MIN_SENTENCE_CHARS]
        if len(spans) < 2:
            continue
        for a, b in spans:
            sentences.append({"text": text[a:b], "heading": record_field(record, "heading"),
                              "lead_in": record_field(record, "lead_in")})
            owners.append(i)
    return sentences, owners


SCORE_FLOOR = 0.0005  # probabilities below this are stored as 0 (they change no cell state)


class Tagger(Protocol):
    """What the pipeline asks of a tagger: TaggerModel, or taxonomy.llm_backend's LLMTagger and UncertainOnlyTagger.

    ``tag`` returns one result per record with ``labels``, ``modality``, ``modality_score`` and (optionally)
    ``scores``, as TaggedResult has them.
    """

    version: str
    categories: list[str]

    def tag(self, records: Sequence[Any], taggable: np.ndarray | Sequence[bool] | None = None,
            documents: Sequence[Hashable] | None = None) -> Sequence[Any]: ...


@dataclass
class TaggedResult:
    labels: dict[str, float]
    modality: str
    modality_score: float
    # every category's probability (those above SCORE_FLOOR), what grid cells are computed from
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class TaggerModel:
    """What a model file holds: the category tagger, the modality tagger, and their provenance."""

    version: str
    categories: list[str]
    tagger: ClauseTagger
    modality: ModalityTagger
    taxonomy_version: str = ""
    taxonomy_digest: str = ""
    info: dict = field(default_factory=dict)
    format: int = MODEL_FORMAT

    def tag(self, records: Sequence[Any], taggable: np.ndarray | Sequence[bool] | None = None,
            documents: Sequence[Hashable] | None = None) -> list[TaggedResult]:
        """Categories (with probabilities) and modality for each record; untaggable ones get none.

        ``documents`` gives each record's document id; without it the records
        are one document.
        """
        if not records:
            return []
        taggable = np.ones(len(records), dtype=bool) if taggable is None else np.asarray(taggable, dtype=bool)
        P = self.tagger.predict_proba(records)
        chosen = self.tagger.decide(P, taggable, documents)
        modalities = self.modality.predict_with_score(records)
        out = []
        categories = self.categories
        kept = (P >= SCORE_FLOOR).tolist()
        for i, (row, chosen_row, kept_row) in enumerate(zip(P.tolist(), chosen.tolist(), kept)):
            if not taggable[i]:
                out.append(TaggedResult({}, "information", 1.0, {}))
                continue
            labels = {categories[k]: round(row[k], 4) for k, c in enumerate(chosen_row) if c}
            labels = dict(sorted(labels.items(), key=lambda kv: -kv[1]))
            modality, mscore = modalities[i]
            scores = {categories[k]: round(row[k], 4) for k, keep in enumerate(kept_row) if keep}
            out.append(TaggedResult(labels, modality, mscore, scores))
        return out

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path, compress=3)
        return path


def load_model(path: str | Path) -> TaggerModel:
    model = joblib.load(Path(path))
    if not isinstance(model, TaggerModel):
        raise ValueError(f"{path} is not a PolicyCorpus tagger model")
    return model


def model_version(taxonomy_version: str, payload: object) -> str:
    """Version string of a model: taxonomy version plus a hash of everything it was trained from."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:10]
    return f"tagger-t{taxonomy_version}-{digest}"
