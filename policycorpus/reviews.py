"""Human review of tags: an append-only store of decisions kept apart from the corpus, and its overlay.

The review store is its own SQLite file (by default ``corpus.reviews.db`` beside ``corpus.db``), so a review
session never changes a byte of the corpus. Every decision is one appended row: who, when, which clause (stable
key, its document's key and URL, the hash of the text the reviewer saw) and what (confirm / remove / add a
category, set the modality, mark a grid cell checked, or a note). Nothing is updated or deleted.

``attach(db, path)`` ATTACHes the store to a corpus connection and creates TEMP views named like the views of
``policycorpus.db`` (``effective_tags`` with source 'review' or 'model', ``current_segments`` with reviewed
modalities, ``current_cells`` with reviewed cells, and every view built on them), generated from
``policycorpus.db.VIEWS``. Unqualified names resolve to TEMP objects first, so every reader on that connection
(compare, reports, Datasette pages, facets, canned queries) sees the reviewed data. A decision applies only while
the clause's text is the one the reviewer saw; when the text changed it stays as history and the clause is
queued again.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from policycorpus.db import VIEWS, C, Table, utcnow
from policycorpus.errors import InputError, NotFoundError
from taxonomy.taxonomy import MODALITIES

SCHEMA = "reviews"  # the name the store is attached under
# accept: the reviewer coded the clause and its categories stand as shown (what a double-coding sample needs
# for a clause whose tags, or lack of them, are right)
ACTIONS = ("confirm", "remove", "add", "accept", "modality", "check", "note")
CODING_ACTIONS = ("confirm", "remove", "add", "accept")
TAG_ACTIONS = ("confirm", "remove", "add")
CELL_STATES = ("covered", "uncertain", "absent")
MAX_NOTE = 2000
MAX_NAME = 100
REVIEW_SCORE = 1.0  # the score of a category a reviewer confirmed or added

TABLES: list[Table] = [
    Table("meta", "Key/value facts about this review store.",
          [C("key", str, "Name of the fact."), C("value", str, "Its value.")], pk="key"),
    Table(
        "decisions",
        "Every review decision, appended and never changed: the latest decision of any reviewer on a clause's "
        "category (or modality, or cell) is the one in force while the clause's text is unchanged.",
        [
            C("id", int, "Row id (order of the decisions)."),
            C("reviewer", str, "Who decided."),
            C("at", str, "UTC time of the decision (ISO 8601)."),
            C("action", str, "confirm, remove or add (a category), accept (the clause's categories stand as "
                             "shown), modality (set it), check (a grid cell) or note."),
            C("clause_key", str, "Stable key of the clause (clauses.key); null for a cell check."),
            C("document_key", str, "Stable key of its document (documents.key)."),
            C("document_url", str, "The document's URL (file:// for imported files)."),
            C("category", str, "Category id (for confirm, remove, add and check)."),
            C("value", str, "The modality (modality) or the cell's state (check: covered, uncertain, absent)."),
            C("text_hash", str, "SHA-256 (16 hex digits) of the clause text the reviewer saw."),
            C("note", str, "Free text."),
        ],
        indexes=[(("clause_key",), False), (("document_key", "category"), False), (("reviewer",), False)],
    ),
]


def text_hash(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()[:16]


def default_path(db_path: str | Path) -> Path:
    """corpus.reviews.db for corpus.db."""
    path = Path(db_path)
    return path.with_name(path.stem + ".reviews.db")


def resolve(db_path: str | Path, reviews: str | Path | None) -> Path:
    return Path(reviews) if reviews else default_path(db_path)


SQL_TYPES: dict[type | str, str] = {int: "INTEGER", str: "TEXT", float: "REAL", bytes: "BLOB"}


def open_store(path: str | Path) -> sqlite3.Connection:
    """Open (creating) a review store; its schema comes from TABLES."""
    conn = sqlite3.connect(str(path), timeout=60)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=60000")
    for table in TABLES:
        cols = []
        for c in table.columns:
            typ = SQL_TYPES.get(c.type, "TEXT")
            cols.append(f"[{c.name}] {typ}" + (" PRIMARY KEY" if c.name == table.pk else ""))
        conn.execute(f"create table if not exists [{table.name}] ({', '.join(cols)})")
        for columns, unique in table.indexes:
            name = f"idx_{table.name}_{'_'.join(columns)}"
            conn.execute(f"create {'unique ' if unique else ''}index if not exists [{name}] "
                         f"on [{table.name}] ({', '.join(columns)})")
    if not conn.execute("select 1 from meta where key = 'created_at'").fetchone():
        conn.execute("insert into meta values ('created_at', ?)", [utcnow()])
    conn.commit()
    return conn


@dataclass
class Decision:
    reviewer: str
    action: str
    clause_key: str | None = None
    document_key: str | None = None
    document_url: str | None = None
    category: str | None = None
    value: str | None = None
    text_hash: str | None = None
    note: str | None = None
    at: str | None = None

    def check(self) -> None:
        """Refuse a malformed decision (untrusted input: the browser, an imported file)."""
        if not self.reviewer or len(self.reviewer) > MAX_NAME or not self.reviewer.strip():
            raise InputError("a decision needs a reviewer name (at most 100 characters)")
        if self.action not in ACTIONS:
            raise InputError(f"unknown review action {str(self.action)[:40]!r} (one of {', '.join(ACTIONS)})")
        if self.action in TAG_ACTIONS + ("check",) and not self.category:
            raise InputError(f"a {self.action} decision needs a category")
        if self.action == "modality" and self.value not in MODALITIES:
            raise InputError(f"unknown modality {str(self.value)[:40]!r}")
        if self.action == "check" and (self.value not in CELL_STATES or not self.document_key):
            raise InputError("a check decision needs a document key and a state (covered, uncertain, absent)")
        if self.action != "check" and not self.clause_key:
            raise InputError(f"a {self.action} decision needs a clause key")
        for name in ("clause_key", "document_key", "category", "value", "text_hash"):
            if len(str(getattr(self, name) or "")) > 200:
                raise InputError(f"{name} is too long")
        if self.note and len(self.note) > MAX_NOTE:
            raise InputError(f"a note is limited to {MAX_NOTE} characters")
        if self.document_url and len(self.document_url) > 4000:
            raise InputError("document_url is too long")


FIELDS = ("reviewer", "at", "action", "clause_key", "document_key", "document_url", "category", "value",
          "text_hash", "note")


def record(store: sqlite3.Connection, decisions: Iterable[Decision]) -> int:
    """Append decisions (one transaction); how many."""
    rows = []
    for d in decisions:
        d.check()
        d.at = d.at or utcnow()
        rows.append([getattr(d, f) for f in FIELDS])
    with store:
        store.executemany(f"insert into decisions ({', '.join(FIELDS)}) values ({', '.join('?' * len(FIELDS))})",
                          rows)
    return len(rows)


def decisions(store: sqlite3.Connection, reviewers: list[str] | None = None) -> list[dict]:
    sql = "select * from decisions"
    args: list = []
    if reviewers:
        sql += f" where reviewer in ({', '.join('?' * len(reviewers))})"
        args = list(reviewers)
    return [dict(r) for r in store.execute(sql + " order by id", args)]


def clause_decision(conn: sqlite3.Connection, clause_key: str, reviewer: str, action: str, *,
                    category: str | None = None, value: str | None = None, note: str | None = None) -> Decision:
    """A decision on a current clause of the corpus (its document key, URL and text hash filled in)."""
    row = conn.execute(
        "select cs.text, d.key, d.url from current_segments cs join documents d on d.id = cs.document_id "
        "where cs.clause_key = ? and cs.kind = 'clause' limit 1", [clause_key]).fetchone()
    if row is None:
        raise NotFoundError(f"no current clause with key {clause_key[:40]}")
    return Decision(reviewer=reviewer, action=action, clause_key=clause_key, document_key=row[1],
                    document_url=row[2], category=category, value=value, text_hash=text_hash(row[0]), note=note)


def cell_decision(conn: sqlite3.Connection, document_key: str, category: str, state: str, reviewer: str) -> Decision:
    row = conn.execute("select url from documents where key = ?", [document_key]).fetchone()
    if row is None:
        raise NotFoundError(f"no document with key {document_key[:40]}")
    return Decision(reviewer=reviewer, action="check", document_key=document_key, document_url=row[0],
                    category=category, value=state)


# ---------------------------------------------------------------- the overlay

# The decisions in force: the latest per clause and category (tags), per clause (modality), per document and
# category (cells). Only decisions whose text hash matches the clause's current text count.
OVERLAY_HELPERS = {
    "review_tag_decisions": f"""
