"""What a clause does, as clustering features: the tagger's probabilities and modality joined with its wording.

Clustering on wording alone (TF-IDF or sentence embeddings) groups clauses by topic word
or platform ("LinkedIn", "data", "team"). The tagger was trained on labelled clauses to
recognise what a clause does; its calibrated probability for every category is a
description of the clause's function. ``FunctionUnion`` is a BERTopic-style union of
weighted parts, each made unit length before weighting::

    [function_weight * sqrt(probabilities) | modality_weight * modality one-hot | semantic_weight * semantic vector]

and the whole row is made unit length again, so cosine k-means reads it. The semantic
part splits clauses of one function by what they are about (hashtags vs. images within
brand voice); the function part keeps clauses that share a topic word but do different
things apart.

Input is a clause frame: a pandas DataFrame with a ``text`` column and, when the corpus
is tagged, ``scores`` (each category's probability: a dict or the JSON of
``clauses.scores``) and ``modality`` columns, as ``analysis.load_clauses`` returns it. A
plain list of texts works too: the tagger (the shipped model, or ``tagger=``) then
computes the probabilities and the modality.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from analysis.representations import SentenceEmbedder, StaticEmbedder, TfidfLSA, is_clause_frame  # noqa: F401
from taxonomy.taxonomy import MODALITIES

if TYPE_CHECKING:
    import pandas as pd

SEMANTICS = ("tfidf", "embedding", "static")


def clause_frame(X: Any) -> pd.DataFrame:
    """X as a clause frame: a DataFrame with a ``text`` column (a list of texts becomes one)."""
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        if "text" not in X.columns:
            raise ValueError("a clause frame needs a 'text' column")
        return X.reset_index(drop=True)
    if isinstance(X, str):
        raise ValueError("expected a list of texts or a clause frame, got a single string")
    return pd.DataFrame({"text": [str(t) for t in X]})




def _scores(value: Any) -> dict[str, float]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    return {str(k): float(v) for k, v in dict(value).items()}


class ClauseFunction(TransformerMixin, BaseEstimator):
    """Clause frame -> the square root of each category's probability, unit length (the function block).

    The square root (Hellinger) keeps a clause's second and third likely categories
    from vanishing beside a dominant one. ``modalities`` gives the modality one-hot.
    When the frame has no ``scores`` column, ``tagger`` computes them: None for the
    shipped model ($POLICYCORPUS_MODEL or taxonomy/models/default.joblib), a model path,
    or a loaded ``taxonomy.model.TaggerModel``.
    """

    def __init__(self, categories: Sequence[str] | None = None, tagger: Any = None) -> None:
        self.categories = categories
        self.tagger = tagger

    def _tagger(self):
        from taxonomy.pipeline import get_model

        if self.tagger is None or isinstance(self.tagger, str):
            return get_model(self.tagger)
        return self.tagger

    def tagged(self, frame: pd.DataFrame) -> tuple[list[dict[str, float]], list[str | None]]:
        """(scores, modality) per clause: from the frame's columns, else computed by the tagger."""
        if "scores" in frame.columns:
            scores = [_scores(v) for v in frame["scores"]]
            modality = list(frame["modality"]) if "modality" in frame.columns else [None] * len(frame)
            return scores, modality
        tagger = self._tagger()
        headings = frame["heading_path"] if "heading_path" in frame.columns else [""] * len(frame)
        records = [{"text": str(t), "heading": str(h or "")} for t, h in zip(frame["text"], headings)]
        results = tagger.tag(records)
        return [dict(r.scores or r.labels) for r in results], [r.modality for r in results]

    def fit(self, X: Any, y: Any = None) -> Self:
        frame = clause_frame(X)
        if self.categories is not None:
            self.categories_ = list(self.categories)
        elif "scores" in frame.columns:
            self.categories_ = sorted({k for v in frame["scores"] for k in _scores(v)})
        else:
            self.categories_ = list(self._tagger().categories)
        return self

    def probabilities(self, scores: list[dict[str, float]]) -> np.ndarray:
        check_is_fitted(self, "categories_")
        P = np.array([[s.get(c, 0.0) for c in self.categories_] for s in scores], dtype=np.float64).reshape(
            len(scores), len(self.categories_))
        return normalize(np.sqrt(np.clip(P, 0.0, 1.0)))

    @staticmethod
    def modalities(modality: list[str | None]) -> np.ndarray:
        index = {m: i for i, m in enumerate(MODALITIES)}
        M = np.zeros((len(modality), len(MODALITIES)))
        for row, m in enumerate(modality):
            if m in index:
                M[row, index[m]] = 1.0
        return M

    def transform(self, X: Any) -> np.ndarray:
        scores, _ = self.tagged(clause_frame(X))
        return self.probabilities(scores)


