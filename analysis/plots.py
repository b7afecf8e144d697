"""Plots for analysts, each written as PNG and SVG (and the clause map also as interactive HTML):
coverage heatmap, policy dendrogram, clause map, cluster shares by class.

Plots draw what the data says: the dendrogram has every current document (or names the
ones it left out and why), the clause map is a projection of the real vectors with a
legend entry (colour and marker) for every cluster, heatmaps can show shares.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import sqlite_utils

from policycorpus.errors import CorpusStateError, DependencyError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from analysis.compare import Comparison

# Names of organizations may be in any script: DejaVu first, then the Noto CJK fonts (fonts-noto-cjk).
FONT_FAMILY = ["DejaVu Sans", "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Serif CJK JP", "sans-serif"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Text stays text in SVG (searchable, editable); ids are stable from run to run.
    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["svg.hashsalt"] = "policycorpus"
    plt.rcParams["font.family"] = _available_fonts()
    return plt


def _available_fonts() -> list[str]:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    if not any("CJK" in n for n in names):  # the font cache may predate fonts-noto-cjk: add its files
        for path in font_manager.findSystemFonts():
            if "CJK" in Path(path).name:
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        names = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in FONT_FAMILY if f in names or f == "sans-serif"]


def output_stem(path: str | Path) -> Path:
    """out/heatmap, out/heatmap.png or out/heatmap.svg all mean out/heatmap.{png,svg}."""
    path = Path(path)
    if path.suffix.lower() in (".png", ".svg", ".html"):
        path = path.with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save(fig: Figure, path: str | Path) -> list[Path]:
    stem = output_stem(path)
    written = []
    for ext in ("png", "svg"):
        target = stem.with_name(stem.name + "." + ext)
        fig.savefig(target, dpi=150 if ext == "png" else None, bbox_inches="tight", metadata=None if ext == "png" else {"Date": None})
        written.append(target)
    _pyplot().close(fig)
    return written


def cluster_styles(clusters: Iterable[int]) -> dict[int, tuple]:
    """A (colour, marker) pair per cluster, different for every cluster (60 colours × 10 markers); outliers grey x."""
    import matplotlib

    palette = [matplotlib.colormaps[name](i) for name in ("tab20", "tab20b", "tab20c") for i in range(20)]
    styles = {}
    ids = sorted(c for c in set(int(c) for c in clusters) if c >= 0)
    for n, c in enumerate(ids):
        styles[c] = (palette[n % len(palette)], MARKERS[(n // len(palette) + n) % len(MARKERS)])
    styles[-1] = ((0.6, 0.6, 0.6, 1.0), "x")
    return styles


# --------------------------------------------------------------------------- heatmap


def coverage_matrix(comparison: Comparison) -> tuple[list[str], list[str], np.ndarray]:
    """(companies, category labels, clause counts) of a Comparison."""
    names = comparison.names
    labels = [f"{c['group']} · {c['name']}" for c in comparison.categories]
    counts = np.array([[comparison.cells[n][c["id"]].count for c in comparison.categories] for n in names], dtype=float)
    return names, labels, counts


def plot_heatmap(comparison: Comparison, path: str | Path, *, share: bool = False) -> list[Path]:
    """Companies × categories, coloured by clauses (log scale) or, with share, by the share of each
    company's tagged clauses in the category (comparable across long and short policies)."""
    names, labels, counts = coverage_matrix(comparison)
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if share else counts
    return heatmap(values, names, labels, path, share=share,
                   title="Share of each organization's tagged clauses per category" if share
                   else "Coverage of taxonomy categories (clauses per category)")


def heatmap(values: np.ndarray, rows: list[str], columns: list[str], path: str | Path, *, share: bool,
            title: str) -> list[Path]:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 0.38 * len(columns) + 3), max(2.5, 0.45 * len(rows) + 2)))
    shown = values if share else np.log1p(values)
    image = ax.imshow(shown, cmap="Blues", aspect="auto", vmin=0, vmax=max(float(shown.max()), 1e-9))
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=9)
    top = float(shown.max()) or 1.0
    for i in range(len(rows)):
        for j in range(len(columns)):
            if values[i, j]:
                text = f"{values[i, j]:.0%}" if share else str(int(values[i, j]))
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > 0.6 * top else "black")
    ax.set_title(title)
    bar = fig.colorbar(image, ax=ax, fraction=0.025)
    bar.set_label("share" if share else "log(1 + clauses)")
    return save(fig, path)


# --------------------------------------------------------------------------- dendrogram


def _document_labels(docs: list[dict]) -> list[str]:
    """The organization's name, with the title when it has several documents; unique."""
    per_company: dict[str, int] = {}
    for d in docs:
        per_company[d["company"]] = per_company.get(d["company"], 0) + 1
    labels, seen = [], set()
    for d in docs:
        label = d["company"] if per_company[d["company"]] == 1 else f"{d['company']}: {d['title'] or d['url']}"[:60]
        if label in seen:
            label = f"{label[:52]} (#{d['id']})"
        seen.add(label)
        labels.append(label)
    return labels