select d.clause_key, d.category, d.action, d.text_hash from {SCHEMA}.decisions d
where d.action in ('confirm', 'remove', 'add')
  and d.id = (select max(d2.id) from {SCHEMA}.decisions d2 where d2.clause_key = d.clause_key
              and d2.category = d.category and d2.action in ('confirm', 'remove', 'add'))
""",
    "review_modality_decisions": f"""
select d.clause_key, d.value as modality, d.text_hash from {SCHEMA}.decisions d
where d.action = 'modality'
  and d.id = (select max(d2.id) from {SCHEMA}.decisions d2 where d2.clause_key = d.clause_key
              and d2.action = 'modality')
""",
    "review_cell_decisions": f"""
select d.document_key, d.category, d.value as state, d.reviewer, d.at from {SCHEMA}.decisions d
where d.action = 'check'
  and d.id = (select max(d2.id) from {SCHEMA}.decisions d2 where d2.document_key = d.document_key
              and d2.category = d.category and d2.action = 'check')
""",
}

# effective_tags with reviews: the model's tags a reviewer did not remove (source 'model', or 'review' when
# confirmed), plus the categories reviewers added (score 1, source 'review').
EFFECTIVE_TAGS_OVERLAY = f"""
with model as ({{model}}),
live as (
  select cl.id as clause_id, rd.category, rd.action from review_tag_decisions rd
  join clauses cl on cl.key = rd.clause_key
  where rd.text_hash = policycorpus_text_hash(cl.text)
)
select m.clause_id, m.category, case when l.action is null then m.score else {REVIEW_SCORE} end as score,
       m.model_version, case when l.action is null then 'model' else 'review' end as source
