"""Company names as people type them: case-insensitive, prefix and fuzzy matching with "did you mean".

A company is known by its name, its slug, its ``display_name`` and its
``aliases`` (a JSON list). A query is resolved in this order, stopping at the
first step that finds something:

1. an exact match of any of these (ignoring case, spaces and punctuation);
2. a prefix: the query starts one of the names or one of their words runs
   ("deeson" → "Deeson Group Ltd (UK agency)"); several companies → ambiguous;
3. a fuzzy match (rapidfuzz) scoring at least ``FUZZY_ACCEPT``, clearly ahead
   of the runner-up.

A miss raises NotFoundError with up to three "did you mean" suggestions.
"""

from __future__ import annotations

import json
import re
import unicodedata

import sqlite_utils

from policycorpus.errors import InputError, NotFoundError

FUZZY_ACCEPT = 88  # rapidfuzz WRatio a query must reach to be taken without asking
FUZZY_MARGIN = 6  # ... and its lead over the next company
SUGGEST_MIN = 55  # weakest score still offered as "did you mean"
MAX_QUERY = 200


def normalise(text: str) -> str:
    """Lower case, accents folded, punctuation and repeated spaces removed."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def display_name(row: dict) -> str:
    """The name to show a reader: display_name if set, else the name."""
    return (row.get("display_name") or "").strip() or row["name"]


def aliases(row: dict) -> list[str]:
    try:
        values = json.loads(row.get("aliases") or "[]")
    except (TypeError, ValueError):
        return []
    return [v for v in values if isinstance(v, str) and v.strip()]


def known_names(row: dict) -> list[str]:
    names = [row["name"], row.get("slug") or "", row.get("display_name") or ""] + aliases(row)
    return [n for n in dict.fromkeys(normalise(n) for n in names) if n]


def _prefix_hit(query: str, name: str) -> bool:
    if name.startswith(query) or name.replace(" ", "").startswith(query.replace(" ", "")):
        return True
    words = name.split()
    return any(" ".join(words[i:]).startswith(query) for i in range(1, len(words)))


def resolve(rows: list[dict], query: str, *, what: str = "company") -> dict:
    """The one row of `rows` that `query` names (see the module docstring)."""
    if len(query) > MAX_QUERY:
        raise InputError(f"{what} name too long ({len(query)} characters)")
    q = normalise(query)
    if not q:
        raise InputError(f"empty {what} name")
    names = {id(r): known_names(r) for r in rows}
    exact = [r for r in rows if q in names[id(r)]]
    if len(exact) == 1:
        return exact[0]
    prefix = exact or [r for r in rows if any(_prefix_hit(q, n) for n in names[id(r)])]
    if len(prefix) == 1:
        return prefix[0]
    if len(prefix) > 1:
        base = _variant_base(prefix)
        if base is not None:
            return base
        options = " or ".join(repr(r["name"]) for r in prefix[:6])
        raise InputError(f"{what} {query!r} is ambiguous: did you mean {options}?")
    ranked = _ranked(rows, q, names)
    if ranked and ranked[0][0] >= FUZZY_ACCEPT and (len(ranked) == 1 or ranked[0][0] - ranked[1][0] >= FUZZY_MARGIN):
        return ranked[0][1]
    suggestions = [r["name"] for score, r in ranked[:3] if score >= SUGGEST_MIN]
    hint = f"; did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    raise NotFoundError(f"unknown {what} {query!r}{hint}")


def _variant_base(rows: list[dict]) -> dict | None:
    """The one row whose name starts every other row's name ("GitLab Inc." among "GitLab Inc. (2017 ...)"), if any."""
    shortest = min(rows, key=lambda r: len(normalise(r["name"])))
    base = normalise(shortest["name"])
    if all(r is shortest or normalise(r["name"]).startswith(base + " ") for r in rows):
        return shortest
    return None


def _ranked(rows: list[dict], q: str, names: dict) -> list[tuple[float, dict]]:
    from rapidfuzz import fuzz

    scored = [(max(fuzz.WRatio(q, n) for n in names[id(r)]), r) for r in rows if names[id(r)]]
    return sorted(scored, key=lambda t: -t[0])


def find_company(db: sqlite_utils.Database, query: str) -> dict:
    """The company row a user means by `query`."""
    return resolve(list(db["companies"].rows), query)


def find_companies(db: sqlite_utils.Database, queries: list[str]) -> list[dict]:
    """Rows for several queries; one NotFoundError naming every miss with its suggestions."""
    rows = list(db["companies"].rows)
    found, problems = [], []
    for query in queries:
        try:
            found.append(resolve(rows, query))
        except (NotFoundError, InputError) as exc:
            problems.append(str(exc))
    if problems:
        raise NotFoundError("; ".join(problems) + " (see 'policycorpus companies list')")
    return found


def add_alias(db: sqlite_utils.Database, query: str, alias: str, *, display: bool = False) -> dict:
    """Give a company another name it is found by (and, with display=True, the name reports show)."""
    from policycorpus.db import transaction

    alias = " ".join((alias or "").split())
    if not normalise(alias) or len(alias) > MAX_QUERY or any(ord(ch) < 32 or ord(ch) == 127 for ch in alias):
        raise InputError(f"alias {alias!r} is empty, too long or contains control characters")
    with transaction(db):
        row = find_company(db, query)
        for other in db["companies"].rows:
            if other["id"] != row["id"] and normalise(alias) in known_names(other):
                raise InputError(f"{alias!r} already names {other['name']!r}")
        values = aliases(row)
        if normalise(alias) not in {normalise(v) for v in values} and normalise(alias) != normalise(row["name"]):
            values.append(alias)
        update = {"aliases": json.dumps(values, ensure_ascii=False)}
        if display:
            update["display_name"] = alias
        db.table("companies").update(row["id"], update)
    return db.table("companies").get(row["id"])


def add_to_group(db: sqlite_utils.Database, group: str, queries: list[str]) -> list[dict]:
    """Put companies in a peer group (resolving their names as people type them); returns their rows."""
    from policycorpus.db import transaction

    group = " ".join((group or "").split())
    if not group or len(group) > MAX_QUERY or any(ord(ch) < 32 for ch in group) or ";" in group or "|" in group:
        raise InputError(f"peer group name {group!r} is empty, too long or contains ';', '|' or control characters")
    if not queries:
        raise InputError("name at least one company to add to the group")
    with transaction(db):
        rows = find_companies(db, queries)
        for row in rows:
            groups = json.loads(row.get("peer_groups") or "[]")
            if group not in groups:
                db.table("companies").update(row["id"], {"peer_groups": json.dumps(groups + [group], ensure_ascii=False)})
    return rows
