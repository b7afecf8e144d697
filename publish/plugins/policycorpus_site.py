"""Datasette plugin of PolicyCorpus: policy, comparison and chart pages, highlighted search, linked cells.

Installed through the ``datasette`` entry point (pyproject.toml); it acts only on a
Datasette whose metadata configures the ``policycorpus`` plugin (publish.server.build_metadata).
Pages:
    /-/policy/<document_id>[?snapshot=<id>]   a policy's text, each clause tagged
    /-/compare?companies=A,B,C                the comparison grid of `policycorpus compare`
    /-/charts                                 coverage by category, restrictiveness by industry
Everything is read-only: pages only run SELECTs on read-only connections, under a
time limit (``page_time_limit_ms``, by default Datasette's ``sql_time_limit_ms``).
"""

from __future__ import annotations

import contextvars
import json
import re
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.utils import tilde_encode
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from publish import history_pages, pages
from publish.site_support import (  # noqa: F401 -- the page helpers, shared with publish/review_site.py
    PLUGIN,
    colour_of,
    config,
    database,
    message_page,
    page_time_limit_ms,
    parse_id,
    run_timed,
    site_config,
    template_context,
    too_slow_page,
)
from publish.summary import built_at

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.utils.asgi import Request
    from jinja2 import Environment

# An ASGI application: (scope, receive, send) -> None
ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]

# The _search of the request being rendered, so render_cell can mark the terms in table views.
CURRENT_SEARCH: contextvars.ContextVar[str] = contextvars.ContextVar("policycorpus_search", default="")
CATEGORY_CACHE_SECONDS = 30  # the categories table changes only when `policycorpus tag` syncs the taxonomy
TEXT_COLUMNS = {("current_clauses", "text"), ("clauses", "text")}
POLICY_LINK_TABLES = {None, "current_clauses"}  # canned queries have table None


async def policy_page(datasette: Datasette, request: Request) -> Response:
    raw_id = request.url_vars["document_id"]
    if re.fullmatch(r"[0-9a-f]{12}", raw_id):  # a document's stable key: the permanent link
        found = await run_timed(datasette, lambda conn: pages.document_id_of_key(conn, raw_id))
        raw_id = str(found) if found else raw_id
    document_id = parse_id(raw_id)
    snapshot = request.args.get("snapshot")
    snapshot_id = parse_id(snapshot)
    if document_id is None or (snapshot and snapshot_id is None):
        return await message_page(datasette, request, f"No policy document {raw_id[:40]} (or no such snapshot).",
                                  status=404)
    try:
        data = await run_timed(datasette, lambda conn: pages.policy_data(conn, document_id, snapshot_id))
    except QueryInterrupted:
        return await too_slow_page(datasette, request, f"Policy document {document_id}")
    if data is None:
        return await message_page(datasette, request, f"No policy document {document_id} (or no such snapshot).",
                                  status=404)
    return Response.html(
        await datasette.render_template("policy.html", template_context(datasette, **data), request=request)
    )


async def clause_page(datasette: Datasette, request: Request) -> Response:
    """A clause's permanent link (its stable key): the policy page of its current version, at the clause."""
    key = request.url_vars["key"]
    if not re.fullmatch(r"[0-9a-f]{16}", key):
        return await message_page(datasette, request, "No clause with that key.", status=404)
    try:
        found = await run_timed(datasette, lambda conn: pages.clause_location(conn, key))
    except QueryInterrupted:
        return await too_slow_page(datasette, request, "The clause")
    if found is None:
        return await message_page(datasette, request, f"No clause {key} in this corpus.", status=404)
    target = datasette.urls.path(f"/-/policy/{found['document_id']}")
    if not found["current"]:
        target += f"?snapshot={found['snapshot_id']}"
    return Response.redirect(f"{target}#clause-{found['clause_id']}")


