"""The review pages of `policycorpus serve --review --reviewer NAME` and the agreement page.

Routes (added by the policycorpus_site plugin):
    /-/review?companies=A,B,C[&q=...][&clause=KEY]   the queue (review mode only)
    /-/review/decide                                 POST one decision (review mode only)
    /-/agreement                                     the inter-coder agreement table (when a review store exists)

A POST is accepted only when the site runs in review mode with a named reviewer, carries Datasette's CSRF cookie
and its matching form token (asgi-csrf checks the pair; ``csrf_problem`` refuses what asgi-csrf would let
through: no cookie at all, or an Authorization header), and it writes only to the review store: the corpus
connections stay read-only.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlencode

from datasette.utils.asgi import Response

from policycorpus import reviews as rv
from policycorpus.errors import PolicyCorpusError
from publish import pages, review_pages
from taxonomy.taxonomy import MODALITIES

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.utils.asgi import Request

T = TypeVar("T")

PLUGIN = "policycorpus"
DECIDE_PATH = "/-/review/decide"
MODALITY_KEYS = tuple(zip(MODALITIES, "pormi", strict=True))  # (modality, its keyboard key)
MAX_FORM_BYTES = 20_000


def settings(datasette: Datasette) -> dict:
    return datasette.plugin_config(PLUGIN) or {}


def review_mode(datasette: Datasette) -> bool:
    return bool(settings(datasette).get("review"))


def reviewer(datasette: Datasette) -> str | None:
    name = (settings(datasette).get("reviewer") or "").strip()
    return name or None


def store_path(datasette: Datasette) -> Path | None:
    path = settings(datasette).get("reviews")
    return Path(path) if path else None


def csrf_problem(scope: dict) -> str | None:
    """Why a POST must be refused before asgi-csrf sees it (asgi-csrf lets these through unchecked)."""
    headers = {k.lower(): v for k, v in scope.get("headers") or []}
    if b"authorization" in headers:
        return "an Authorization header is not accepted here"
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed Cookie header
        return "no CSRF cookie"
    if "ds_csrftoken" not in cookie or not cookie["ds_csrftoken"].value:
        return "no CSRF cookie (open the review page first)"
    return None


def may_post(datasette: Datasette, scope: dict) -> str | None:
    """None when this POST may go on to asgi-csrf and the handler; else why not."""
    if scope.get("path") != datasette.urls.path(DECIDE_PATH):
        return "This PolicyCorpus site is read-only."
    if not review_mode(datasette):
        return "This PolicyCorpus site is read-only (start it with serve --review --reviewer NAME to review)."
    if not reviewer(datasette):
        return "Review mode needs a named reviewer (serve --review --reviewer NAME)."
    return csrf_problem(scope)


def attach_to(conn: sqlite3.Connection, database: str, datasette: Datasette) -> None:
    """Attach the review store and its overlay to one of Datasette's connections (before the SQL guard)."""
    if database != settings(datasette).get("database"):
        return
    path = store_path(datasette)
    if path is not None and path.exists():
        rv.attach(conn, path, read_only=True)
        from publish.summary import overlay_summary_views

        overlay_summary_views(conn)


def safe_next(datasette: Datasette, value: str | None) -> str:
    base = datasette.urls.path("/-/review")
    if value and value.startswith(base) and "\n" not in value and "\r" not in value and len(value) < 2000:
        return value
    return base


async def queue_page(datasette: Datasette, request: Request) -> Response:
    from publish.site_support import message_page, run_timed, template_context

    if not review_mode(datasette) or store_path(datasette) is None:
        return await message_page(datasette, request, "This site is not in review mode.", status=404)
    names = (await run_timed(datasette, lambda conn: pages.requested_names(
        conn, request.args.getlist("company")[:20], request.args.getlist("companies")[:20])))[:20]
    query = (request.args.get("q") or "")[:200]
    clause = request.args.get("clause")
    if clause and not (len(clause) == 16 and all(ch in "0123456789abcdef" for ch in clause)):
        clause = None
    thresholds = review_pages.clause_thresholds(settings(datasette).get("model"))
    sample_n, seed = _int_arg(request, "sample", 1, review_pages.MAX_SAMPLE), _int_arg(request, "seed", 0, 10**9)
    if sample_n:
        data = await run_timed(datasette, lambda conn: review_pages.sample_queue_data(
            conn, sample_n, 1 if seed is None else seed, reviewer(datasette), clause_key=clause, thresholds=thresholds))
        params: dict[str, int | str] = {"sample": sample_n, "seed": 1 if seed is None else seed}
    else:
        data = await run_timed(datasette, lambda conn: review_pages.queue_data(
            conn, names, query=query, clause_key=clause, thresholds=thresholds))
        params = {"companies": ",".join(data["names"])} if data["names"] else {}
    next_url = datasette.urls.path("/-/review") + ("?" + urlencode(params) if params else "")
    context = template_context(datasette, reviewer=reviewer(datasette), next_url=next_url,
                               modality_keys=MODALITY_KEYS, **data)
    return Response.html(await datasette.render_template("review.html", context, request=request))


