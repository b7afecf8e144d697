"""A versioned, citable dataset release of the corpus: CSV and Parquet tables, a Frictionless data package,
a codebook of the taxonomy, CITATION.cff and a README saying how the data were collected and measured.

Every table and column of the release is described from the schema declarations of policycorpus/db.py (the
same descriptions as docs/schema.md and the Datasette metadata), so the documentation cannot drift. Rows are
keyed by the stable document and clause keys, never by the row ids of one build.

    from policycorpus.db import open_db
    from policycorpus.release import write_release
    summary = write_release(open_db("corpus.db"), "dist/release-2026.1", version="2026.1")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlite_utils

from policycorpus.db import TABLES_BY_NAME, VIEWS, Column
from policycorpus.errors import CorpusStateError, InputError

FRICTIONLESS_TYPES: dict[type | str, str] = {int: "integer", float: "number", str: "string", bytes: "string"}
VIEW_COLUMNS = {v.name: {c.name: c for c in v.columns} for v in VIEWS}


@dataclass(frozen=True)
class ReleaseTable:
    """One table of the release: the SQL that reads it and where each column's description comes from."""

    name: str
    description: str
    sql: str
    columns: list[tuple[str, str]]  # (column, "table.column" whose declaration describes it, or a description)
    primary_key: list[str] = field(default_factory=list)


def _described(source: str) -> Column | None:
    if "." not in source or " " in source:
        return None
    table, column = source.split(".", 1)
    if table in TABLES_BY_NAME:
        return next((c for c in TABLES_BY_NAME[table].columns if c.name == column), None)
    return VIEW_COLUMNS.get(table, {}).get(column)


RELEASE_TABLES = [
    ReleaseTable(
        "organizations",
        "Organizations in the corpus with their metadata.",
        """select slug, name, org_type, industry, country, peer_groups, homepage, metadata
           from companies order by slug""",
        [("slug", "companies.slug"), ("name", "companies.name"), ("org_type", "companies.org_type"),
         ("industry", "companies.industry"), ("country", "companies.country"),
         ("peer_groups", "companies.peer_groups"), ("homepage", "companies.homepage"),
         ("metadata", "companies.metadata")],
        ["slug"],
    ),
    ReleaseTable(
        "documents",
        "Policy documents: one per source URL (or imported file) per organization.",
        """select d.key as document_key, c.slug as organization, d.title,
                  case when d.url like 'file:%' then null else d.url end as url, d.file_name, d.source,
                  d.first_seen, d.last_seen, d.snapshot_count, d.policy_score, d.metadata, d.language,
                  kept.key as duplicate_of
           from documents d join companies c on c.id = d.company_id
           left join documents kept on kept.id = d.duplicate_of order by d.key""",
        [("document_key", "documents.key"), ("organization", "companies.slug"), ("title", "documents.title"),
         ("url", "current_clauses.url"), ("file_name", "documents.file_name"), ("source", "documents.source"),
         ("first_seen", "documents.first_seen"), ("last_seen", "documents.last_seen"),
         ("snapshot_count", "documents.snapshot_count"), ("policy_score", "documents.policy_score"),
         ("metadata", "documents.metadata"), ("language", "documents.language"),
         ("duplicate_of", "For a near-identical copy of another document of the same organization: the document_key "
                          "of the one kept and counted in its place (one policy with several sources).")],
        ["document_key"],
    ),
    ReleaseTable(
        "snapshots",
        "Every distinct version of each document, with its extracted text.",
        """select d.key || '-' || substr(s.text_hash, 1, 12) as snapshot_key, d.key as document_key,
                  s.fetched_at, s.content_type, s.text_hash, s.title, s.extractor, s.text,
                  (s.id = d.latest_snapshot_id) as is_current, s.language, s.policy_date, s.policy_date_kind,
                  s.policy_date_source, s.policy_dates
           from snapshots s join documents d on d.id = s.document_id order by d.key, s.fetched_at, s.id""",
        [("snapshot_key", "Stable key of the version: its document's key and the start of its text hash."),
         ("document_key", "documents.key"), ("fetched_at", "snapshots.fetched_at"),
         ("content_type", "snapshots.content_type"), ("text_hash", "snapshots.text_hash"),
         ("title", "snapshots.title"), ("extractor", "snapshots.extractor"), ("text", "snapshots.text"),
         ("is_current", "1 for the document's current version."), ("language", "snapshots.language"),
         ("policy_date", "snapshots.policy_date"), ("policy_date_kind", "snapshots.policy_date_kind"),
         ("policy_date_source", "snapshots.policy_date_source"), ("policy_dates", "snapshots.policy_dates")],
        ["snapshot_key"],
    ),
    ReleaseTable(
        "clauses",
        "The segments of every document's current version, with their categories, scores and modality.",
        """select cs.clause_key, d.key as document_key, cs.position, cs.kind, cs.heading_path, cs.lead_in, cs.text,
                  cs.modality, cs.modality_score, cs.model_version,
                  (select json_group_array(category) from
                     (select category from effective_tags et where et.clause_id = cs.clause_id order by category))
                    as categories,
                  (select json_group_object(category, round(score, 4)) from
                     (select category, score from effective_tags et where et.clause_id = cs.clause_id
                      order by category)) as category_scores
           from current_segments cs join documents d on d.id = cs.document_id
           order by d.key, cs.position""",
        [("clause_key", "clauses.key"), ("document_key", "documents.key"), ("position", "clauses.position"),
         ("kind", "clauses.kind"), ("heading_path", "clauses.heading_path"), ("lead_in", "clauses.lead_in"),
         ("text", "clauses.text"), ("modality", "clauses.modality"), ("modality_score", "clauses.modality_score"),
         ("model_version", "clauses.model_version"), ("categories", "current_clauses.categories"),
         ("category_scores", "JSON object: the confidence (0..1) of each category the clause carries.")],
        ["clause_key"],
    ),
    ReleaseTable(
        "categories",
        "The clause taxonomy (the codebook's categories).",
        "select id, name, group_name, position, description from categories order by group_order, position",
        [("id", "categories.id"), ("name", "categories.name"), ("group_name", "categories.group_name"),
         ("position", "categories.position"), ("description", "categories.description")],
        ["id"],
    ),
    ReleaseTable(
        "category_quality",
        "How well the tagger that produced the categories agrees with hand-labelled policies, per category.",
        """select model_version, dataset, category, precision, recall, f1, support, coverage_precision,
                  coverage_recall, coverage_f1, coverage_support, units, documents, description
           from category_quality order by model_version, dataset, category""",
        [(c.name, f"category_quality.{c.name}") for c in TABLES_BY_NAME["category_quality"].columns],
        ["model_version", "dataset", "category"],
    ),
]


