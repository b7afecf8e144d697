"""Candidate new clause types: clusters flagged novel, written as taxonomy.yaml-style category stubs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from analysis.cluster import ClusterSummary


def candidate_categories(summaries: Iterable[ClusterSummary]) -> list[dict]:
    """One stub per novel cluster: a suggested id from its terms, its terms, organizations and central clauses."""
    out = []
    for s in summaries:
        if not s.novel:
            continue
        slug = "_".join(re.sub(r"[^a-z0-9]+", "_", t.lower()).strip("_") for t in s.terms[:2]) or f"cluster_{s.cluster}"
        out.append({
            "id": f"candidate_{slug}",
            "name": ", ".join(s.terms[:3]),
            "group": None,
            "description": "TO WRITE: what a clause of this type does (read the examples).",
            "evidence": {
                "cluster": s.cluster, "clauses": s.size, "organizations": len(s.companies),
                "cohesion": s.cohesion, "largest_category": s.top_category, "largest_category_share": s.category_overlap,
                "terms": s.terms, "examples": s.examples,
            },
        })
    return out


def write_candidates(summaries: Iterable[ClusterSummary], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"candidate_categories": candidate_categories(summaries)}
    path.write_text("# Candidate categories from 'policycorpus cluster' (review before adding to taxonomy.yaml)\n"
                    + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    return path