def _int_arg(request: Request, name: str, low: int, high: int) -> int | None:
    """A whole-number query argument within [low, high], else None (untrusted input)."""
    value = (request.args.get(name) or "").strip()
    if not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if low <= number <= high else None


async def decide(datasette: Datasette, request: Request) -> Response:
    """Record one decision in the review store; 303 back to the queue."""
    problem = may_post(datasette, request.scope)
    if problem:
        return Response.text(problem, status=403)
    body = await request.post_body()
    if len(body) > MAX_FORM_BYTES:
        return Response.text("form too large", status=413)
    from urllib.parse import parse_qsl

    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if not form.get("csrftoken"):
        return Response.text("no CSRF token", status=403)
    name, path = reviewer(datasette), store_path(datasette)
    if name is None or path is None:  # may_post checked the reviewer; serve --review names the store
        return Response.text("review mode needs a reviewer and a review store", status=403)
    action = form.get("action", "")

    def build(conn: sqlite3.Connection) -> list[rv.Decision]:
        if action == "check":
            made = [rv.cell_decision(conn, form.get("document_key", ""), form.get("category", ""),
                                     form.get("value", ""), name)]
        elif action in rv.TAG_ACTIONS:
            made = [rv.clause_decision(conn, form.get("clause_key", ""), name, action, category=form.get("category"))]
            # Confirming or adding the flagged cell's category on its evidence checks the cell as covered.
            if action in ("confirm", "add") and form.get("cell_category") == form.get("category") \
                    and form.get("cell_document_key"):
                made.append(rv.cell_decision(conn, form["cell_document_key"], form["cell_category"], "covered", name))
        elif action == "accept":
            made = [rv.clause_decision(conn, form.get("clause_key", ""), name, "accept")]
        elif action in ("modality", "note"):
            made = [rv.clause_decision(conn, form.get("clause_key", ""), name, action,
                                       value=form.get("value") if action == "modality" else None,
                                       note=form.get("note") if action == "note" else None)]
        else:
            raise rv.InputError(f"unknown action {action[:40]!r}")
        known = {r[0] for r in conn.execute("select id from categories")}
        for d in made:
            if d.category and known and d.category not in known:
                raise rv.InputError(f"unknown category {d.category[:40]!r}")
            d.check()
        return made

    try:
        made = await pages_execute(datasette, build)
        await asyncio.to_thread(_write, path, made)
    except PolicyCorpusError as exc:
        return Response.text(str(exc), status=400)
    return Response.redirect(safe_next(datasette, form.get("next")), status=303)


async def pages_execute(datasette: Datasette, fn: Callable[[sqlite3.Connection], T]) -> T:
    from publish.site_support import database

    return await database(datasette).execute_fn(fn)


def _write(path: Path, made: list) -> None:
    store = rv.open_store(path)
    try:
        rv.record(store, made)
    finally:
        store.close()


async def agreement_page(datasette: Datasette, request: Request) -> Response:
    from policycorpus.agreement import agreement_table, model_tags_of
    from publish.site_support import message_page, run_timed, template_context

    path = store_path(datasette)
    if path is None or not path.exists():
        return await message_page(datasette, request, "No review store is served with this corpus.", status=404)
    names = pages.split_names(request.args.getlist("reviewers"))[:10] or None

    def compute(conn: sqlite3.Connection):
        keys = [r[0] for r in conn.execute("select distinct clause_key from reviews.decisions "
                                           "where clause_key is not null")]
        return agreement_table(conn, model_tags_of(conn, keys), names)

    table = await run_timed(datasette, compute)
    context = template_context(datasette, table=table)
    return Response.html(await datasette.render_template("agreement.html", context, request=request))
