"""Reading what the analyses need from corpus.db: categories, current clauses and their tags.

"Current" means the clauses of each document's latest snapshot, from the most
recent segmentation of it, and the tags of the model version that last tagged
each clause. Older versions stay in the database for history but are not
compared, clustered or searched for templates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlite_utils

from policycorpus.errors import CorpusStateError
from taxonomy.taxonomy import MODALITIES

RESTRICTIVE = frozenset({"prohibition", "obligation"})


@dataclass(frozen=True)
class CorpusCategory:
    """A category as corpus.db's categories table has it, in report order (taxonomy.taxonomy.Category is the
    taxonomy file's entry, with its phrases and examples)."""

    id: str
    name: str
    group: str
    group_order: int
    position: int
    description: str = ""


@dataclass
class CorpusClause:
    """A current clause read from corpus.db with its company, document and tags (taxonomy.segment.Clause is a
    clause just segmented from a document, taxonomy.pipeline.TaggedClause one just tagged)."""

    id: int
    company_id: int
    company: str
    document_id: int
    url: str
    fetched_at: str
    position: int
    text: str
    heading_path: str = ""
    modality: str | None = None
    tags: dict[str, float] = field(default_factory=dict)  # category id -> score
    model_version: str | None = None  # the tagger model of the tags
    key: str | None = None  # stable clause key (clauses.key)
    file_name: str | None = None  # an imported file's name when it has no public URL
    scores: dict[str, float] = field(default_factory=dict)  # every category's probability (clauses.scores)

    @property
    def snapshot_date(self) -> str:
        return (self.fetched_at or "")[:10]


def strongest_modality(modalities: Iterable[str | None]) -> str | None:
    """The most forceful modality among those given (prohibition > obligation > ... > information)."""
    present = {m for m in modalities if m}
    for modality in MODALITIES:  # strongest first
        if modality in present:
            return modality
    return None


def load_categories(db: sqlite_utils.Database) -> list[CorpusCategory]:
    """The taxonomy in report order (by group, then category position).

    The rows come from the `categories` table; if it is still empty the
    taxonomy package is asked to fill it from taxonomy/taxonomy.yaml.
    """
    if not db["categories"].exists() or not db["categories"].count:
        try:
            from taxonomy.pipeline import sync_categories
        except ImportError:
            raise CorpusStateError("the categories table is empty and the taxonomy package cannot fill it") from None
        sync_categories(db)
    rows = db.query("select * from categories order by group_order, position, id")
    return [
        CorpusCategory(r["id"], r["name"] or r["id"], r["group_name"] or "", r["group_order"] or 0, r["position"] or 0, r["description"] or "")
        for r in rows
    ]


def groups_in_order(categories: list[CorpusCategory]) -> list[str]:
    seen: list[str] = []
    for c in categories:
        if c.group not in seen:
            seen.append(c.group)
    return seen


CURRENT_CLAUSES_SQL = """
select clause_id as id, clause_key, company_id, company, document_id, coalesce(url, '') as url, file_name,
       fetched_at, position, text, scores,
       heading_path, modality, model_version
from current_clauses {where}
order by company, document_id, position
"""


def current_clauses(
    db: sqlite_utils.Database, company_ids: list[int] | None = None, *, with_tags: bool = True
) -> list[CorpusClause]:
    """Clauses of the current snapshot of every document (of the given companies), with their effective tags.

    Reads the `current_clauses` and `effective_tags` views of policycorpus/db.py.
    """
    where, params = "", []
    if company_ids is not None:
        if not company_ids:
            return []
        where = f"where company_id in ({', '.join('?' * len(company_ids))})"
        params = list(company_ids)
    clauses = [
        CorpusClause(
            id=r["id"],
            company_id=r["company_id"],
            company=r["company"],
            document_id=r["document_id"],
            url=r["url"],
            fetched_at=r["fetched_at"] or "",
            position=r["position"] or 0,
            text=r["text"] or "",
            heading_path=r["heading_path"] or "",
            modality=r["modality"],
            model_version=r["model_version"],
            key=r["clause_key"],
            file_name=r["file_name"],
            scores=json.loads(r["scores"]) if r["scores"] else {},
        )
        for r in db.query(CURRENT_CLAUSES_SQL.format(where=where), params)
    ]
    if with_tags and clauses:
        _attach_tags(db, clauses)
    return clauses


def _attach_tags(db: sqlite_utils.Database, clauses: list[CorpusClause]) -> None:
    by_id = {c.id: c for c in clauses}
    ids = list(by_id)
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        sql = f"select clause_id, category, score from effective_tags where clause_id in ({', '.join('?' * len(chunk))})"
        for r in db.query(sql, chunk):
            by_id[r["clause_id"]].tags[r["category"]] = r["score"] if r["score"] is not None else 1.0


# columns of category_quality that say which model, set and category a row is about, not how well it did
_QUALITY_ROW_KEYS = frozenset({"model_version", "dataset", "category", "units", "documents", "description"})


def load_quality(db: sqlite_utils.Database, model_version: str) -> dict[str, dict]:
    """The measured quality of a tagger model per labelled set: {dataset: {description, units, documents, categories}}.

    Empty when the model has no quality card in the database (see the
    category_quality table).
    """
    if not db["category_quality"].exists():
        return {}
    out: dict[str, dict] = {}
    for r in db.query("select * from category_quality where model_version = ? order by dataset, category", [model_version]):
        entry = out.setdefault(r["dataset"], {"description": r["description"] or "", "units": r["units"],
                                              "documents": r["documents"], "categories": {}})
        entry["categories"][r["category"]] = {k: v for k, v in r.items() if k not in _QUALITY_ROW_KEYS}
    return out