@dataclass
class ReleaseSummary:
    directory: Path
    version: str
    rows: dict[str, int]


def write_release(db: sqlite_utils.Database, out_dir: str | Path, *, version: str | None = None,
                  title: str = "PolicyCorpus: organizations' social media policies", authors: list[str] | None = None,
                  license_id: str = "CC-BY-4.0", parquet: bool = True) -> ReleaseSummary:
    """Write the release into ``out_dir`` (created; an existing non-empty folder is refused)."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: exists and is not an empty folder; give a new folder for the release")
    if not db["documents"].count:
        raise CorpusStateError("the corpus has no documents to release (import or crawl some first)")
    version = version or date.today().isoformat()
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    resources = []
    for table in RELEASE_TABLES:
        frame = _frame(db, table)
        rows[table.name] = len(frame)
        frame.to_csv(out / f"{table.name}.csv", index=False)
        if parquet:
            frame.to_parquet(out / f"{table.name}.parquet", index=False)
        resources.append(_resource(table))
    (out / "datapackage.json").write_text(json.dumps(_datapackage(version, title, license_id, resources),
                                                     indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "codebook.md").write_text(codebook_markdown(), encoding="utf-8")
    (out / "CITATION.cff").write_text(citation_cff(title, version, authors or ["PolicyCorpus contributors"],
                                                   license_id), encoding="utf-8")
    (out / "README.md").write_text(release_readme(db, version, title, rows), encoding="utf-8")
    return ReleaseSummary(out, version, rows)


def _frame(db: sqlite_utils.Database, table: ReleaseTable):
    import pandas as pd

    cursor = db.execute(table.sql)
    names = [d[0] for d in cursor.description]
    frame = pd.DataFrame(cursor.fetchall(), columns=names)
    for name, source in table.columns:
        column = _described(source)
        kind = column.type if column else (int if name == "is_current" else str)
        if kind is int:
            frame[name] = frame[name].astype("Int64")
        elif kind is float:
            frame[name] = frame[name].astype("Float64")
        else:
            frame[name] = frame[name].astype("string")
    return frame


def _resource(table: ReleaseTable) -> dict:
    fields = []
    for name, source in table.columns:
        column = _described(source)
        kind = column.type if column else (int if name == "is_current" else str)
        fields.append({"name": name, "type": FRICTIONLESS_TYPES.get(kind, "string"),
                       "description": column.description if column else source})
    return {
        "name": table.name,
        "path": f"{table.name}.csv",
        "profile": "tabular-data-resource",
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "description": table.description,
        "schema": {"fields": fields, "primaryKey": table.primary_key},
    }


def _datapackage(version: str, title: str, license_id: str, resources: list[dict]) -> dict:
    return {
        "name": "policycorpus",
        "title": title,
        "version": version,
        "profile": "tabular-data-package",
        "licenses": [{"name": license_id}],
        "description": "Organizations' social media policies, split into clauses and tagged with the categories "
                       "of the PolicyCorpus taxonomy (see codebook.md), with how sure the tagger is.",
        "resources": resources,
    }


def codebook_markdown() -> str:
    """The taxonomy as a codebook: groups, categories, what each covers, its indicative phrases, the modalities."""
    from taxonomy.taxonomy import MODALITIES, load_taxonomy

    tax = load_taxonomy()
    lines = ["# Codebook", "", f"Taxonomy version {tax.version}. Each clause carries zero or more categories and "
             "one modality.", ""]
    for group in tax.groups:
        lines += [f"## {group}", ""]
        for cat in (c for c in tax.categories if c.group == group):
            lines += [f"### `{cat.id}` — {cat.name}", "", cat.description.strip(), ""]
            if cat.phrases:
                lines += ["Indicative phrases: " + "; ".join(cat.phrases[:12]), ""]
    lines += ["## Modalities", "", *[f"- `{m}`" for m in MODALITIES], ""]
    return "\n".join(lines)


def citation_cff(title: str, version: str, authors: list[str], license_id: str) -> str:
    def quoted(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = ["cff-version: 1.2.0", "message: If you use this dataset, please cite it as below.", "type: dataset",
             f"title: {quoted(title)}", f"version: {quoted(version)}", f"date-released: {date.today().isoformat()}",
             f"license: {quoted(license_id)}", "authors:"]
    lines += [f"  - name: {quoted(a)}" for a in authors]
    return "\n".join(lines) + "\n"


def release_readme(db: sqlite_utils.Database, version: str, title: str, rows: dict[str, int]) -> str:
    sources = dict(db.execute("select source, count(*) from documents group by source").fetchall())
    models = [r[0] for r in db.execute("select distinct model_version from clauses where model_version is not null")]
    quality = db.execute("select dataset, round(avg(f1), 3), round(avg(coverage_f1), 3), max(units) "
                         "from category_quality group by dataset").fetchall()
    lines = [f"# {title}", "", f"Release {version}.", "", "## How the data were collected", ""]
    lines += [f"- {n} document(s) by {'crawling the organizations’ websites' if s == 'crawl' else s}" for s, n in
              sorted(sources.items())]
    lines += ["", "Each document's text was extracted (HTML, PDF, Markdown ...), split into clauses and tagged "
              "automatically. Tags are machine-made: read `category_quality.csv` before relying on a category.", "",
              "## Tables", ""]
    lines += [f"- `{name}.csv` (and `.parquet`): {count} rows" for name, count in rows.items()]
    lines += ["", "`datapackage.json` describes every column; `codebook.md` defines the categories.", "",
              "## Tagger", "", f"Model version(s): {', '.join(models) or 'none (not tagged)'}.", ""]
    if quality:
        lines += ["| labelled set | mean clause F1 | mean document coverage F1 | units |", "|---|---|---|---|"]
        lines += [f"| {d} | {f1} | {cov} | {units} |" for d, f1, cov, units in quality]
    return "\n".join(lines) + "\n"