def similarity_matrix(db: sqlite_utils.Database, run_id: int | None = None) -> tuple[list[str], np.ndarray, int, list[str]]:
    """(labels, similarity matrix, run id, left out) of a template pass (the latest by default).

    Every current document the pass compared is in the matrix; pairs the pass did not store
    (below its min_doc_similarity) count as 0. Documents first seen after the pass are left
    out and named in ``left out`` (run 'policycorpus templates' again to include them).
    """
    if run_id is None:
        row = db.execute("select max(id) from template_runs").fetchone() if db["template_runs"].exists() else None
        run_id = row[0] if row else None
    if run_id is None:
        raise CorpusStateError("no template pass yet: run 'policycorpus templates' first")
    run = db.table("template_runs").get(run_id)
    sql = """select d.id, co.name as company, coalesce(d.title, d.url) as title, d.url, d.first_seen
             from documents d join companies co on co.id = d.company_id
             where d.latest_snapshot_id is not null order by co.name, d.id"""
    rows = list(db.query(sql))
    paired = {r[0] for r in db.execute("select doc_a from doc_similarity where run_id = ? union "
                                       "select doc_b from doc_similarity where run_id = ?", [run_id, run_id])}
    docs = [d for d in rows if d["id"] in paired or (d["first_seen"] or "") <= run["created_at"]]
    left_out = [f"{d['company']}: {d['title']} (first seen after templates pass {run_id})" for d in rows if d not in docs]
    if len(docs) < 2:
        raise CorpusStateError(f"template pass {run_id} has fewer than two documents to plot")
    index = {d["id"]: i for i, d in enumerate(docs)}
    sims = np.eye(len(docs))
    for r in db.query("select doc_a, doc_b, similarity from doc_similarity where run_id = ?", [run_id]):
        if r["doc_a"] in index and r["doc_b"] in index:
            i, j = index[r["doc_a"]], index[r["doc_b"]]
            sims[i, j] = sims[j, i] = r["similarity"]
    return _document_labels(docs), sims, run_id, left_out


def plot_dendrogram(labels: list[str], similarity: np.ndarray, path: str | Path, *,
                    left_out: list[str] | None = None) -> list[Path]:
    """Average-linkage dendrogram of every document given, on 1 − similarity; left-out documents are named."""
    from scipy.cluster.hierarchy import dendrogram, linkage
    from scipy.spatial.distance import squareform

    plt = _pyplot()
    distance = np.clip(1.0 - similarity, 0.0, 1.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    fig, ax = plt.subplots(figsize=(8, max(3, 0.28 * len(labels) + 1)))
    drawn = dendrogram(tree, labels=labels, orientation="right", ax=ax, leaf_font_size=8, color_threshold=0.7)
    if len(drawn["ivl"]) != len(labels):  # never expected: every leaf is drawn
        raise AssertionError("the dendrogram lost documents")
    ax.set_xlabel("1 − cosine similarity (TF-IDF)")
    title = f"Policy similarity: all {len(labels)} documents"
    if left_out:
        title = f"Policy similarity: {len(labels)} documents ({len(left_out)} left out, see below)"
        fig.text(0.01, -0.02, "Left out: " + "; ".join(left_out)[:600], fontsize=7, va="top", wrap=True)
    ax.set_title(title)
    return save(fig, path)


# --------------------------------------------------------------------------- clause map


def cluster_points(db: sqlite_utils.Database, run_id: int | None = None, max_points: int = 20000, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, str], int]:
    """(x, y, cluster, labels by cluster, run id) of a cluster run (the latest by default), sampled to max_points."""
    if run_id is None:
        run_id = db.execute("select max(id) from cluster_runs").fetchone()[0]
    if run_id is None:
        raise CorpusStateError("no cluster run yet: run 'policycorpus cluster' first")
    rows = db.execute("select x, y, cluster from cluster_members where run_id = ? order by clause_id", [run_id]).fetchall()
    if not rows:
        raise CorpusStateError(f"cluster run {run_id} has no members")
    data = np.array(rows, dtype=float)
    if len(data) > max_points:
        data = data[np.sort(np.random.default_rng(seed).choice(len(data), max_points, replace=False))]
    labels = {r["cluster"]: r["label"] for r in db.query("select cluster, label from clusters where run_id = ?", [run_id])}
    return data[:, 0], data[:, 1], data[:, 2].astype(int), labels, run_id


def _short(label: str | None, n: int = 3) -> str:
    return ", ".join((label or "").split(", ")[:n])