class FunctionUnion(TransformerMixin, BaseEstimator):
    """[function | modality | semantic] parts, each unit length and weighted, the row unit length (see module doc).

    ``semantic``: "tfidf" (TF-IDF + LSA, no extra install), "embedding" (sentence
    embeddings, the 'embeddings' extra), "static" (GloVe word vectors, the 'static' extra)
    or any texts -> matrix transformer. Precomputed
    semantic vectors (e.g. cached embeddings) are passed as ``semantic_vectors=``.
    A weight of 0 leaves that part out.
    """

    def __init__(self, semantic: str | BaseEstimator = "tfidf", function_weight: float = 1.0,
                 modality_weight: float = 0.25, semantic_weight: float = 1.0, categories: Sequence[str] | None = None,
                 tagger: Any = None, n_components: int = 100, embedding_model: str = "all-MiniLM-L6-v2",
                 random_state: Any = 0) -> None:
        self.semantic = semantic
        self.function_weight = function_weight
        self.modality_weight = modality_weight
        self.semantic_weight = semantic_weight
        self.categories = categories
        self.tagger = tagger
        self.n_components = n_components
        self.embedding_model = embedding_model
        self.random_state = random_state

    def _semantic(self):
        if self.semantic == "tfidf":
            return TfidfLSA(n_components=self.n_components, random_state=self.random_state)
        if self.semantic == "embedding":
            return SentenceEmbedder(model=self.embedding_model)
        if self.semantic == "static":
            return StaticEmbedder()
        if isinstance(self.semantic, str):
            raise ValueError(f"semantic must be one of {', '.join(SEMANTICS)} or a transformer")
        return clone(self.semantic)

    def _check(self) -> None:
        weights = (self.function_weight, self.modality_weight, self.semantic_weight)
        if any(w < 0 for w in weights) or not any(w > 0 for w in weights):
            raise ValueError("the weights must be non-negative and at least one positive")

    def _join(self, frame: pd.DataFrame, semantic: np.ndarray | None) -> np.ndarray:
        parts: dict[str, np.ndarray] = {}
        if self.function_weight > 0 or self.modality_weight > 0:
            scores, modality = self.function_.tagged(frame)
            if self.function_weight > 0:
                parts["function"] = self.function_weight * self.function_.probabilities(scores)
            if self.modality_weight > 0:
                parts["modality"] = self.modality_weight * self.function_.modalities(modality)
        if semantic is not None and self.semantic_weight > 0:
            semantic = np.asarray(semantic.toarray() if hasattr(semantic, "toarray") else semantic, dtype=np.float64)
            if semantic.shape[0] != len(frame):
                raise ValueError(f"{len(frame)} clauses but {semantic.shape[0]} semantic vectors")
            parts["semantic"] = self.semantic_weight * normalize(semantic)
        self.blocks_ = self._blocks(parts)
        return normalize(np.hstack(list(parts.values()))).astype(np.float32)

    @staticmethod
    def _blocks(parts: dict[str, np.ndarray]) -> dict[str, tuple[int, int]]:
        """Columns of each part in the output, so a part can be read back (e.g. the wording's cohesion)."""
        blocks, start = {}, 0
        for name, part in parts.items():
            blocks[name] = (start, start + part.shape[1])
            start += part.shape[1]
        return blocks

    def part(self, vectors: np.ndarray, name: str) -> np.ndarray | None:
        """One part (function, modality or semantic) of output rows, unit length again; None when absent."""
        check_is_fitted(self, "blocks_")
        if name not in self.blocks_ or vectors.shape[1] != max(stop for _, stop in self.blocks_.values()):
            return None
        start, stop = self.blocks_[name]
        return normalize(np.asarray(vectors)[:, start:stop])

    def fit_transform(self, X: Any, y: Any = None, semantic_vectors: np.ndarray | None = None) -> np.ndarray:
        self._check()
        frame = clause_frame(X)
        self.function_ = ClauseFunction(categories=self.categories, tagger=self.tagger).fit(frame)
        self.semantic_ = None
        semantic = semantic_vectors
        if semantic is None and self.semantic_weight > 0:
            self.semantic_ = self._semantic()
            semantic = self.semantic_.fit_transform(list(frame["text"]))
        return self._join(frame, semantic)

    def fit(self, X: Any, y: Any = None, semantic_vectors: np.ndarray | None = None) -> Self:
        self.fit_transform(X, semantic_vectors=semantic_vectors)
        return self

    def transform(self, X: Any, semantic_vectors: np.ndarray | None = None) -> np.ndarray:
        check_is_fitted(self, "function_")
        frame = clause_frame(X)
        semantic = semantic_vectors
        if semantic is None and self.semantic_weight > 0:
            if self.semantic_ is None:
                if self.semantic != "embedding":
                    raise ValueError("fitted on precomputed semantic vectors: pass semantic_vectors= for new clauses")
                self.semantic_ = self._semantic().fit(["a"])  # an embedder needs no fitting on the corpus
            semantic = self.semantic_.transform(list(frame["text"]))
        return self._join(frame, semantic)
