"""Policies over time in Datasette: a policy's history page and Atom feeds of changes.

    /-/policy/<document_id or key>/history[?old=<snapshot>&new=<snapshot>]   timeline + clause-by-clause diff
    /-/changes.atom[?company=<name or slug>]                                 feed of new versions

The data come from analysis.history (the same alignment as the library), on Datasette's read-only connection
under the plugin's page time limit.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from types import ModuleType
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape as xml_escape

from datasette.database import QueryInterrupted
from datasette.utils.asgi import Response

from analysis.history import diff_snapshots, timeline, version_changes
from publish import pages

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.utils.asgi import Request

FEED_ENTRIES = 50


def history_data(conn: sqlite3.Connection, document_id: int, old_id: int | None, new_id: int | None) -> dict | None:
    document = pages.one(conn, "select d.*, co.name as company, co.slug as company_slug from documents d "
                               "join companies co on co.id = d.company_id where d.id = ?", [document_id])
    if document is None:
        return None
    versions = timeline(conn, document_id)
    known = {r[0] for r in conn.execute("select id from snapshots where document_id = ?", [document_id])}
    changes_by_new = {(c["old_snapshot_id"], c["new_snapshot_id"]): c for c in version_changes(conn, document_id)}
    distinct: list[dict] = []
    for v in versions:
        if not distinct or distinct[-1]["snapshot_id"] != v["snapshot_id"]:
            prev = distinct[-1]["snapshot_id"] if distinct else None
            distinct.append({**v, "change": changes_by_new.get((prev, v["snapshot_id"])), "previous_id": prev,
                             "capture_href": pages.safe_url(v["capture_url"])})
    if new_id is None:
        new_id = document["latest_snapshot_id"]
    if old_id is None:
        ids = [v["snapshot_id"] for v in distinct]
        old_id = ids[ids.index(new_id) - 1] if new_id in ids and ids.index(new_id) > 0 else None
    if new_id not in known or (old_id is not None and old_id not in known):
        return None
    diff, summary = (diff_snapshots(conn, old_id, new_id) if old_id is not None else ([], None))
    snapshots = {r["id"]: r for r in pages.rows(conn, "select id, fetched_at, source, title from snapshots "
                                                      "where document_id = ? order by fetched_at, id", [document_id])}
    return {"document": document, "versions": distinct, "old_id": old_id, "new_id": new_id, "diff": diff,
            "summary": summary, "snapshots": list(snapshots.values()), "source_url": pages.safe_url(document["url"])}


def feed_entries(conn: sqlite3.Connection, company: str | None) -> tuple[list[dict], str | None]:
    where, params = "", []
    name = None
    if company:
        row = pages.one(conn, "select id, name from companies where lower(name) = lower(?) or slug = lower(?)",
                        [company, company])
        if row is None:
            return [], None
        where, params, name = "where d.company_id = ?", [row["id"]], row["name"]
    rows = pages.rows(conn, f"""
        select v.id, v.since, v.source, v.snapshot_id, d.id as document_id, d.key, d.title, co.name as company,
               (select v2.snapshot_id from document_versions v2 where v2.document_id = v.document_id
                 and (v2.since < v.since or (v2.since = v.since and v2.id < v.id))
                 order by v2.since desc, v2.id desc limit 1) as previous_id
        from document_versions v join documents d on d.id = v.document_id join companies co on co.id = d.company_id
        {where} order by v.since desc, v.id desc limit {FEED_ENTRIES}""", params)
    for r in rows:
        if r["previous_id"] and r["previous_id"] != r["snapshot_id"]:
            _, summary = diff_snapshots(conn, r["previous_id"], r["snapshot_id"])
            r["summary"] = summary
        else:
            r["summary"] = None
    return rows, name or ""


def atom(entries: list[dict], *, title: str, self_url: str, base: str) -> str:
    updated = entries[0]["since"] if entries else datetime.now(timezone.utc).isoformat(timespec="seconds")
    out = ['<?xml version="1.0" encoding="utf-8"?>', '<feed xmlns="http://www.w3.org/2005/Atom">',
           f"<title>{xml_escape(title)}</title>", f'<link rel="self" href="{xml_escape(self_url)}"/>',
           f"<id>{xml_escape(self_url)}</id>", f"<updated>{xml_escape(updated)}</updated>",
           "<author><name>PolicyCorpus</name></author>"]
    for e in entries:
        href = f"{base}/-/policy/{e['key'] or e['document_id']}/history?new={e['snapshot_id']}"
        if e["previous_id"]:
            href += f"&old={e['previous_id']}"
        s = e["summary"]
        if s:
            text = (f"{s.counts['added']} clauses added, {s.counts['removed']} removed, {s.counts['modified']} "
                    f"modified, {s.counts['moved']} moved")
            if s.categories_added:
                text += "; categories added: " + ", ".join(s.categories_added)
            if s.categories_removed:
                text += "; categories removed: " + ", ".join(s.categories_removed)
        else:
            text = "first version" if not e["previous_id"] else "returned to an earlier text"
        out += ["<entry>", f"<title>{xml_escape(e['company'])}: {xml_escape(e['title'] or 'policy')} "
                           f"({xml_escape(e['since'][:10])}, {xml_escape(e['source'] or '')})</title>",
                f'<link href="{xml_escape(href)}"/>',
                f"<id>tag:policycorpus,{xml_escape(str(e['key'] or e['document_id']))}:{e['id']}</id>",
                f"<updated>{xml_escape(e['since'])}</updated>", f"<summary>{xml_escape(text)}</summary>", "</entry>"]
    out.append("</feed>")
    return "\n".join(out)


async def history_page(site: ModuleType, datasette: Datasette, request: Request) -> Response:
    message_page, parse_id, run_timed = site.message_page, site.parse_id, site.run_timed
    raw_id = request.url_vars["document_id"]
    if re.fullmatch(r"[0-9a-f]{12}", raw_id):
        found = await run_timed(datasette, lambda conn: pages.document_id_of_key(conn, raw_id))
        raw_id = str(found) if found else raw_id
    document_id = parse_id(raw_id)
    old, new = request.args.get("old"), request.args.get("new")
    old_id, new_id = parse_id(old), parse_id(new)
    if document_id is None or (old and old_id is None) or (new and new_id is None):
        return await message_page(datasette, request, f"No policy document {raw_id[:40]} (or no such version).",
                                  status=404)
    try:
        data = await run_timed(datasette, lambda conn: history_data(conn, document_id, old_id, new_id))
    except QueryInterrupted:
        return await site.too_slow_page(datasette, request, f"History of policy document {document_id}")
    if data is None:
        return await message_page(datasette, request, f"No policy document {document_id} (or those versions are "
                                                      "not of this document).", status=404)
    html = await datasette.render_template("policy_history.html", site.template_context(datasette, **data),
                                           request=request)
    return Response.html(html)


async def changes_feed(site: ModuleType, datasette: Datasette, request: Request) -> Response:
    company = (request.args.get("company") or "").strip()[:200] or None
    entries, name = await site.run_timed(datasette, lambda conn: feed_entries(conn, company))
    if name is None:
        return Response.text(f"No organization {(company or '')[:80]}", status=404)
    base = datasette.absolute_url(request, "").rstrip("/")
    title = f"Policy changes: {name}" if name else "Policy changes in the corpus"
    body = atom(entries, title=title, self_url=str(request.url), base=base)
    return Response(body, content_type="application/atom+xml; charset=utf-8")


def routes(site: ModuleType) -> list[tuple[str, Callable]]:
    """The routes, given the plugin module (its run_timed, message_page, template_context ...), which
    registers them; taking it as an argument keeps the two modules out of an import circle."""

    async def history(datasette: Datasette, request: Request) -> Response:
        return await history_page(site, datasette, request)

    async def feed(datasette: Datasette, request: Request) -> Response:
        return await changes_feed(site, datasette, request)

    return [(r"^/-/policy/(?P<document_id>[^/]+)/history$", history), (r"^/-/changes\.atom$", feed)]
