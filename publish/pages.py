"""Data behind the custom Datasette pages: a tagged policy, the comparison grid, the charts.

Each ``*_data`` function takes a read-only sqlite3 connection (Datasette's
``execute_fn`` runs it in its thread pool, under the page time limit of the
plugin) and returns plain data for the templates in ``site/templates``. The comparison grid is the one
``analysis.compare`` builds for ``policycorpus compare``.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analysis.corpus import CorpusClause

SAFE_URL_SCHEMES = ("http://", "https://")  # a file:// URL is a local path: never published
# The grid is computed in Python after the SQL (about 1 s per 10,000 clauses on a loaded 2-core machine);
# past this many clauses the page refuses rather than stall. A policy has tens to hundreds of clauses.
MAX_COMPARE_CLAUSES = 20_000
Params = Sequence[Any] | Mapping[str, Any]  # SQL parameters: positional or named
HIGHLIGHT_START, HIGHLIGHT_END = "\x02", "\x03"  # the markers the search queries pass to highlight()


def rows(conn: sqlite3.Connection, sql: str, params: Params = ()) -> list[dict]:
    cursor = conn.execute(sql, params)
    keys = [d[0] for d in cursor.description]
    return [dict(zip(keys, row)) for row in cursor.fetchall()]


def one(conn: sqlite3.Connection, sql: str, params: Params = ()) -> dict | None:
    found = rows(conn, sql, params)
    return found[0] if found else None


def safe_url(url: str | None) -> str | None:
    """The URL if it is safe to put in an href (crawled data could hold javascript: URLs), else None."""
    if url and url.strip().lower().startswith(SAFE_URL_SCHEMES):
        return url.strip()
    return None


def split_names(values: list[str]) -> list[str]:
    """Company names from repeated and/or comma-separated parameters, in order, without duplicates (any case)."""
    names: list[str] = []
    seen: set[str] = set()
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name and name.lower() not in seen:
                seen.add(name.lower())
                names.append(name)
    return names


MAX_NAME_PIECES = 60  # pieces of a typed list looked at (a page compares at most a dozen organizations)
MAX_COMMAS_IN_NAME = 6


def join_split_names(conn: sqlite3.Connection, pieces: list[str]) -> list[str]:
    """Comma-separated pieces put back together where a run of them spells one organization's name (a name with
    commas, such as "Müller, Schmidt & Co."): the longest run that names an organization wins."""
    names, i = [], 0
    pieces = pieces[:MAX_NAME_PIECES]
    while i < len(pieces):
        for j in range(min(len(pieces), i + 1 + MAX_COMMAS_IN_NAME), i + 1, -1):
            row = one(conn, "select name from companies where replace(lower(name), ', ', ',') = lower(?) limit 1",
                      [",".join(pieces[i:j])])
            if row:
                names.append(row["name"])
                i = j
                break
        else:
            names.append(pieces[i])
            i += 1
    return names


def requested_names(conn: sqlite3.Connection, whole: list[str], typed: list[str]) -> list[str]:
    """The organizations a page was asked for: whole names (a picker's ticked boxes, one name each) and typed,
    comma-separated lists; in order, without duplicates (any case)."""
    names: list[str] = []
    for name in [*(n.strip() for n in whole), *join_split_names(conn, split_names(typed))]:
        if name and name.lower() not in {n.lower() for n in names}:
            names.append(name)
    return names


# ---------------------------------------------------------------- policy page


@dataclass
class PageClause:
    """A clause as the policy page shows it: a row of its snapshot's segmentation with its effective tags."""

    id: int
    position: int
    kind: str
    text: str
    heading_path: str | None
    lead_in: str | None
    modality: str | None
    tags: list[dict] = field(default_factory=list)  # category, name, group, score, source
    key: str | None = None  # the clause's stable key
    model_version: str | None = None

    @property
    def groups(self) -> list[str]:
        seen: list[str] = []
        for tag in self.tags:
            if tag["group"] and tag["group"] not in seen:
                seen.append(tag["group"])
        return seen


def categories_data(conn: sqlite3.Connection) -> list[dict]:
    return rows(conn, "select id, name, group_name, group_order, position from categories order by group_order, position, id")


def groups_in_order(categories: list[dict]) -> list[str]:
    seen: list[str] = []
    for c in categories:
        if c["group_name"] and c["group_name"] not in seen:
            seen.append(c["group_name"])
    return seen


def current_segmentation_clauses(conn: sqlite3.Connection, snapshot_id: int) -> list[dict]:
    """Clauses of a snapshot from its latest segmentation (older segmentations stay for history)."""
    return rows(
        conn,
        """select clause_id as id, clause_key as key, position, kind, heading_path, lead_in, text, modality,
                  model_version
           from snapshot_segments where snapshot_id = :s order by position, clause_id""",
        {"s": snapshot_id},
    )


def snapshot_cells(conn: sqlite3.Connection, snapshot_id: int, clauses: list) -> list[dict]:
    """The grid cells of a snapshot (covered / uncertain / absent), from the model that last tagged its clauses."""
    versions = [c.model_version for c in clauses if getattr(c, "model_version", None)]
    if not versions:
        return []
    return rows(
        conn,
        """select cc.category, coalesce(cat.name, cc.category) as name, cc.state, cc.score, cc.evidence_clause_id,
                  cc.calibrated
           from coverage_cells cc left join categories cat on cat.id = cc.category
           where cc.snapshot_id = ? and cc.model_version = ?
           order by case cc.state when 'covered' then 0 when 'uncertain' then 1 else 2 end,
                    cat.group_order, cat.position""",
        [snapshot_id, versions[-1]],
    )


def document_id_of_key(conn: sqlite3.Connection, key: str) -> int | None:
    row = one(conn, "select id from documents where key = ?", [key])
    return row["id"] if row else None


def citation(document: dict, snapshot: dict, model_version: str | None, site_title: str = "PolicyCorpus") -> dict:
    """How to cite a policy version: a plain-text reference and a BibTeX entry (no local file paths).

    The year is the policy's own (snapshots.policy_date, labelled with its kind and where it was read) when the
    version states one, else the year it was collected."""
    url = document["url"] if (document.get("url") or "").startswith(("http://", "https://")) else None
    source = url or (f"file {document['file_name']}" if document.get("file_name") else "imported file")
    collected = (snapshot.get("fetched_at") or "")[:10]
    title = snapshot.get("title") or document.get("title") or "Social media policy"
    dated = snapshot.get("policy_date") or ""
    year = dated[:4] or collected[:4] or "n.d."
    policy_date = (f"{snapshot.get('policy_date_kind') or 'dated'} {dated}"
                   + (f" ({snapshot['policy_date_source']})" if snapshot.get("policy_date_source") else "")) if dated else ""
    text = (f"{document['company']} ({year}). {title}. {source}. "
            + (f"Policy {policy_date}. " if policy_date else "")
            + f"Collected {collected}; {site_title}, policy {document.get('key') or document['id']}"
            + (f", tagged by {model_version}" if model_version else "") + ".")
    bib_key = re.sub(r"[^a-z0-9]+", "", (document.get("company_slug") or "policy").lower())[:30] + year
    note = (f"Policy {policy_date}. " if policy_date else "") + \
        f"Collected {collected} in {site_title}; policy key {document.get('key') or document['id']}"
    fields = {"author": "{" + document["company"] + "}", "title": "{" + title + "}", "year": year, "note": note}
    if dated[5:7]:
        fields["month"] = str(int(dated[5:7]))
    if url:
        fields["url"] = url
    bibtex = "@misc{" + bib_key + ",\n" + ",\n".join(f"  {k} = {{{v}}}" if not v.startswith("{") else f"  {k} = {v}"
                                                    for k, v in fields.items()) + "\n}"
    return {"text": text, "bibtex": bibtex}


def clause_location(conn: sqlite3.Connection, key: str) -> dict | None:
    """Where the clause with this stable key is now: its document and clause id (current version first)."""
    return one(
        conn,
        """select ss.document_id, ss.clause_id, ss.snapshot_id, (cs.clause_id is not null) as current
           from snapshot_segments ss left join current_segments cs on cs.clause_id = ss.clause_id
           where ss.clause_key = ? order by (cs.clause_id is not null) desc, ss.snapshot_id desc
           limit 1""",
        [key],
    )


def policy_data(conn: sqlite3.Connection, document_id: int, snapshot_id: int | None = None) -> dict | None:
    """A policy document, one of its snapshots (the latest by default) and its tagged clauses."""
    document = one(
        conn,
        """select d.*, co.name as company, co.slug as company_slug, co.industry, co.country
           from documents d join companies co on co.id = d.company_id where d.id = ?""",
        [document_id],
    )
    if document is None:
        return None
    snapshots = rows(
        conn,
        "select id, fetched_at, year, title, http_status, content_type, extractor, language, policy_date, "
        "policy_date_kind, policy_date_source from snapshots where document_id = ? order by fetched_at, id",
        [document_id],
    )
    by_id = {s["id"]: s for s in snapshots}
    if snapshot_id is None:
        snapshot_id = document["latest_snapshot_id"] or (snapshots[-1]["id"] if snapshots else None)
    if snapshot_id is None or snapshot_id not in by_id:
        return None
    index = [s["id"] for s in snapshots].index(snapshot_id)
    snapshot = dict(by_id[snapshot_id])
    snapshot["previous_id"] = snapshots[index - 1]["id"] if index > 0 else None
    snapshot["is_latest"] = snapshot_id == document["latest_snapshot_id"]

    clauses = [PageClause(**{k: r[k] for k in ("id", "key", "position", "kind", "text", "heading_path", "lead_in",
                                                "modality", "model_version")})
               for r in current_segmentation_clauses(conn, snapshot_id)]
    by_clause = {c.id: c for c in clauses}
    for tag in rows(
        conn,
        """select et.clause_id, et.category, et.score, et.source, coalesce(cat.name, et.category) as name,
                  cat.group_name as "group"
           from effective_tags et join snapshot_segments ss on ss.clause_id = et.clause_id
           left join categories cat on cat.id = et.category
           where ss.snapshot_id = ?
           order by cat.group_order, cat.position, et.category""",
        [snapshot_id],
    ):
        if tag["clause_id"] in by_clause:
            by_clause[tag["clause_id"]].tags.append(tag)

    blocks: list[dict] = []
    if not clauses:  # not segmented yet: show the extracted blocks untagged
        structure = one(conn, "select structure from snapshots where id = ?", [snapshot_id])
        blocks = json.loads(structure["structure"] or "[]") if structure else []

    categories = categories_data(conn)
    cells = snapshot_cells(conn, snapshot_id, clauses)
    judged = [c for c in clauses if c.kind == "clause" and c.modality]
    restrictive = sum(c.modality in ("prohibition", "obligation") for c in judged)
    model_version = next((c.model_version for c in clauses if c.model_version), None)
    status = one(conn, "select counted, status, duplicate_of_key from document_status where document_id = ?",
                 [document_id])
    return {
        "document": document,
        "status": status,
        "citation": citation(document, snapshot, model_version),
        "model_version": model_version,
        "source_url": safe_url(document["url"]),
        "snapshots": snapshots,
        "snapshot": snapshot,
        "clauses": clauses,
        "blocks": blocks,
        "groups": groups_in_order(categories),
        "tagged": sum(1 for c in clauses if c.tags),
        "cells": cells,
        "restrictiveness": round(restrictive / len(judged), 3) if judged else None,
    }


# ---------------------------------------------------------------- comparison page


def company_choices(conn: sqlite3.Connection) -> list[dict]:
    return rows(
        conn,
        """select co.name, co.slug, co.industry, co.country, co.org_type from companies co
           where exists (select 1 from documents d where d.company_id = co.id) order by lower(co.name), co.name""",
    )


def resolve_companies(conn: sqlite3.Connection, names: list[str]) -> tuple[list[dict], list[str]]:
    """Rows of the companies named (by name or slug, any case) and the names not found."""
    found: list[dict] = []
    unknown: list[str] = []
    for name in names:
        row = one(conn, "select * from companies where lower(name) = lower(?) or slug = lower(?)", [name, name])
        if row is None:
            unknown.append(name)
        elif row["id"] not in (r["id"] for r in found):
            found.append(row)
    return found, unknown


# The current clauses of some companies and their effective tags, from the views of policycorpus/db.py
# (the same rows analysis.corpus.current_clauses reads); tests/test_publish*.py check both give the same grid.
CURRENT_CLAUSES_OF_COMPANIES_SQL = """
select clause_id as id, clause_key, company_id, company, document_id, coalesce(url, '') as url, file_name, fetched_at,
       position, text, heading_path, modality, model_version
from current_clauses
where company_id in ({ids})
order by company, document_id, position
"""
CURRENT_TAGS_OF_COMPANIES_SQL = """
select et.clause_id, et.category, et.score from effective_tags et
join current_segments cs on cs.clause_id = et.clause_id
where cs.company_id in ({ids}) and cs.kind = 'clause'
"""


def current_clauses_of(conn: sqlite3.Connection, company_ids: list[int]) -> list[CorpusClause]:
    """analysis.corpus.CorpusClause objects with tags for the companies' current clauses."""
    from analysis.corpus import CorpusClause

    ids = ", ".join(str(int(i)) for i in company_ids)
    clauses = {
        r["id"]: CorpusClause(
            id=r["id"], company_id=r["company_id"], company=r["company"], document_id=r["document_id"], url=r["url"],
            fetched_at=r["fetched_at"] or "", position=r["position"] or 0, text=r["text"] or "",
            heading_path=r["heading_path"] or "", modality=r["modality"], model_version=r["model_version"],
            key=r["clause_key"], file_name=r["file_name"],
        )
        for r in rows(conn, CURRENT_CLAUSES_OF_COMPANIES_SQL.format(ids=ids))
    }
    for r in rows(conn, CURRENT_TAGS_OF_COMPANIES_SQL.format(ids=ids)):
        if r["clause_id"] in clauses:
            clauses[r["clause_id"]].tags[r["category"]] = r["score"] if r["score"] is not None else 1.0
    return list(clauses.values())


def count_latest_clauses(conn: sqlite3.Connection, company_ids: list[int]) -> int:
    """Clauses of the companies' current snapshots: the grid's work."""
    ids = ", ".join(str(int(i)) for i in company_ids)
    return conn.execute(
        f"select count(*) from current_segments where company_id in ({ids}) and kind = 'clause'").fetchone()[0]


def compare_data(conn: sqlite3.Connection, names: list[str], *, max_clauses: int = MAX_COMPARE_CLAUSES) -> dict:
    """The comparison grid of analysis.compare (as `policycorpus compare` builds it) for the named companies."""
    import sqlite_utils

    from analysis.compare import column_cells, compare_clauses, not_tagged_companies
    from analysis.corpus import load_categories
    from policycorpus.errors import PolicyCorpusError

    companies, unknown = resolve_companies(conn, names)
    result: dict[str, Any] = {"names": names, "unknown": unknown, "comparison": None, "error": None, "documents": {},
                              "not_tagged": {}}
    if unknown or not companies:
        return result
    n_clauses = count_latest_clauses(conn, [c["id"] for c in companies])
    if n_clauses > max_clauses:
        result["error"] = (f"These companies have {n_clauses:,} clauses, more than this page compares at once "
                           f"({max_clauses:,}); compare fewer companies, or use 'policycorpus compare'.")
        return result
    try:
        categories = load_categories(sqlite_utils.Database(conn))
    except PolicyCorpusError as exc:
        result["error"] = str(exc)
        return result
    db = sqlite_utils.Database(conn)
    not_tagged = not_tagged_companies(db, [c["id"] for c in companies])
    result["not_tagged"] = {c["name"]: not_tagged[c["id"]] for c in companies if c["id"] in not_tagged}
    companies = [c for c in companies if c["id"] not in not_tagged]
    by_company: dict[str, list] = {c["name"]: [] for c in companies}
    for clause in current_clauses_of(conn, [c["id"] for c in companies]):
        by_company[clause.company].append(clause)
    if result["not_tagged"] and not companies:
        return result  # nothing the tagger can read: the page lists them as not tagged
    if not any(by_company.values()):
        result["error"] = (f"no segmented clauses for {', '.join(by_company)} "
                           "(run 'policycorpus segment' and 'policycorpus tag' first)")
        return result
    calibrated = {}
    for name, clauses in by_company.items():
        cells = column_cells(db, sorted({c.document_id for c in clauses}))
        if cells:
            calibrated[name] = cells
    result["comparison"] = compare_clauses(by_company, categories, calibrated=calibrated)
    result["comparison"].not_tagged = result["not_tagged"]
    for company in companies:
        result["documents"][company["name"]] = [
            dict(doc, source_url=safe_url(doc["url"]))
            for doc in rows(
                conn,
                """select d.id, d.url, d.title, d.latest_snapshot_id, s.fetched_at, s.policy_date, s.policy_date_kind
                   from documents d join document_status ds on ds.document_id = d.id
                   left join snapshots s on s.id = d.latest_snapshot_id
                   where d.company_id = ? and ds.counted order by d.id""",
                [company["id"]],
            )
        ]
    return result


# ---------------------------------------------------------------- charts


def bar_rows(records: list[dict], label: str, value: str, colour: Callable[[dict], str | None] = lambda r: None, maximum: float = 1.0, *,
             low: str | None = None, high: str | None = None, n: str | None = None, k: str | None = None) -> list[dict]:
    """Rows for a horizontal bar chart: label, value, bar length as a share of maximum, and what the chart says
    about each bar's n (the organizations behind it, with k of them counted when the value is a share) and
    spread (low and high ends of a whisker: an interval or a range)."""
    out = []
    for r in records:
        v = r.get(value)
        row: dict[str, Any] = {"label": str(r.get(label)), "value": v, "share": _scaled(v, maximum), "colour": colour(r), "record": r,
               "n": r.get(n) if n else None, "k": r.get(k) if k else None, "low": None, "high": None}
        if low and high and r.get(low) is not None and r.get(high) is not None:
            row["low"], row["high"] = r[low], r[high]
        elif k and n and row["n"]:
            row["low"], row["high"] = wilson_interval(row["k"] or 0, row["n"])
        row["low_share"], row["high_share"] = _scaled(row["low"], maximum), _scaled(row["high"], maximum)
        out.append(row)
    return out


def _scaled(v: float | None, maximum: float) -> float:
    return max(0.0, min(1.0, (v or 0) / maximum)) if maximum else 0.0


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a share k/n: honest for small n and for shares near 0 or 1."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def has_values(records: list[dict], key: str) -> bool:
    """Whether a chart grouped by key has any group but '(none)' (a corpus without industries, say)."""
    return any(r.get(key) not in (None, "(none)") for r in records)


# ---------------------------------------------------------------- search highlighting


def highlight_markers(text: str) -> list[tuple[str, bool]]:
    """Split text marked by highlight(..., char(2), char(3)) into (part, is_match) pieces."""
    pieces, pattern = [], re.compile(f"{HIGHLIGHT_START}(.*?){HIGHLIGHT_END}", re.S)
    last = 0
    for match in pattern.finditer(text):
        if match.start() > last:
            pieces.append((text[last : match.start()], False))
        pieces.append((match.group(1), True))
        last = match.end()
    if last < len(text):
        pieces.append((text[last:], False))
    return [(p.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, ""), m) for p, m in pieces]


SUFFIXES = ("ing", "ed", "es", "s", "ly", "ion", "ions", "ity", "ies", "er", "ers", "ment", "ments")
WORD = re.compile(r"\w+", re.U)


def search_terms(query: str) -> list[str]:
    """Stems of the words of a search, to mark them in table views (FTS5 uses the porter stemmer)."""
    terms = []
    for word in WORD.findall(query.lower()):
        if word.upper() in ("AND", "OR", "NOT", "NEAR"):
            continue
        for suffix in sorted(SUFFIXES, key=len, reverse=True):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        if word not in terms:
            terms.append(word)
    return terms


def mark_terms(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """Split text into (part, is_match) pieces where words start with one of the terms."""
    if not terms:
        return [(text, False)]
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\w*", re.I | re.U)
    pieces, last = [], 0
    for match in pattern.finditer(text):
        if match.start() > last:
            pieces.append((text[last : match.start()], False))
        pieces.append((match.group(0), True))
        last = match.end()
    if last < len(text):
        pieces.append((text[last:], False))
    return pieces