async def compare_page(datasette: Datasette, request: Request) -> Response:
    whole, typed = request.args.getlist("company")[:100], request.args.getlist("companies")[:100]
    try:
        choices = await run_timed(datasette, pages.company_choices)
        names = await run_timed(datasette, lambda conn: pages.requested_names(conn, whole, typed))
    except QueryInterrupted:
        return await too_slow_page(datasette, request, "The list of companies")
    limit = int(site_config(datasette).get("max_compare_companies", 12))
    data: dict[str, Any] = {"names": names, "unknown": [], "comparison": None, "error": None, "documents": {},
                            "not_tagged": {}}
    max_clauses = int(site_config(datasette).get("max_compare_clauses", pages.MAX_COMPARE_CLAUSES))
    if len(names) > limit:
        data["error"] = f"Compare at most {limit} companies at a time ({len(names)} given)."
    elif names:
        try:
            data = await run_timed(datasette, lambda conn: pages.compare_data(conn, names, max_clauses=max_clauses))
        except QueryInterrupted:
            return await too_slow_page(datasette, request, "The comparison of " + ", ".join(names)[:200])
    status = 400 if (data["unknown"] or data["error"]) else 200
    context = template_context(datasette, choices=choices, max_companies=limit, **data)
    picked = {c["name"] for c in choices} & set(names)
    context.update(picked=picked, typed=[n for n in names if n not in picked],
                   grid_query="?" + urlencode({"companies": ", ".join(names)}) if names else "")
    return Response.html(await datasette.render_template("compare.html", context, request=request), status=status)


CHART_QUERIES = ("coverage_by_category", "restrictiveness_by_org_type", "restrictiveness_by_industry")


async def charts_page(datasette: Datasette, request: Request) -> Response:
    db_name = site_config(datasette)["database"]
    db = database(datasette)
    charts: dict[str, list[dict]] = {}
    errors: list[str] = []
    for name in CHART_QUERIES:
        query = await datasette.get_canned_query(db_name, name, request.actor)
        try:
            result = await db.execute(query["sql"])
        except QueryInterrupted:
            errors.append(f"{query['title']} took longer than the SQL time limit.")
            charts[name] = []
            continue
        charts[name] = [dict(r) for r in result.rows]
    coverage = pages.bar_rows(charts["coverage_by_category"], "name", "share",
                              colour=lambda r: colour_of(datasette, r["group"]), n="of_companies", k="companies")
    by_type = pages.bar_rows(charts["restrictiveness_by_org_type"], "org_type", "mean_restrictiveness",
                             low="lowest", high="highest", n="organizations")
    industry = pages.bar_rows(charts["restrictiveness_by_industry"], "industry", "mean_restrictiveness",
                              low="lowest", high="highest", n="companies")
    summaries_built_at = await db.execute_fn(built_at)
    context = template_context(
        datasette, coverage=coverage, by_type=by_type, industry=industry, errors=errors,
        coverage_n=charts["coverage_by_category"][0]["of_companies"] if charts["coverage_by_category"] else 0,
        show_by_type=pages.has_values(charts["restrictiveness_by_org_type"], "org_type"),
        show_industry=pages.has_values(charts["restrictiveness_by_industry"], "industry"),
        summaries_built_at=summaries_built_at)
    return Response.html(await datasette.render_template("charts.html", context, request=request))


@hookimpl
def register_routes(datasette: Datasette) -> list[tuple[str, Callable]]:
    if config(datasette) is None:  # another Datasette in the same environment
        return []
    from publish import review_site

    extra: list[tuple[str, Callable]] = []
    if review_site.review_mode(datasette):
        extra += [(r"^/-/review$", review_site.queue_page), (r"^/-/review/decide$", review_site.decide)]
    if review_site.store_path(datasette) is not None:
        extra.append((r"^/-/agreement$", review_site.agreement_page))
    return extra + [
        (r"^/-/policy/(?P<document_id>[^/]+)$", policy_page),
        (r"^/-/clause/(?P<key>[^/]+)$", clause_page),
        (r"^/-/compare$", compare_page),
        (r"^/-/charts$", charts_page),
        *history_pages.routes(sys.modules[__name__]),
    ]


@hookimpl
def menu_links(datasette: Datasette) -> list[dict[str, str]]:
    if config(datasette) is None:
        return []
    from publish import review_site

    links = [
        {"href": datasette.urls.path("/-/compare"), "label": "Compare companies"},
        {"href": datasette.urls.path("/-/charts"), "label": "Charts"},
    ]
    if review_site.review_mode(datasette):
        links.append({"href": datasette.urls.path("/-/review"), "label": "Review queue"})
    if review_site.store_path(datasette) is not None:
        links.append({"href": datasette.urls.path("/-/agreement"), "label": "Agreement"})
    return links


