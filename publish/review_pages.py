"""Data behind the review pages of `policycorpus serve --review`: the queue, one clause in context, progress.

Every function takes a corpus connection on which ``policycorpus.reviews.attach`` created the overlay (the
Datasette connections get it in the sql_guard plugin's ``prepare_connection``), so it reads reviewed data.
The queue, in order:
1. the uncertain grid cells of the chosen companies (the model said "check"), not yet checked by a reviewer;
2. clauses without a decision in force, those whose category scores sit nearest the category's clause
   threshold first (active-learning order);
3. any clause by search (``q``).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from policycorpus.reviews import coded_by, sample, text_hash
from publish.pages import one, resolve_companies, rows, safe_url

DEFAULT_THRESHOLD = 0.5
MAX_CANDIDATES = 50_000  # clauses scanned for the active-learning order
MAX_SEARCH = 30
MAX_SAMPLE = 5000  # clauses in a double-coding sample queue
NEIGHBOURS = 2


def clause_thresholds(model_path: str | Path | None = None) -> dict[str, float]:
    """The model's per-category clause thresholds (MODEL.thresholds.json), or {} (then 0.5 is used)."""
    try:
        from taxonomy.pipeline import model_path as default_model_path

        path = Path(model_path) if model_path else default_model_path(None)
        data = json.loads(path.with_name(path.stem + ".thresholds.json").read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in (data.get("clause_thresholds") or {}).items()}
    except (ImportError, OSError, ValueError, TypeError, AttributeError):
        return {}


def flagged_cells(conn: sqlite3.Connection, company_ids: list[int]) -> list[dict]:
    if not company_ids:
        return []
    marks = ", ".join("?" * len(company_ids))
    return rows(conn, f"""select document_id, document_key, company, policy, category, group_name, model_state, state,
                               source, reviewer, score, evidence_clause_key
                        from current_cells where company_id in ({marks}) and model_state = 'uncertain'
                        order by company, document_id, category""", company_ids)


