"""How coherent clusters are, measured against labelled clauses (not silhouette alone).

For labelled units (``eval/owndocs/*.units.jsonl`` + ``*.labels.jsonl``, or the gold set
of ../shared/realcorpus/gold), cluster the texts of the units that carry a category and report

* dominant share: the share of clauses whose cluster's most frequent category is one of
  their own categories (1 = every cluster is about one category);
* AMI: adjusted mutual information between clusters and each clause's first category.

    python -m analysis.coherence --units eval/owndocs/corp.units.jsonl --labels eval/owndocs/corp.labels.jsonl \
        --backend tfidf --backend function --tagger heldout.joblib
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from analysis.estimators import ClauseClusterer


def load_units(pairs: list[tuple[str, str]], headings: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """(texts, categories) of the labelled units that carry at least one category (their headings appended to
    ``headings`` when a list is given)."""
    texts, labels = [], []
    for units_path, labels_path in pairs:
        by_key = {}
        for line in Path(labels_path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                by_key[(row["doc"], row["idx"])] = row.get("labels") or []
        for line in Path(units_path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            cats = by_key.get((row["doc"], row["idx"])) or []
            if cats and len(row.get("text", "").split()) >= 3:
                texts.append(row["text"])
                labels.append(cats)
                if headings is not None:
                    headings.append(row.get("heading") or "")
    return texts, labels


def dominant_share(clusters: Sequence[int] | np.ndarray, labels: list[list[str]]) -> float:
    """Share of clauses whose cluster's most frequent category is one of their own (outliers count as misses)."""
    clusters = np.asarray(clusters)
    hits = 0
    for c in set(clusters.tolist()):
        if c < 0:
            continue
        members = np.flatnonzero(clusters == c)
        counts = Counter(cat for i in members for cat in labels[i])
        if not counts:
            continue
        top = counts.most_common(1)[0][0]
        hits += sum(top in labels[i] for i in members)
    return hits / len(labels) if labels else 0.0


def per_cluster_purity(clusters: Sequence[int] | np.ndarray, labels: list[list[str]]) -> dict[int, float]:
    """For each cluster, the share of members carrying its most frequent category."""
    clusters = np.asarray(clusters)
    out = {}
    for c in sorted(set(clusters.tolist())):
        members = np.flatnonzero(clusters == c)
        counts = Counter(cat for i in members for cat in labels[i])
        out[int(c)] = (counts.most_common(1)[0][1] / len(members)) if counts else 0.0
    return out


def ami(clusters: Sequence[int] | np.ndarray, labels: list[list[str]]) -> float:
    from sklearn.metrics import adjusted_mutual_info_score

    return float(adjusted_mutual_info_score([cats[0] if cats else "none" for cats in labels], clusters))


def evaluate(model: ClauseClusterer, texts: list[str], labels: list[list[str]], clauses: pd.DataFrame | None = None) -> dict:
    """Fit the model on the texts (or on ``clauses``, a clause frame of them) and measure its clusters against
    the labels."""
    started = time.monotonic()
    clusters = model.fit_predict(texts if clauses is None else clauses)
    return {"clauses": len(texts), "clusters": int(model.n_clusters_), "dominant_share": round(dominant_share(clusters, labels), 3),
            "ami": round(ami(clusters, labels), 3),
            "silhouette": None if model.quality_ is None else round(model.quality_, 3),
            "seconds": round(time.monotonic() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    from analysis.estimators import FUNCTION_REPRESENTATIONS, REPRESENTATIONS, ClauseClusterer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", action="append", required=True)
    parser.add_argument("--labels", action="append", required=True)
    parser.add_argument("--backend", action="append", choices=list(REPRESENTATIONS))
    parser.add_argument("--clusters", type=int, action="append", help="k (repeat); default: chosen by the model")
    parser.add_argument("--tagger", help="tagger model file for the function backends (default: the shipped model; "
                                         "it was trained on the real corpus's labels, so pass one trained without "
                                         "them to measure those labels fairly)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if len(args.units) != len(args.labels):
        parser.error("give one --labels per --units")
    headings: list[str] = []
    texts, labels = load_units(list(zip(args.units, args.labels)), headings)
    print(f"{len(texts)} labelled clauses, {len({c for cats in labels for c in cats})} categories", flush=True)
    for backend in args.backend or ["tfidf"]:
        for k in args.clusters or [None]:
            model = ClauseClusterer(representation=backend, n_clusters=k, random_state=args.seed)
            clauses = None
            if backend in FUNCTION_REPRESENTATIONS:
                union = model._representation().set_params(tagger=args.tagger)
                model.set_params(representation=union)
                clauses = clause_frame_of_units(texts, headings)
            print(json.dumps({"backend": backend, "k": k, **evaluate(model, texts, labels, clauses)}), flush=True)
    return 0


def clause_frame_of_units(texts: list[str], headings: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"text": texts, "heading_path": headings})


if __name__ == "__main__":
    sys.exit(main())