@hookimpl(trylast=True)  # after Datasette's own escape_fts, which this replaces on the corpus's connections
def prepare_connection(conn: sqlite3.Connection, datasette: Datasette) -> None:
    from publish.search import fts_query

    conn.create_function("fts_query", 1, fts_query, deterministic=True)
    if config(datasette) is not None:
        # Table search boxes (?_search=) pass what was typed through escape_fts: ours keeps "phrases" and OR too.
        conn.create_function("escape_fts", 1, fts_query, deterministic=True)


@hookimpl
def extra_template_vars(template: str, database: str | None, view_name: str, request: Request | None,
                        datasette: Datasette) -> dict[str, Any]:
    """On a canned query's page: the choices of its parameters, why its result is empty, whether it was cut."""
    cfg = config(datasette)
    if cfg is None or request is None or database != cfg["database"]:
        return {}
    if template.startswith("table"):  # _table-corpus-current_clauses.html shows the modality as on policy pages
        return {"pc_modality_labels": cfg.get("modality_labels") or {}}
    if not template.startswith("query"):
        return {}
    from datasette.utils import tilde_decode

    from publish import canned

    name = tilde_decode(request.url_vars.get("table") or "")
    args = {key: request.args.get(key) or "" for key in request.args}

    async def why_empty() -> str:
        try:
            return await run_timed(datasette, lambda conn: canned.why_empty(conn, name, args))
        except QueryInterrupted:
            return "The query found nothing (its explanation took longer than the time limit)."

    async def cut_notice(shown: int) -> dict | None:
        try:
            return await run_timed(datasette, lambda conn: canned.cut_notice(conn, name, args, shown))
        except QueryInterrupted:
            return None

    async def choices(kind: str) -> list[dict]:
        source = {"categories": canned.category_choices, "organizations": canned.organization_choices}.get(kind)
        return await run_timed(datasette, source) if source else []

    return {"pc_why_empty": why_empty, "pc_cut_notice": cut_notice, "pc_choices": choices}


@hookimpl
def prepare_jinja2_environment(env: Environment) -> None:
    env.filters["safe_url"] = pages.safe_url


# ---------------------------------------------------------------- cells


READ_METHODS = {"GET", "HEAD", "OPTIONS"}


@hookimpl
def asgi_wrapper(datasette: Datasette) -> Callable[[ASGIApp], ASGIApp]:
    """Refuse every method but GET/HEAD/OPTIONS (no writable endpoint but, in review mode, the review form's
    POST: publish/review_site.py) and remember the request's _search."""
    from publish import review_site

    def wrap(app: ASGIApp) -> ASGIApp:
        async def with_search(scope: dict, receive: Callable, send: Callable) -> None:
            token = None
            if scope.get("type") == "http" and config(datasette) is not None:
                if scope.get("method", "GET").upper() not in READ_METHODS:
                    refusal = review_site.may_post(datasette, scope) if scope.get("method") == "POST" else "read-only"
                    if refusal:
                        status = 403 if scope.get("path") == datasette.urls.path(review_site.DECIDE_PATH) else 405
                        await Response.text(refusal if status == 403 else "This PolicyCorpus site is read-only.",
                                            status=status, headers={"Allow": "GET, HEAD, OPTIONS"}).asgi_send(send)
                        return
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                kept = shown_sort_column(scope.get("query_string", b""))
                if kept is not None:  # Datasette fails (500) on a page sorted by a column it is told to hide
                    await Response.redirect(scope.get("root_path", "") + scope["path"] + "?" + kept).asgi_send(send)
                    return
                token = CURRENT_SEARCH.set((query.get("_search") or [""])[0])
            try:
                await app(scope, receive, send)
            finally:
                if token is not None:
                    CURRENT_SEARCH.reset(token)

        return with_search

    return wrap


