"""Summary tables of the current clauses: policy_stats, category_coverage, duplicate_clauses.

Whole-corpus aggregates (restrictiveness rankings, coverage, the charts) would
scan every clause on each request; on a million clauses that exceeds the SQL
time limit. ``refresh_summaries`` computes them once, when `serve` or `publish`
prepares the database, and only if the clauses, tags or snapshots changed since
the last time (a fingerprint is kept in the meta table). The rebuild is one
transaction, so a reader sees the old summaries or the new ones, never half.
While `serve` runs, other commands may add clauses and tags: the summaries then
describe the corpus as it was at ``summary_built_at`` (meta table, shown on
the charts page) until the next `serve` or `publish` rebuilds them.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from policycorpus.db import transaction, utcnow

FINGERPRINT_KEY = "summary_fingerprint"
BUILT_AT_KEY = "summary_built_at"

# Every summary reads the views of policycorpus/db.py (current_clauses, effective_tags, current_cells):
# one definition of "current" and of "effective tags" for the whole project.
POLICY_STATS_SQL = """
insert into policy_stats (document_id, company_id, current_clauses, judged_clauses, restrictive_clauses, restrictiveness)
select document_id, company_id, count(*), count(modality),
       sum(modality in ('prohibition', 'obligation')),
       case when count(modality) > 0
            then 1.0 * sum(modality in ('prohibition', 'obligation')) / count(modality) end
from current_clauses
group by document_id
"""

CATEGORY_COVERAGE_SQL = """
insert into category_coverage (company_id, category, clauses, strongest_modality, state, score, documents_covered,
                               documents_uncertain)
with tagged as (
  select cc.company_id, et.category, count(*) as clauses,
         case min(case cc.modality when 'prohibition' then 1 when 'obligation' then 2 when 'recommendation' then 3
                  when 'permission' then 4 when 'information' then 5 end)
           when 1 then 'prohibition' when 2 then 'obligation' when 3 then 'recommendation'
           when 4 then 'permission' when 5 then 'information' end as strongest_modality
  from current_clauses cc join effective_tags et on et.clause_id = cc.clause_id
  group by cc.company_id, et.category
),
cells as (
  select company_id, category,
         case max(case state when 'covered' then 3 when 'uncertain' then 2 else 1 end)
           when 3 then 'covered' when 2 then 'uncertain' else 'absent' end as state,
         max(score) as score, sum(state = 'covered') as covered, sum(state = 'uncertain') as uncertain
  from current_cells group by company_id, category
),
pairs as (select company_id, category from tagged union select company_id, category from cells)
select company_id, category, clauses, strongest_modality, state, score, covered, uncertain from (
  select p.company_id, p.category, coalesce(t.clauses, 0) as clauses, t.strongest_modality,
         coalesce(c.state, case when t.clauses > 0 then 'covered' else 'absent' end) as state, c.score,
         coalesce(c.covered, case when t.clauses > 0 then 1 else 0 end) as covered, coalesce(c.uncertain, 0) as uncertain
  from pairs p
  left join tagged t on t.company_id = p.company_id and t.category = p.category
  left join cells c on c.company_id = p.company_id and c.category = p.category
) where state != 'absent' or clauses > 0
"""

DUPLICATE_CLAUSES_SQL = """
insert into duplicate_clauses (clause_id, company_id, n_companies)
with current as (
  select clause_id as id, company_id, lower(trim(text)) as key from current_clauses
),
shared as (
  select key, count(distinct company_id) as n from current group by key having count(distinct company_id) > 1
)
select c.id, c.company_id, s.n from current c join shared s on s.key = c.key
"""

FINGERPRINT_SQL = """
select (select count(*) || ':' || coalesce(max(id), 0) from clauses)
    || '/' || (select count(*) || ':' || coalesce(max(rowid), 0) from tags)
    || '/' || (select coalesce(sum(latest_snapshot_id), 0) || ':' || count(*) from documents)
    || '/' || (select coalesce(sum(length(coalesce(modality, '')) + length(coalesce(model_version, ''))), 0) from clauses)
    || '/' || (select count(*) || ':' || coalesce(sum(length(state) * score), 0) from coverage_cells)
"""


def fingerprint(db: sqlite_utils.Database) -> str:
    return db.execute(FINGERPRINT_SQL).fetchone()[0]


def stored_fingerprint(db: sqlite_utils.Database) -> str | None:
    row = db.execute("select value from meta where key = ?", [FINGERPRINT_KEY]).fetchone()
    return row[0] if row else None


def refresh_summaries(db: sqlite_utils.Database, *, force: bool = False) -> bool:
    """Rebuild the summary tables if the corpus changed; True if rebuilt.

    The fingerprint is checked again inside the write transaction, so the tables
    always match the fingerprint stored with them, whatever another writer did
    between the first check and the lock.
    """
    if not force and stored_fingerprint(db) == fingerprint(db):
        return False
    with transaction(db):
        current = fingerprint(db)
        if not force and stored_fingerprint(db) == current:
            return False
        db.execute("delete from policy_stats")
        db.execute("delete from category_coverage")
        db.execute("delete from duplicate_clauses")
        db.execute(POLICY_STATS_SQL)
        db.execute(CATEGORY_COVERAGE_SQL)
        db.execute(DUPLICATE_CLAUSES_SQL)
        db.execute("insert or replace into meta (key, value) values (?, ?)", [FINGERPRINT_KEY, current])
        db.execute("insert or replace into meta (key, value) values (?, ?)", [BUILT_AT_KEY, utcnow()])
    return True


def built_at(conn: sqlite3.Connection) -> str | None:
    """When the summary tables were last rebuilt (UTC, ISO 8601), from any sqlite3 connection."""
    row = conn.execute("select value from meta where key = ?", [BUILT_AT_KEY]).fetchone()
    return row[0] if row else None


# The summary tables as TEMP views over the (review-overlaid) views, for a connection with a review store
# attached: rankings, charts and canned queries then count reviewed tags and cells, and nothing is written.
SUMMARY_OVERLAYS = {
    "policy_stats": POLICY_STATS_SQL,
    "category_coverage": CATEGORY_COVERAGE_SQL,
}


def overlay_summary_views(conn: sqlite3.Connection) -> None:
    """Create TEMP views named like the summary tables, computed live from the views (reviews included)."""
    for name, sql in SUMMARY_OVERLAYS.items():
        head, _, rest = sql.strip().partition(")")
        columns = head.partition("(")[2]
        conn.execute(f"drop view if exists temp.[{name}]")
        conn.execute(f"create temp view [{name}] ({columns}) as {rest.strip()}")