def reviewed_keys(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    """(clause key, text hash) of every clause with a decision."""
    return {(k, h) for k, h in conn.execute(
        "select distinct clause_key, text_hash from reviews.decisions where clause_key is not null")}


def uncertainty(scores: dict, thresholds: dict[str, float]) -> float:
    """How near a clause's nearest category score is to its threshold (0 = on it)."""
    distances = [abs(float(p) - thresholds.get(c, DEFAULT_THRESHOLD)) for c, p in scores.items()
                 if isinstance(p, (int, float))]
    return min(distances) if distances else 1.0


def active_learning(conn: sqlite3.Connection, company_ids: list[int], thresholds: dict[str, float],
                    limit: int = 20) -> list[dict]:
    """Unreviewed current clauses, nearest a threshold first."""
    where, args = "", []
    if company_ids:
        where = f"where cc.company_id in ({', '.join('?' * len(company_ids))})"
        args = list(company_ids)
    done = reviewed_keys(conn)
    found = []
    for row in rows(conn, f"""select cc.clause_key, cc.company, cc.text, cl.scores from current_clauses cc
                             join clauses cl on cl.id = cc.clause_id {where} limit {MAX_CANDIDATES}""", args):
        if (row["clause_key"], text_hash(row["text"])) in done:
            continue
        try:
            scores = json.loads(row["scores"] or "{}")
        except ValueError:
            scores = {}
        row["uncertainty"] = uncertainty(scores if isinstance(scores, dict) else {}, thresholds)
        found.append(row)
    found.sort(key=lambda r: (r["uncertainty"], r["clause_key"]))
    return found[:limit]


def search(conn: sqlite3.Connection, query: str, company_ids: list[int]) -> list[dict]:
    query = query.strip()[:200]
    if not query:
        return []
    where = "where cc.text like ? escape '\\'"
    args: list[str | int] = ["%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"]
    if company_ids:
        where += f" and cc.company_id in ({', '.join('?' * len(company_ids))})"
        args += company_ids
    return rows(conn, f"select cc.clause_key, cc.company, cc.text from current_clauses cc {where} "
                      f"order by cc.company, cc.position limit {MAX_SEARCH}", args)


def clause_context(conn: sqlite3.Connection, clause_key: str, thresholds: dict[str, float]) -> dict | None:
    """A current clause with its heading path, lead-in, neighbours, document, tags (with source), scores, modality."""
    clause = one(conn, """select cs.clause_id, cs.clause_key, cs.snapshot_id, cs.document_id, cs.position, cs.heading_path,
                                 cs.lead_in, cs.text, cs.modality, cs.modality_score, cs.model_version,
                                 d.key as document_key, d.url, d.title, co.name as company, cl.scores
                          from current_segments cs join documents d on d.id = cs.document_id
                          join companies co on co.id = cs.company_id join clauses cl on cl.id = cs.clause_id
                          where cs.clause_key = ? and cs.kind = 'clause' limit 1""", [clause_key])
    if clause is None:
        return None
    clause["source_url"] = safe_url(clause.pop("url"))
    neighbours = rows(conn, """select position, kind, text from current_segments
                               where snapshot_id = ? and position between ? and ? and position != ?
                               order by position""",
                      [clause["snapshot_id"], clause["position"] - NEIGHBOURS, clause["position"] + NEIGHBOURS,
                       clause["position"]])
    clause["before"] = [n for n in neighbours if n["position"] < clause["position"]]
    clause["after"] = [n for n in neighbours if n["position"] > clause["position"]]
    try:
        scores = json.loads(clause.pop("scores") or "{}")
    except ValueError:
        scores = {}
    tags = {r["category"]: r for r in rows(conn, "select category, score, source from effective_tags "
                                                 "where clause_id = ?", [clause["clause_id"]])}
    categories = rows(conn, "select id, name, group_name from categories order by group_order, position, id")
    for cat in categories:
        tag = tags.get(cat["id"])
        cat["tagged"] = tag is not None
        cat["source"] = tag["source"] if tag else None
        cat["score"] = scores.get(cat["id"]) if isinstance(scores, dict) else None
        cat["threshold"] = thresholds.get(cat["id"], DEFAULT_THRESHOLD)
    clause["categories"] = categories
    clause["proposed"] = [c for c in categories if c["tagged"]]
    history = rows(conn, """select reviewer, at, action, category, value, text_hash = ? as current
                            from reviews.decisions where clause_key = ? order by id desc limit 20""",
                   [text_hash(clause["text"]), clause_key])
    clause["history"] = history
    clause["stale"] = any(not h["current"] for h in history) and not any(h["current"] for h in history)
    return clause


def queue_data(conn: sqlite3.Connection, names: list[str], *, query: str = "", clause_key: str | None = None,
               thresholds: dict[str, float] | None = None) -> dict:
    """Everything the queue page shows."""
    thresholds = thresholds or {}
    companies, unknown = resolve_companies(conn, names)
    ids = [c["id"] for c in companies]
    cells = flagged_cells(conn, ids)
    pending = [c for c in cells if c["source"] != "review"]
    item, cell = None, None
    if clause_key:
        item = clause_context(conn, clause_key, thresholds)
    elif pending:
        cell = pending[0]
        if cell["evidence_clause_key"]:
            item = clause_context(conn, cell["evidence_clause_key"], thresholds)
    upcoming = [] if (item and cell) else active_learning(conn, ids, thresholds)
    if item is None and not cell and upcoming:
        item = clause_context(conn, upcoming[0]["clause_key"], thresholds)
    return {
        "names": [c["name"] for c in companies], "unknown": unknown, "cells": cells,
        "checked": len(cells) - len(pending), "flagged": len(cells), "cell": cell, "item": item,
        "upcoming": upcoming[:10], "query": query, "results": search(conn, query, ids) if query else [],
    }


def sample_queue_data(conn: sqlite3.Connection, n: int, seed: int, reviewer: str | None, *,
                      clause_key: str | None = None, thresholds: dict[str, float] | None = None) -> dict:
    """The double-coding queue: the clauses of ``review sample --n N --seed S`` (same draw, same order) that this
    reviewer has not coded yet; every coder of a study walks the same list."""
    thresholds = thresholds or {}
    drawn = sample(conn, n, seed)
    done = coded_by(conn, reviewer) if reviewer else set()
    pending = [r for r in drawn if (r["clause_key"], text_hash(r["text"])) not in done]
    key = clause_key or (pending[0]["clause_key"] if pending else None)
    item = clause_context(conn, key, thresholds) if key else None
    return {
        "names": [], "unknown": [], "cells": [], "checked": 0, "flagged": 0, "cell": None, "item": item,
        "upcoming": [], "query": "", "results": [],
        "sample": {"n": len(drawn), "seed": seed, "coded": len(drawn) - len(pending), "asked": n},
    }
