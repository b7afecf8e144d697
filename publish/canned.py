"""What a canned query's page says besides its rows: the choices of its parameters, why its result is empty, and
whether the result was cut at the query's limit.

Each function takes a read-only sqlite3 connection (the plugin runs them through Datasette's ``execute_fn`` under
the page time limit) and the query's parameters as the page received them: untrusted text.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

from publish.pages import one, rows
from publish.search import NOTHING, fts_query

SEARCH_LIMIT = 100  # the LIMIT of search_clauses and search_policies (publish/site/metadata.yml)
SHOWN_IDS = 40  # valid ids listed in one message


def category_choices(conn: sqlite3.Connection) -> list[dict]:
    return rows(conn, "select id, name, group_name from categories order by group_order, position, id")


def organization_choices(conn: sqlite3.Connection) -> list[dict]:
    return rows(conn, """select co.name, co.slug from companies co
                         where exists (select 1 from documents d where d.company_id = co.id)
                         order by lower(co.name), co.name""")


def find_category(conn: sqlite3.Connection, value: str) -> dict | None:
    """The category a parameter names: by id or display name, any case."""
    value = value.strip()
    return one(conn, "select id, name from categories where id = ? or lower(id) = lower(?) or lower(name) = lower(?) "
                     "limit 1", [value, value, value])


def find_organization(conn: sqlite3.Connection, value: str) -> dict | None:
    """The organization a parameter names: by name or slug, any case."""
    value = value.strip()
    return one(conn, "select id, name from companies where lower(name) = lower(?) or slug = lower(?) limit 1",
               [value, value])


def valid_ids(conn: sqlite3.Connection) -> str:
    ids = [c["id"] for c in category_choices(conn)]
    if not ids:
        return "none: the categories table is empty (run policycorpus tag)"
    return ", ".join(ids[:SHOWN_IDS]) + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


def quoted(value: str, limit: int = 80) -> str:
    value = " ".join(value.split())
    return f"“{value[:limit]}{'…' if len(value) > limit else ''}”"


def _category_problem(conn, value: str) -> tuple[dict | None, str | None]:
    if not value.strip():
        return None, f"Give a category: its id or its name. Valid ids: {valid_ids(conn)}."
    category = find_category(conn, value)
    if category is None:
        return None, f"Unknown category id {quoted(value)}; valid ids: {valid_ids(conn)}."
    return category, None


def _organization_problem(conn, value: str, *, required: bool = True) -> tuple[dict | None, str | None]:
    if not value.strip():
        return None, "Give an organization: its name or slug (see Every policy)." if required else None
    organization = find_organization(conn, value)
    if organization is None:
        return None, f"No organization named {quoted(value)} in this corpus (names and slugs: see Every policy)."
    return organization, None


def _has_tags(conn) -> bool:
    return one(conn, "select 1 as x from effective_tags limit 1") is not None


def _has_clauses(conn) -> bool:
    return one(conn, "select 1 as x from current_segments where kind = 'clause' limit 1") is not None


def _search_empty(conn, args: dict) -> str:
    if fts_query(args.get("q")) == NOTHING:
        return 'Type words, a "quoted phrase", or alternatives joined by OR (for example: privacy OR confidential).'
    if not _has_clauses(conn):
        return "The corpus has no segmented clauses yet (run policycorpus segment)."
    return f"No current clause contains {quoted(args['q'])}. Try fewer words, or alternatives joined by OR."


def _category_clauses_empty(conn, args: dict) -> str:
    category, problem = _category_problem(conn, args.get("category") or "")
    if problem or category is None:
        return problem or ""
    organization, problem = _organization_problem(conn, args.get("company") or "", required=False)
    if problem:
        return problem
    if not _has_tags(conn):
        return "No clause is tagged yet (run policycorpus tag)."
    if organization:
        return f"No current clause of {organization['name']} carries category {category['id']} ({category['name']})."
    return f"No current clause carries category {category['id']} ({category['name']})."


def _companies_lacking_empty(conn, args: dict) -> str:
    category, problem = _category_problem(conn, args.get("category") or "")
    if problem or category is None:
        return problem or ""
    if one(conn, "select 1 as x from policy_stats where current_clauses > 0 limit 1") is None:
        return "No organization has a segmented policy yet (run policycorpus segment and tag)."
    return f"Every organization with a segmented policy covers {category['id']} ({category['name']})."


def _unique_clauses_empty(conn, args: dict) -> str:
    organization, problem = _organization_problem(conn, args.get("company") or "")
    if problem or organization is None:
        return problem or ""
    if one(conn, "select 1 as x from current_segments where company_id = ? and kind = 'clause' limit 1",
           [organization["id"]]) is None:
        return f"{organization['name']} has no segmented policy (run policycorpus segment)."
    return (f"Every current clause of {organization['name']} is also in another organization's policy or in a "
            "template family spanning several organizations.")


def _compare_grid_empty(conn, args: dict) -> str:
    from publish.pages import join_split_names, split_names

    names = join_split_names(conn, split_names([args.get("companies") or ""]))
    if not names:
        return "Give organizations: names or slugs, separated by commas."
    return f"None of {', '.join(quoted(n, 40) for n in names[:10])} is an organization of this corpus."


def _template_families_empty(conn, args: dict) -> str:
    if one(conn, "select 1 as x from template_families limit 1") is None:
        return "No template families yet: run policycorpus templates on this corpus."
    raw = (args.get("min_companies") or "").strip() or "2"
    if not raw.isdigit():
        return f"min_companies must be a whole number ({quoted(raw)} is not)."
    widest = (one(conn, "select max(n_companies) as n from template_families "
                        "where run_id = (select max(run_id) from template_families)") or {}).get("n") or 0
    return f"No template family spans {raw} or more organizations (the widest spans {widest})."


def _snapshot_changes_empty(conn, args: dict) -> str:
    values = {k: (args.get(k) or "").strip() for k in ("document", "old_snapshot", "new_snapshot")}
    if not all(values.values()):
        return ("Give a document id and two of its snapshot ids (from Policies with several snapshots, or the "
                "policy's history page).")
    if not all(v.isdigit() for v in values.values()):
        return "document, old_snapshot and new_snapshot are numbers."
    document = one(conn, "select id from documents where id = ?", [int(values["document"])])
    if document is None:
        return f"No document {values['document']} in this corpus."
    for key in ("old_snapshot", "new_snapshot"):
        snapshot = one(conn, "select document_id from snapshots where id = ?", [int(values[key])])
        if snapshot is None:
            return f"No snapshot {values[key]} in this corpus."
        if snapshot["document_id"] != document["id"]:
            return (f"Snapshot {values[key]} is a version of document {snapshot['document_id']}, not of document "
                    f"{document['id']}: what changed only compares versions of one document.")
    return (f"No clause was added or removed between snapshots {values['old_snapshot']} and "
            f"{values['new_snapshot']} (the history page also shows modified and moved clauses).")


def _fixed(message: str) -> Callable:
    return lambda conn, args: message


EMPTY: dict[str, Callable[[sqlite3.Connection, dict], str]] = {
    "search_clauses": _search_empty,
    "search_policies": _search_empty,
    "category_clauses": _category_clauses_empty,
    "companies_lacking": _companies_lacking_empty,
    "unique_clauses": _unique_clauses_empty,
    "compare_grid": _compare_grid_empty,
    "template_families": _template_families_empty,
    "snapshot_changes": _snapshot_changes_empty,
    "policy_versions": _fixed("Every policy has one snapshot so far: versions appear when a crawl or an import finds "
                              "a changed text, or when policycorpus history backfills earlier ones."),
    "coverage_by_year": _fixed("No dated versions yet (crawl, import or backfill with policycorpus history)."),
    "restrictiveness": _fixed("No clause has a modality yet (run policycorpus tag)."),
    "policies": _fixed("No policy documents yet (run policycorpus crawl or import-docs)."),
    "coverage_by_category": _fixed("The categories table is empty (run policycorpus tag)."),
    "restrictiveness_by_industry": _fixed("No clause has a modality yet (run policycorpus tag)."),
    "restrictiveness_by_org_type": _fixed("No clause has a modality yet (run policycorpus tag)."),
}


def why_empty(conn: sqlite3.Connection, name: str, args: dict) -> str:
    """Why a canned query returned no rows, in one sentence."""
    explain = EMPTY.get(name)
    return explain(conn, args) if explain else "No rows match."


def search_total(conn: sqlite3.Connection, name: str, args: dict) -> int | None:
    """How many clauses (search_clauses) or policies (search_policies) match: the search pages stop at 100."""
    query = fts_query(args.get("q"))
    if name not in ("search_clauses", "search_policies") or query == NOTHING:
        return None
    counted = "count(*)" if name == "search_clauses" else "count(distinct cs.document_id)"
    # current_clauses: the clauses of counted documents (no duplicate copy, a language the tagger reads)
    return conn.execute(f"""select {counted} from clauses_fts join current_clauses cs
                            on cs.clause_id = clauses_fts.rowid
                            where clauses_fts match ?""", [query]).fetchone()[0]


def cut_notice(conn: sqlite3.Connection, name: str, args: dict, shown: int) -> dict | None:
    """When a search returned its limit and more rows match: {"text": a sentence, "search": the terms, for a link to
    every match in the clause table}; else None."""
    if shown < SEARCH_LIMIT:
        return None
    total = search_total(conn, name, args)
    if total is None or total <= shown:
        return None
    what = "clauses" if name == "search_clauses" else "policies"
    return {"text": f"Showing the {shown} best of {total:,} matching {what}. Add words or use a \"quoted phrase\" to "
                    "narrow the search, or",
            "search": args.get("q") or ""}