from model m left join live l on l.clause_id = m.clause_id and l.category = m.category
where coalesce(l.action, '') != 'remove'
union all
select l.clause_id, l.category, {REVIEW_SCORE}, null, 'review' from live l
where l.action in ('confirm', 'add')
  and not exists (select 1 from model m2 where m2.clause_id = l.clause_id and m2.category = l.category)
"""


# current_cells with reviews: a reviewer's cell check wins; else a category a reviewer confirmed or added on
# one of the document's clauses makes the cell covered, with that clause as its evidence; a removed evidence
# tag with no tag left makes it absent, and where other tags remain the strongest of them becomes the evidence.
CURRENT_CELLS_OVERLAY = """
with base as ({model}),
reviewed as (
  select base.*,
    (select et.clause_id from effective_tags et join current_segments cs on cs.clause_id = et.clause_id
     where cs.document_id = base.document_id and et.category = base.category
     order by et.source = 'review' desc, et.score desc, cs.position limit 1) as tagged_clause_id,
    exists (select 1 from effective_tags et join current_segments cs on cs.clause_id = et.clause_id
            where cs.document_id = base.document_id and et.category = base.category
              and et.source = 'review') as has_review_tag,
    exists (select 1 from review_tag_decisions rd where rd.clause_key = base.evidence_clause_key
            and rd.category = base.category and rd.action = 'remove') as evidence_removed,
    rc.state as checked_state, rc.reviewer as reviewer
  from base
  left join review_cell_decisions rc on rc.document_key = base.document_key and rc.category = base.category
),
decided as (
  select reviewed.*,
    coalesce(checked_state, case when has_review_tag then 'covered'
                                 when evidence_removed and tagged_clause_id is null then 'absent' end) as review_state,
    case when has_review_tag or evidence_removed then tagged_clause_id else evidence_clause_id end as evidence_id
  from reviewed
)
select d.document_id, d.document_key, d.company_id, d.company, d.org_type, d.industry, d.policy, d.snapshot_id,
       d.category, d.group_name, d.model_state, d.score, d.best, d.calibrated,
       d.evidence_id as evidence_clause_id, ev.key as evidence_clause_key, ev.text as evidence_text,
       d.model_version, d.review_state, d.reviewer,
       coalesce(d.review_state, d.model_state) as state,
       case when d.review_state is null then 'model' else 'review' end as source
