"""Plots for analysts, each written as PNG and SVG: coverage heatmap, policy dendrogram, clause map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sqlite_utils

from policycorpus.errors import CorpusStateError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Text stays text in SVG (searchable, editable); ids are stable from run to run.
    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["svg.hashsalt"] = "policycorpus"

    return plt


def output_stem(path: str | Path) -> Path:
    """out/heatmap, out/heatmap.png or out/heatmap.svg all mean out/heatmap.{png,svg}."""
    path = Path(path)
    if path.suffix.lower() in (".png", ".svg"):
        path = path.with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save(fig, path: str | Path) -> list[Path]:
    stem = output_stem(path)
    written = []
    for ext in ("png", "svg"):
        target = stem.with_name(stem.name + "." + ext)
        fig.savefig(target, dpi=150 if ext == "png" else None, bbox_inches="tight", metadata=None if ext == "png" else {"Date": None})
        written.append(target)
    _pyplot().close(fig)
    return written


def coverage_matrix(comparison) -> tuple[list[str], list[str], np.ndarray]:
    """(companies, category labels, clause counts) of a Comparison."""
    names = comparison.names
    labels = [f"{c['group']} · {c['name']}" for c in comparison.categories]
    counts = np.array([[comparison.cells[n][c["id"]].count for c in comparison.categories] for n in names], dtype=float)
    return names, labels, counts


def plot_heatmap(comparison, path: str | Path) -> list[Path]:
    """Companies × categories, coloured by the number of clauses (0 = not covered)."""
    plt = _pyplot()
    names, labels, counts = coverage_matrix(comparison)
    fig, ax = plt.subplots(figsize=(max(6, 0.38 * len(labels) + 3), max(2.5, 0.45 * len(names) + 2)))
    image = ax.imshow(np.log1p(counts), cmap="Blues", aspect="auto", vmin=0)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=9)
    for i in range(len(names)):
        for j in range(len(labels)):
            if counts[i, j]:
                dark = np.log1p(counts[i, j]) > 0.6 * np.log1p(counts.max())
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_title("Coverage of taxonomy categories (clauses per category)")
    bar = fig.colorbar(image, ax=ax, fraction=0.025)
    bar.set_label("log(1 + clauses)")
    return save(fig, path)


def similarity_matrix(db: sqlite_utils.Database, run_id: int | None = None) -> tuple[list[str], np.ndarray, int]:
    """Document labels and the similarity matrix stored by a template pass (the latest by default)."""
    if run_id is None:
        row = db.execute("select max(id) from template_runs").fetchone()
        run_id = row[0] if row else None
    if run_id is None:
        raise CorpusStateError("no template pass yet: run 'policycorpus templates' first")
    sql = """select d.id, co.name as company, coalesce(d.title, d.url) as title from documents d
             join companies co on co.id = d.company_id
             where d.id in (select doc_a from doc_similarity where run_id = :r union select doc_b from doc_similarity where run_id = :r)
             order by co.name, d.id"""
    docs = list(db.query(sql, {"r": run_id}))
    if len(docs) < 2:
        raise CorpusStateError(f"template pass {run_id} has fewer than two similar documents to plot")
    index = {d["id"]: i for i, d in enumerate(docs)}
    sims = np.eye(len(docs))
    for r in db.query("select doc_a, doc_b, similarity from doc_similarity where run_id = ?", [run_id]):
        i, j = index[r["doc_a"]], index[r["doc_b"]]
        sims[i, j] = sims[j, i] = r["similarity"]
    labels = [d["company"] if sum(x["company"] == d["company"] for x in docs) == 1 else f"{d['company']}: {d['title']}"[:60] for d in docs]
    return labels, sims, run_id


def plot_dendrogram(labels: list[str], similarity: np.ndarray, path: str | Path) -> list[Path]:
    """Average-linkage dendrogram of policies on 1 - similarity."""
    from scipy.cluster.hierarchy import dendrogram, linkage
    from scipy.spatial.distance import squareform

    plt = _pyplot()
    distance = np.clip(1.0 - similarity, 0.0, 1.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    fig, ax = plt.subplots(figsize=(8, max(3, 0.28 * len(labels) + 1)))
    dendrogram(tree, labels=labels, orientation="right", ax=ax, leaf_font_size=8, color_threshold=0.7)
    ax.set_xlabel("1 − cosine similarity (TF-IDF)")
    ax.set_title("Policy similarity")
    return save(fig, path)


def cluster_points(db: sqlite_utils.Database, run_id: int | None = None, max_points: int = 20000, seed: int = 0):
    """(x, y, cluster, labels by cluster, run id) of a cluster run (the latest by default), sampled to max_points."""
    if run_id is None:
        run_id = db.execute("select max(id) from cluster_runs").fetchone()[0]
    if run_id is None:
        raise CorpusStateError("no cluster run yet: run 'policycorpus cluster' first")
    rows = db.execute("select x, y, cluster from cluster_members where run_id = ?", [run_id]).fetchall()
    if not rows:
        raise CorpusStateError(f"cluster run {run_id} has no members")
    data = np.array(rows, dtype=float)
    if len(data) > max_points:
        data = data[np.sort(np.random.default_rng(seed).choice(len(data), max_points, replace=False))]
    labels = {r["cluster"]: r["label"] for r in db.query("select cluster, label from clusters where run_id = ?", [run_id])}
    return data[:, 0], data[:, 1], data[:, 2].astype(int), labels, run_id


def plot_map(x, y, clusters, labels: dict[int, str], path: str | Path, title: str = "Clauses by cluster") -> list[Path]:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 7))
    cmap = plt.get_cmap("tab20")
    ids = sorted(set(clusters.tolist()))
    sizes = {c: int((clusters == c).sum()) for c in ids}
    for n, c in enumerate(ids):
        mask = clusters == c
        color = "#bbbbbb" if c < 0 else cmap(n % 20)
        ax.scatter(x[mask], y[mask], s=6, alpha=0.6, color=color, linewidths=0)
        if c >= 0 and sizes[c] >= max(3, 0.01 * len(clusters)):
            short = ", ".join((labels.get(c) or "").split(", ")[:3])
            ax.annotate(f"{c}: {short}", (np.median(x[mask]), np.median(y[mask])), fontsize=7, ha="center",
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.7, "lw": 0})
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return save(fig, path)
