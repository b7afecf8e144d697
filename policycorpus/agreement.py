"""Inter-coder agreement on review decisions: Cohen's kappa, Krippendorff's alpha (nominal), agreement with the model.

A reviewer's coding of a clause is, per category, 1 when their latest decision confirmed or added it, 0 when it
removed it, and the model's tag when they reviewed the clause but left that category alone (they accepted it; an
``accept`` decision codes a clause whose categories all stand as shown, none at all included).
Agreement is computed on the clauses every compared reviewer coded.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from itertools import combinations


def cohen_kappa(a: list, b: list) -> float | None:
    """Cohen's kappa of two equal-length label lists (as sklearn.metrics.cohen_kappa_score); None if empty."""
    if len(a) != len(b):
        raise ValueError("the two codings differ in length")
    n = len(a)
    if not n:
        return None
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if expected == 1:
        return 1.0 if observed == 1 else 0.0  # sklearn gives nan; one label everywhere is full agreement
    return (observed - expected) / (1 - expected)


def krippendorff_alpha_nominal(units: list[list]) -> float | None:
    """Krippendorff's alpha for nominal data; units: per item, the values the coders gave (None = missing)."""
    coincidence: defaultdict[tuple, float] = defaultdict(float)
    for values in units:
        present = [v for v in values if v is not None]
        m = len(present)
        if m < 2:
            continue
        for i, j in ((i, j) for i in range(m) for j in range(m) if i != j):
            coincidence[(present[i], present[j])] += 1 / (m - 1)
    n_c: defaultdict[object, float] = defaultdict(float)
    for (c, _), w in coincidence.items():
        n_c[c] += w
    n = sum(n_c.values())
    if n <= 1:
        return None
    observed = sum(w for (c, k), w in coincidence.items() if c != k)
    expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k) / (n - 1)
    if expected == 0:
        return 1.0
    return 1 - observed / expected


def codings(store: sqlite3.Connection, model_tags: dict[str, set[str]] | None = None
            ) -> tuple[dict[str, dict[str, dict[str, int]]], set[str]]:
    """reviewer -> clause key -> category -> 0/1, and every category seen."""
    latest: dict[tuple[str, str, str], str] = {}
    accepted: set[tuple[str, str]] = set()
    for reviewer, key, category, action in store.execute(
            "select reviewer, clause_key, category, action from decisions "
            "where action in ('confirm', 'remove', 'add', 'accept') order by id"):
        if action == "accept":
            accepted.add((reviewer, key))  # coded, the model's categories standing
        else:
            latest[(reviewer, key, category)] = action
    model_tags = model_tags or {}
    out: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for reviewer, key in accepted:
        out[reviewer][key]  # noqa: B018 -- creates the (possibly empty) coding
    categories = {c for (_, _, c) in latest}
    for tags in model_tags.values():
        categories |= tags
    for (reviewer, key, category), action in latest.items():
        out[reviewer][key][category] = 0 if action == "remove" else 1
    for reviewer, clauses in out.items():
        for key, coded in clauses.items():
            for category in model_tags.get(key, set()):
                coded.setdefault(category, 1)
    return out, categories


def agreement_table(store: sqlite3.Connection, model_tags: dict[str, set[str]] | None = None,
                    reviewers: list[str] | None = None) -> dict:
    """Per category and overall: kappa (two reviewers) or alpha (more), items, and each reviewer vs the model."""
    coded, categories = codings(store, model_tags)
    names = sorted(reviewers or coded)
    missing = [r for r in names if r not in coded]
    model_tags = model_tags or {}
    shared = set.intersection(*(set(coded[r]) for r in names)) if names and not missing else set()
    shared_list = sorted(shared)

    def label(reviewer, key, category):
        return coded[reviewer][key].get(category, 0)

    rows = []
    for category in sorted(categories) + [None]:
        cats = [category] if category else sorted(categories)
        items = [(k, c) for k in shared_list for c in cats]
        row = {"category": category or "overall", "clauses": len(shared_list)}
        if len(names) == 2:
            a = [label(names[0], k, c) for k, c in items]
            b = [label(names[1], k, c) for k, c in items]
            row["kappa"] = cohen_kappa(a, b)
            row["agreement"] = (sum(x == y for x, y in zip(a, b)) / len(a)) if a else None
        if len(names) >= 2:
            row["alpha"] = krippendorff_alpha_nominal([[label(r, k, c) for r in names] for k, c in items])
        for r in names if not missing else []:
            own = [(k, c) for k in sorted(coded[r]) for c in cats]
            mine = [label(r, k, c) for k, c in own]
            model = [int(c in model_tags.get(k, set())) for k, c in own]
            row[f"kappa_model_{r}"] = cohen_kappa(mine, model)
        rows.append(row)
    return {"reviewers": names, "missing": missing, "rows": rows,
            "pairs": [list(p) for p in combinations(names, 2)]}


def model_tags_of(conn: sqlite3.Connection, keys: list[str]) -> dict[str, set[str]]:
    """The model's tags (main.effective_tags, never the review overlay) of current clauses by key."""
    out: dict[str, set[str]] = defaultdict(set)
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        marks = ", ".join("?" * len(chunk))
        for key, category in conn.execute(
                f"select cs.clause_key, et.category from main.current_segments cs "
                f"join main.effective_tags et on et.clause_id = cs.clause_id where cs.clause_key in ({marks})", chunk):
            out[key].add(category)
    return out
