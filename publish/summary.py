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

import sqlite_utils

from policycorpus.db import transaction, utcnow

FINGERPRINT_KEY = "summary_fingerprint"
BUILT_AT_KEY = "summary_built_at"

# Same definition of "current" as analysis/corpus.py and the current_clauses view.
LATEST_SEGMENTATION = """coalesce(cl.segmenter_version, '') = coalesce((select c2.segmenter_version from clauses c2
      where c2.snapshot_id = cl.snapshot_id order by c2.id desc limit 1), '')"""

POLICY_STATS_SQL = f"""
insert into policy_stats (document_id, company_id, current_clauses, judged_clauses, restrictive_clauses, restrictiveness)
select cl.document_id, cl.company_id, count(*), count(cl.modality),
       sum(cl.modality in ('prohibition', 'obligation')),
       case when count(cl.modality) > 0
            then 1.0 * sum(cl.modality in ('prohibition', 'obligation')) / count(cl.modality) end
from clauses cl
join documents d on d.id = cl.document_id and d.latest_snapshot_id = cl.snapshot_id
where cl.kind = 'clause' and {LATEST_SEGMENTATION}
group by cl.document_id
"""

CATEGORY_COVERAGE_SQL = f"""
insert into category_coverage (company_id, category, clauses, strongest_modality)
select cl.company_id, t.category, count(*),
       case min(case cl.modality when 'prohibition' then 1 when 'obligation' then 2 when 'recommendation' then 3
                when 'permission' then 4 when 'information' then 5 end)
         when 1 then 'prohibition' when 2 then 'obligation' when 3 then 'recommendation'
         when 4 then 'permission' when 5 then 'information' end
from clauses cl
join documents d on d.id = cl.document_id and d.latest_snapshot_id = cl.snapshot_id
join tags t on t.clause_id = cl.id and (cl.model_version is null or t.model_version = cl.model_version)
where cl.kind = 'clause' and {LATEST_SEGMENTATION}
group by cl.company_id, t.category
"""

DUPLICATE_CLAUSES_SQL = f"""
insert into duplicate_clauses (clause_id, company_id, n_companies)
with current as (
  select cl.id, cl.company_id, lower(trim(cl.text)) as key
  from clauses cl
  join documents d on d.id = cl.document_id and d.latest_snapshot_id = cl.snapshot_id
  where cl.kind = 'clause' and {LATEST_SEGMENTATION}
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


def built_at(conn) -> str | None:
    """When the summary tables were last rebuilt (UTC, ISO 8601), from any sqlite3 connection."""
    row = conn.execute("select value from meta where key = ?", [BUILT_AT_KEY]).fetchone()
    return row[0] if row else None
