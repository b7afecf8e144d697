"""Helpers every page of the site shares (the policycorpus_site plugin's pages and the review pages): its
settings, the corpus database, the template context, time-limited SQL and error pages."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from datasette.database import QueryInterrupted
from datasette.utils import sqlite_timelimit
from datasette.utils.asgi import Response

from taxonomy.taxonomy import MODALITIES

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.database import Database
    from datasette.utils.asgi import Request

T = TypeVar("T")

PLUGIN = "policycorpus"
MAX_ROWID = 2**63 - 1


def config(datasette: Datasette) -> dict | None:
    return datasette.plugin_config(PLUGIN)


def site_config(datasette: Datasette) -> dict:
    """The plugin's configuration on a PolicyCorpus site (the hooks step aside on any other Datasette)."""
    cfg = config(datasette)
    if cfg is None:
        raise LookupError(f"not a PolicyCorpus site: no {PLUGIN!r} plugin configuration")
    return cfg


def database(datasette: Datasette) -> Database:
    return datasette.get_database(site_config(datasette)["database"])


def colour_of(datasette: Datasette, group: str | None) -> str:
    cfg = config(datasette) or {}
    return (cfg.get("group_colours") or {}).get(group or "", cfg.get("other_colour", "#7f7f7f"))


def template_context(datasette: Datasette, **extra: Any) -> dict:
    cfg = site_config(datasette)
    db_name = cfg["database"]
    context = {
        "db_name": db_name,
        "db_path": datasette.urls.database(db_name),
        "group_colours": cfg.get("group_colours") or {},
        "other_colour": cfg.get("other_colour", "#7f7f7f"),
        "modality_labels": cfg.get("modality_labels") or {},
        "modalities": MODALITIES,
        "site_title": cfg.get("site_title") or "PolicyCorpus",
        "corpus_citation": cfg.get("citation"),
    }
    context.update(extra)
    return context


def parse_id(value: str | None) -> int | None:
    """A positive SQLite rowid from a URL part or parameter, or None (out of range, not a number)."""
    if not value or not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ROWID else None


def page_time_limit_ms(datasette: Datasette) -> int:
    return int((config(datasette) or {}).get("page_time_limit_ms") or datasette.setting("sql_time_limit_ms"))


async def run_timed(datasette: Datasette, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run fn(conn) in Datasette's SQL threads with the page time limit on its SQL; QueryInterrupted if exceeded."""

    def timed(conn: sqlite3.Connection) -> T:
        with sqlite_timelimit(conn, page_time_limit_ms(datasette)):
            try:
                return fn(conn)
            except sqlite3.OperationalError as exc:
                if exc.args == ("interrupted",):
                    raise QueryInterrupted(exc, "", None) from None
                raise

    return await database(datasette).execute_fn(timed)


async def message_page(datasette: Datasette, request: Request, message: str, *, status: int,
                       heading: str = "Not found") -> Response:
    context = template_context(datasette, message=message, heading=heading)
    return Response.html(await datasette.render_template("policycorpus_error.html", context, request=request),
                         status=status)


async def too_slow_page(datasette: Datasette, request: Request, what: str) -> Response:
    seconds = page_time_limit_ms(datasette) / 1000
    return await message_page(datasette, request, f"{what} took longer than the time limit ({seconds:g} s).",
                              status=503, heading="Too slow")