def plot_map(x: np.ndarray, y: np.ndarray, clusters: np.ndarray, labels: dict[int, str], path: str | Path, title: str = "Clauses by cluster",
             projection: str = "PCA") -> list[Path]:
    """Scatter of the projected clauses; every cluster has its own colour and marker and a legend entry."""
    plt = _pyplot()
    styles = cluster_styles(clusters)
    ids = sorted(styles, key=lambda c: (c < 0, c))
    ids = [c for c in ids if (clusters == c).any()]
    fig, ax = plt.subplots(figsize=(10, 7))
    for c in ids:
        mask = clusters == c
        colour, marker = styles[c]
        name = f"outliers ({int(mask.sum())})" if c < 0 else f"{c}: {_short(labels.get(c))} ({int(mask.sum())})"
        ax.scatter(x[mask], y[mask], s=8, alpha=0.6, color=colour, marker=marker, linewidths=0 if marker != "x" else 0.6,
                   label=name)
    ncol = 1 if len(ids) <= 25 else 2 if len(ids) <= 50 else 3
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6, ncol=ncol, markerscale=1.5, frameon=False,
              title=f"{len([c for c in ids if c >= 0])} clusters")
    ax.set_title(f"{title}\n{projection} projection of the clause vectors: overlapping clusters overlap here too")
    ax.set_xticks([])
    ax.set_yticks([])
    return save(fig, path)


def map_spec(x: np.ndarray, y: np.ndarray, clusters: np.ndarray, labels: dict[int, str], texts: list[str] | None = None, title: str = "Clauses by cluster") -> dict:
    """A Vega-Lite specification of the clause map (hover shows the cluster and the clause)."""
    rows = []
    for i in range(len(x)):
        c = int(clusters[i])
        row = {"x": round(float(x[i]), 5), "y": round(float(y[i]), 5), "cluster": c,
               "label": "outliers" if c < 0 else f"{c}: {_short(labels.get(c))}"}
        if texts is not None:
            row["text"] = texts[i][:300]
        rows.append(row)
    tooltip = [{"field": "label", "type": "nominal"}] + ([{"field": "text", "type": "nominal"}] if texts is not None else [])
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": 700, "height": 500,
        "data": {"values": rows},
        "mark": {"type": "point", "filled": True, "size": 30, "opacity": 0.7},
        "params": [{"name": "pick", "select": {"type": "point", "fields": ["label"]}, "bind": "legend"}],
        "encoding": {
            "x": {"field": "x", "type": "quantitative", "axis": None},
            "y": {"field": "y", "type": "quantitative", "axis": None},
            "color": {"field": "label", "type": "nominal", "scale": {"scheme": "category20"},
                      "legend": {"columns": 2, "symbolLimit": 0, "labelLimit": 220}},
            "shape": {"field": "label", "type": "nominal", "legend": None},
            "opacity": {"condition": {"param": "pick", "value": 0.8}, "value": 0.05},
            "tooltip": tooltip,
        },
    }


HTML_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<script>{bundle}</script></head>
<body><div id="vis"></div>
<p>Interactive Vega-Lite chart: click a legend entry to highlight a cluster; hover a point for its clause.
The specification with its data is also in the file next to this one ({spec_name}) for the Vega editor.</p>
<script type="application/json" id="spec">{spec}</script>
<script>vegaEmbed('#vis', JSON.parse(document.getElementById('spec').textContent), {{actions: false, renderer: 'svg'}});</script>
</body></html>
"""
VEGA_LITE_VERSION = "5.20"  # the specification's $schema is Vega-Lite 5


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script, from the vl-convert-python package: the page is
    self-contained and opens without a network (no CDN). About 0.9 MB, built once per process."""
    try:
        import vl_convert
    except ImportError:
        raise DependencyError("interactive HTML plots need vl-convert-python (pip install vl-convert-python)") from None
    # without a snippet it is the standard bundle (its type stub wants one; an empty one bundles nothing)
    bundle: Callable[..., str] = vl_convert.javascript_bundle
    return bundle(vl_version=VEGA_LITE_VERSION)


def _inline_script(code: str) -> str:
    return code.replace("</script", "<\\/script")  # the bundle has none today; a later one must not end the tag


def write_interactive(spec: dict, path: str | Path) -> list[Path]:
    """STEM.html (Vega-Lite via vega-embed, the libraries inlined) and STEM.vl.json (the specification with its data)."""
    import html

    stem = output_stem(path)
    spec_path = stem.with_name(stem.name + ".vl.json")
    spec_text = json.dumps(spec, ensure_ascii=False)
    spec_path.write_text(spec_text, encoding="utf-8")
    page = stem.with_name(stem.name + ".html")
    page.write_text(HTML_PAGE.format(title=html.escape(str(spec.get("title", ""))), spec_name=spec_path.name,
                                     bundle=_inline_script(vega_bundle()), spec=spec_text.replace("</", "<\\/")),
                    encoding="utf-8")
    return [page, spec_path]


# --------------------------------------------------------------------------- by class


def plot_cluster_shares(frame: pd.DataFrame, by: str, path: str | Path, *, max_clusters: int = 30) -> list[Path]:
    """Heatmap of cluster shares per class from ``analysis.frames.clusters_per_class`` (rows: classes)."""
    table = frame.pivot_table(index=by, columns="cluster_label", values="share", aggfunc="sum", fill_value=0.0)
    if table.shape[1] > max_clusters:
        table = table[table.sum(axis=0).sort_values(ascending=False).index[:max_clusters]]
    columns = [_short(str(c)) for c in table.columns]
    return heatmap(table.to_numpy(dtype=float), [str(i) for i in table.index], columns, path, share=True,
                   title=f"Share of each {by}'s clauses in each cluster")