from decided d left join clauses ev on ev.id = d.evidence_id
"""


def _overlay_sql(view_name: str, sql: str) -> str:
    if view_name == "effective_tags":
        return EFFECTIVE_TAGS_OVERLAY.replace("{model}", sql.strip())
    if view_name in ("current_segments", "snapshot_segments"):
        # The reviewed modality replaces the model's while the text is the one the reviewer saw.
        sql = sql.replace(
            "cl.modality as modality,",
            "coalesce((select rm.modality from review_modality_decisions rm where rm.clause_key = cl.key "
            "and rm.text_hash = policycorpus_text_hash(cl.text)), cl.modality) as modality,")
        return sql
    if view_name == "current_cells":
        return CURRENT_CELLS_OVERLAY.replace("{model}", _rename_state(sql))
    return sql


def _rename_state(sql: str) -> str:
    return sql.replace("cc.state as state,", "cc.state as model_state,")


def overlay_views() -> list[tuple[str, str]]:
    """(name, SQL) of every TEMP view the overlay creates, in dependency order."""
    views = list(OVERLAY_HELPERS.items())
    views += [(v.name, _overlay_sql(v.name, v.sql)) for v in VIEWS]
    return views


def register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("policycorpus_text_hash", 1, text_hash, deterministic=True)


def attach(conn: sqlite3.Connection, path: str | Path, *, read_only: bool = True) -> None:
    """Attach the review store at path and create the TEMP overlay views on this connection."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"no review store at {path}")
    attached = {r[1] for r in conn.execute("pragma database_list")}
    if SCHEMA not in attached:
        uri = f"file:{path.resolve()}" + ("?mode=ro" if read_only else "")
        try:
            conn.execute(f"attach database ? as {SCHEMA}", [uri])
        except sqlite3.OperationalError:
            # a connection opened without URI filenames takes the plain path
            conn.execute(f"attach database ? as {SCHEMA}", [str(path.resolve())])
    register_functions(conn)
    for name, sql in overlay_views():
        conn.execute(f"drop view if exists temp.[{name}]")
        conn.execute(f"create temp view [{name}] as {sql}")


def attach_if_present(db: sqlite_utils.Database | sqlite3.Connection, db_path: str | Path,
                      reviews: str | Path | None = None) -> Path | None:

    """attach() the review store (given, or the default beside the corpus) when it exists; its path."""
    path = resolve(db_path, reviews)
    if reviews and not path.exists():
        raise NotFoundError(f"no review store at {path}")
    if not path.exists():
        return None
    attach(db.conn if isinstance(db, sqlite_utils.Database) else db, path)
    return path


def training_rows(conn: sqlite3.Connection) -> list[dict]:
    """The reviewed current clauses as labelled training rows (attach() first): their categories after review,
    the reviewed modality if one was set, and their document key (cross-validation keeps a document together)."""
    found = conn.execute(
        "select cs.clause_id, cs.clause_key, cs.text, cs.heading_path, cs.lead_in, d.key, "
        "(select rm.modality from review_modality_decisions rm where rm.clause_key = cs.clause_key "
        " and rm.text_hash = policycorpus_text_hash(cs.text)) "
        "from current_segments cs join documents d on d.id = cs.document_id "
        "where cs.kind = 'clause' and cs.clause_key in (select clause_key from review_tag_decisions "
        "union select clause_key from review_modality_decisions) order by cs.clause_key").fetchall()
    rows = []
    for clause_id, key, text, heading, lead_in, doc_key, modality in found:
        if not any(h == text_hash(text) for (h,) in conn.execute(
                "select text_hash from reviews.decisions where clause_key = ?", [key])):
            continue  # decided on another text: history, not a label of this one
        labels = [c for (c,) in conn.execute("select category from effective_tags where clause_id = ? "
                                             "order by category", [clause_id])]
        rows.append({"text": text, "heading": heading or "", "lead_in": lead_in or "", "labels": labels,
                     "modality": modality, "doc": f"review#{doc_key}", "clause_key": key})
    return rows


# ---------------------------------------------------------------- moving decisions


def export_lines(store: sqlite3.Connection) -> Iterator[str]:
    for row in decisions(store):
        yield json.dumps({f: row[f] for f in FIELDS}, ensure_ascii=False, sort_keys=True)


MAX_IMPORT_LINE = 100_000