def shown_sort_column(query_string: bytes) -> str | None:
    """The query string without the _nocol values that hide the column the page is sorted by, if it has any
    ("Hide this column" on a sorted column); None when nothing needs to change."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    sorted_by = {v for k, v in pairs if k in ("_sort", "_sort_desc")}
    if not sorted_by or not any(k == "_nocol" and v in sorted_by for k, v in pairs):
        return None
    return urlencode([(k, v) for k, v in pairs if not (k == "_nocol" and v in sorted_by)])


URL_SHOWN = 60


def short_url(url: str) -> str:
    """A long URL shown in a table cell: its host and the end of its path (the link keeps it whole)."""
    parts = urlsplit(url.strip())
    tail = parts.path.rstrip("/").rsplit("/", 1)[-1]
    return f"{parts.netloc}/…/{tail}"[:URL_SHOWN] if tail else (parts.netloc + parts.path)[:URL_SHOWN]


def marked(pieces: Iterable[tuple[str, bool]]) -> Markup:
    return Markup("").join(Markup("<mark>{}</mark>").format(p) if hit else escape(p) for p, hit in pieces)


async def category_groups(datasette: Datasette) -> dict[str, tuple[str, str]]:
    """category id -> (name, group), read again at most every CATEGORY_CACHE_SECONDS (the file may change)."""
    cached = getattr(datasette, "_policycorpus_categories", None)
    if cached is None or time.monotonic() - cached[0] > CATEGORY_CACHE_SECONDS:
        result = await database(datasette).execute("select id, name, group_name from categories")
        cached = (time.monotonic(), {r["id"]: (r["name"] or r["id"], r["group_name"]) for r in result.rows})
        datasette._policycorpus_categories = cached
    return cached[1]


def category_chips(datasette: Datasette, ids: list, known: dict) -> Markup:
    db_path = datasette.urls.database(site_config(datasette)["database"])
    chips = []
    for cid in ids:
        name, group = known.get(cid, (cid, None))
        href = f"{db_path}/category_clauses?" + urlencode({"category": cid})
        chips.append(
            Markup('<a class="pc-chip" style="--pc-colour: {}" href="{}" title="{}">{}</a>').format(
                colour_of(datasette, group), href, group or "", name
            )
        )
    return Markup(" ").join(chips)


@hookimpl
def render_cell(row: sqlite3.Row, value: Any, column: str, table: str | None, database: str,
                datasette: Datasette) -> Markup | Callable[[], Awaitable[Markup]] | None:
    cfg = config(datasette)
    if cfg is None or database != cfg["database"] or not isinstance(value, (str, int)):
        return None
    if isinstance(value, str) and value.startswith("file:"):  # a local path is never shown (file_name says which)
        return Markup('<span class="pc-local" title="imported from a local file">local file</span>')
    if isinstance(value, str) and column == "url" and pages.safe_url(value) and len(value) > URL_SHOWN:
        return Markup('<a href="{}" title="{}">{}</a>').format(value.strip(), value, short_url(value))
    if isinstance(value, str) and column in ("highlighted", "heading") and table is None:
        return marked(pages.highlight_markers(value))
    if isinstance(value, str) and (table, column) in TEXT_COLUMNS and CURRENT_SEARCH.get():
        return marked(pages.mark_terms(value, pages.search_terms(CURRENT_SEARCH.get())))
    if column == "document_id" and table in POLICY_LINK_TABLES and isinstance(value, int):
        return Markup('<a href="{}">{}</a>').format(datasette.urls.path(f"/-/policy/{value}"), value)
    if column == "snapshot_id" and table in POLICY_LINK_TABLES and isinstance(value, int):
        href = datasette.urls.row(cfg["database"], "snapshots", tilde_encode(str(value)))
        return Markup('<a href="{}">{}</a>').format(href, value)
    if column == "what_changed" and table is None and isinstance(value, int) and "snapshot_id" in row.keys():
        href = datasette.urls.database(cfg["database"]) + "/snapshot_changes?" + urlencode(
            {"document": row["document_id"], "old_snapshot": value, "new_snapshot": row["snapshot_id"]}
            if "document_id" in row.keys() else {"old_snapshot": value, "new_snapshot": row["snapshot_id"]})
        return Markup('<a href="{}">since #{}</a>').format(href, value)
    if column == "categories" and isinstance(value, str) and value.startswith("["):
        try:
            ids = json.loads(value)
        except ValueError:
            return None

        async def chips() -> Markup:
            return category_chips(datasette, ids, await category_groups(datasette))

        return chips
    return None
