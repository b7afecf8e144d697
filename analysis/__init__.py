"""PolicyCorpus analysis: the functions behind `compare`, `cluster`, `templates` and `plot`.

Everything the commands do can be called from a notebook on an open corpus, and every
result is a pandas DataFrame (see docs/analysis.ipynb)::

    import analysis
    from policycorpus.db import open_db
    from analysis.cluster import ClauseClusterer, run_clustering

    db = open_db("corpus.db")
    clauses = analysis.load_clauses(db)                # DataFrame of the current clauses
    run = run_clustering(db, backend="tfidf", max_per_org=300, random_state=0)
    analysis.cluster_members(db), analysis.cluster_summaries(db)
    analysis.clusters_per_class(db, by="industry"), analysis.clusters_over_time(db)
    analysis.template_family_members(db), analysis.document_similarity(db), analysis.coverage_by_class(db)

    # the estimator alone, scikit-learn style (clone, get_params, fit_predict, predict, transform)
    model = ClauseClusterer(n_clusters=12, random_state=0).fit(texts)
    model.predict(["Do not post customer data."])

``analysis.corpus.current_clauses(db)`` gives the clauses (with tags) every analysis works
on: each document's latest snapshot, latest segmentation and effective tags (the
current_clauses and effective_tags views of policycorpus/db.py).
"""

from __future__ import annotations

_FRAMES = ("load_clauses", "cluster_members", "cluster_summaries", "clusters_per_class", "clusters_over_time",
           "template_family_members", "document_similarity", "coverage_by_class", "export_frame")

__all__ = list(_FRAMES)


def __getattr__(name: str):  # pandas is imported only when a DataFrame is asked for
    if name in _FRAMES:
        from analysis import frames

        return getattr(frames, name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