def parse_lines(lines: Iterable[str]) -> list[Decision]:
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if len(line) > MAX_IMPORT_LINE:
            raise InputError(f"line {number}: longer than {MAX_IMPORT_LINE} characters")
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number}: not JSON ({exc.msg})") from None
        except ValueError as exc:  # valid JSON Python refuses, e.g. an integer of over 4,300 digits
            raise InputError(f"line {number}: not readable JSON ({str(exc)[:100]})") from None
        if not isinstance(data, dict):
            raise InputError(f"line {number}: not a JSON object")
        fields = {f: (str(data[f]) if data.get(f) is not None else None) for f in FIELDS}
        decision = Decision(**fields)  # type: ignore[arg-type]  # check() refuses a missing reviewer or action
        try:
            decision.check()
        except InputError as exc:
            raise InputError(f"line {number}: not readable JSON ({str(exc)[:100]})") from None
        out.append(decision)
    return out


def import_decisions(store: sqlite3.Connection, decisions_in: list[Decision]) -> int:
    """Append the decisions not already in the store (same reviewer, time, action, clause, category, value)."""
    seen = {tuple(r[f] for f in FIELDS) for r in store.execute(f"select {', '.join(FIELDS)} from decisions")}
    fresh = [d for d in decisions_in if tuple(getattr(d, f) for f in FIELDS) not in seen]
    return record(store, fresh)


def _documents_by_url(conn: sqlite3.Connection) -> tuple[dict[str, tuple], dict[str, list[tuple]]]:
    by_url: dict[str, tuple] = {}
    by_file: dict[str, list[tuple]] = {}
    for doc_id, key, url, file_name in conn.execute("select id, key, url, file_name from documents"):
        by_url[url] = (doc_id, key, url)
        if file_name:
            by_file.setdefault(file_name, []).append((doc_id, key, url))
    return by_url, by_file


def rekey(conn: sqlite3.Connection, decisions_in: list[Decision]) -> tuple[list[Decision], int]:
    """Match decisions made on another build of the corpus to this one; (decisions, how many matched nothing).

    A decision keeps its clause key when this corpus has it. Otherwise its document is found by URL (or, for an
    imported file, whose file:// URL names a local path, by file name) and the clause by the hash of its text.
    """
    present = {k for (k,) in conn.execute("select clause_key from current_segments where kind = 'clause'")}
    by_url, by_file = _documents_by_url(conn)
    out, unmatched = [], 0
    for d in decisions_in:
        if d.clause_key in present or (d.action == "check" and d.document_key in {v[1] for v in by_url.values()}):
            out.append(d)
            continue
        url = d.document_url or ""
        candidates = [by_url[url]] if url in by_url else by_file.get(url.rsplit("/", 1)[-1], [])
        if len(candidates) != 1:
            unmatched += 1
            continue
        doc_id, doc_key, doc_url = candidates[0]
        d.document_key, d.document_url = doc_key, doc_url
        if d.action == "check":
            out.append(d)
            continue
        match = [k for k, text in conn.execute("select clause_key, text from current_segments where document_id = ? "
                                               "and kind = 'clause' order by position", [doc_id])
                 if text_hash(text) == d.text_hash]
        if not match:
            unmatched += 1
            continue
        d.clause_key = match[0]
        out.append(d)
    return out, unmatched


def status(store: sqlite3.Connection) -> list[dict]:
    """Decision counts per reviewer, action and category."""
    return [dict(r) for r in store.execute(
        "select reviewer, action, coalesce(category, value, '') as what, count(*) as decisions, "
        "count(distinct coalesce(clause_key, document_key)) as items "
        "from decisions group by 1, 2, 3 order by 1, 2, 3")]


def coded_by(conn: sqlite3.Connection, reviewer: str) -> set[tuple[str, str]]:
    """(clause key, text hash) of the clauses a reviewer coded (confirmed, removed, added or accepted)."""
    marks = ", ".join("?" * len(CODING_ACTIONS))
    return {(k, h) for k, h in conn.execute(
        f"select distinct clause_key, text_hash from {SCHEMA}.decisions where reviewer = ? and action in ({marks})",
        [reviewer, *CODING_ACTIONS])}


def sample(conn: sqlite3.Connection, n: int, seed: int) -> list[dict]:
    """A reproducible random sample of current clauses for double coding (by clause key, not row id)."""
    rows = [dict(r) for r in _rows(conn, "select clause_key, document_key, url, company, text from current_clauses "
                                         "order by clause_key")]
    rng = random.Random(seed)
    return rng.sample(rows, min(n, len(rows)))


def _rows(conn, sql, args=()):
    cur = conn.execute(sql, list(args))
    names = [d[0] for d in cur.description]
    for row in cur:
        yield dict(zip(names, row))
