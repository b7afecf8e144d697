"""Every analysis result as a pandas DataFrame, for notebooks and for CSV/Parquet export.

    import analysis
    from policycorpus.db import open_db

    db = open_db("corpus.db")
    clauses = analysis.load_clauses(db)                 # one row per current clause
    members = analysis.cluster_members(db)              # latest cluster run, one row per clause
    summary = analysis.cluster_summaries(db)            # one row per cluster
    analysis.clusters_per_class(db, by="industry")      # shares of each cluster per class
    analysis.clusters_over_time(db)                     # shares of each cluster per year
    analysis.template_family_members(db), analysis.document_similarity(db), analysis.coverage_by_class(db)

Clauses are read from the ``current_clauses`` view (policycorpus/db.py), never with SQL of
their own for "current".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from policycorpus.errors import CorpusStateError, DependencyError, InputError

if TYPE_CHECKING:
    import pandas as pd

CLASS_COLUMNS = ("industry", "country", "peer_group", "company", "year")


def _pd():
    try:
        import pandas as pd
    except ImportError:
        raise DependencyError("DataFrames need pandas: pip install pandas") from None
    return pd


def load_clauses(db: sqlite_utils.Database, *, with_peer_groups: bool = True) -> pd.DataFrame:
    """The current clauses (the current_clauses view) with their organization's industry, country,
    peer groups and snapshot year; ``categories`` is a list of category ids."""
    pd = _pd()
    frame = pd.DataFrame(list(db.query("select * from current_clauses order by company, document_id, position")))
    if frame.empty:
        return frame
    frame["categories"] = frame["categories"].map(lambda v: json.loads(v) if v else [])
    frame["groups"] = frame["groups"].map(lambda v: json.loads(v) if v else [])
    if with_peer_groups:
        groups = {r["id"]: json.loads(r["peer_groups"] or "[]") for r in db.query("select id, peer_groups from companies")}
        frame["peer_groups"] = frame["company_id"].map(lambda i: groups.get(i, []))
    return frame


def _run_id(db: sqlite_utils.Database, table: str, run_id: int | None, hint: str) -> int:
    if run_id is None:
        run_id = db.execute(f"select max(id) from {table}").fetchone()[0] if db[table].exists() else None
    if run_id is None:
        raise CorpusStateError(f"no {hint} yet: run 'policycorpus {hint.split()[0]}' first")
    return int(run_id)


def cluster_members(db: sqlite_utils.Database, run_id: int | None = None) -> pd.DataFrame:
    """One row per clustered clause: run, cluster, its label, map coordinates and the clause's columns."""
    pd = _pd()
    run_id = _run_id(db, "cluster_runs", run_id, "cluster run")
    members = pd.DataFrame(list(db.query(
        "select m.run_id, m.clause_id, m.cluster, k.label as cluster_label, m.x, m.y from cluster_members m "
        "left join clusters k on k.run_id = m.run_id and k.cluster = m.cluster where m.run_id = ?", [run_id])))
    clauses = load_clauses(db)
    if members.empty or clauses.empty:
        return members
    columns = ["clause_id", "clause_key", "company", "industry", "country", "year", "document_id", "policy",
               "position", "text", "modality", "categories", "peer_groups"]
    return members.merge(clauses[columns], on="clause_id", how="left").sort_values(["cluster", "company", "position"],
                                                                                   ignore_index=True)


def cluster_summaries(db: sqlite_utils.Database, run_id: int | None = None) -> pd.DataFrame:
    """One row per cluster of a run: size, label, organizations, top category and overlap, cohesion, the wording's
    cohesion and the coherence measure (overlap x wording cohesion), novel."""
    pd = _pd()
    run_id = _run_id(db, "cluster_runs", run_id, "cluster run")
    frame = pd.DataFrame(list(db.query("select * from clusters where run_id = ? order by cluster", [run_id])))
    params = json.loads(db.table("cluster_runs").get(run_id)["params"])
    extra = params.get("clusters", {})
    frame["companies"] = frame["companies"].map(json.loads)
    frame["representatives"] = frame["representatives"].map(json.loads)
    for column in ("cohesion", "semantic_cohesion", "coherence", "novel", "largest_company_share"):
        frame[column] = frame["cluster"].map(lambda c, col=column: extra.get(str(c), {}).get(col))
    frame["share"] = frame["size"] / frame["size"].sum()
    return frame


def _class_column(members, by: str):
    if by not in CLASS_COLUMNS:
        raise InputError(f"by must be one of {', '.join(CLASS_COLUMNS)}")
    if by == "peer_group":
        members = members.explode("peer_groups").rename(columns={"peer_groups": "peer_group"})
    members = members.copy()
    members[by] = members[by].fillna("(none)")
    return members


def clusters_per_class(db: sqlite_utils.Database, by: str = "industry", run_id: int | None = None) -> pd.DataFrame:
    """Clauses and share of each cluster within each class (industry, country, peer_group, company or year):
    BERTopic's topics_per_class. Long format: class, cluster, label, clauses, share (of the class's clauses)."""
    members = _class_column(cluster_members(db, run_id), by)
    counts = members.groupby([by, "cluster", "cluster_label"], dropna=False).size().rename("clauses").reset_index()
    totals = counts.groupby(by)["clauses"].transform("sum")
    counts["share"] = counts["clauses"] / totals
    return counts.sort_values([by, "cluster"], ignore_index=True)


def clusters_over_time(db: sqlite_utils.Database, run_id: int | None = None) -> pd.DataFrame:
    """Clusters per snapshot year (BERTopic's topics_over_time): year, cluster, label, clauses, share of the year."""
    return clusters_per_class(db, "year", run_id)


def template_family_members(db: sqlite_utils.Database, run_id: int | None = None) -> pd.DataFrame:
    """One row per template family member: family, size, organizations, example and the member clause."""
    pd = _pd()
    run_id = _run_id(db, "template_runs", run_id, "templates pass")
    frame = pd.DataFrame(list(db.query(
        """select f.run_id, f.id as family_id, f.size, f.n_companies, f.companies, f.example,
                  m.clause_id, co.name as company, m.similarity, cl.text
           from template_families f join template_members m on m.family_id = f.id
           join clauses cl on cl.id = m.clause_id join companies co on co.id = m.company_id
           where f.run_id = ? order by f.id, co.name""", [run_id])))
    if not frame.empty:
        frame["companies"] = frame["companies"].map(json.loads)
    return frame


def document_similarity(db: sqlite_utils.Database, run_id: int | None = None) -> pd.DataFrame:
    """Square DataFrame of the similarity of every current document pair stored by a templates pass
    (pairs below the pass's min_doc_similarity are 0); index and columns are 'company: title (id)'."""
    from analysis.plots import similarity_matrix

    pd = _pd()
    labels, sims, _, _ = similarity_matrix(db, run_id)
    return pd.DataFrame(sims, index=labels, columns=labels)


def coverage_by_class(db: sqlite_utils.Database, by: str = "industry") -> pd.DataFrame:
    """Share of organizations of each class whose current policy covers each taxonomy category
    (class, category, organizations, covering, share)."""
    pd = _pd()
    clauses = load_clauses(db)
    if clauses.empty:
        return pd.DataFrame(columns=[by, "category", "organizations", "covering", "share"])
    clauses = _class_column(clauses, by) if by != "year" else clauses.assign(year=clauses["year"].fillna("(none)"))
    orgs = clauses.groupby(by)["company"].nunique().rename("organizations")
    tagged = clauses.explode("categories").dropna(subset=["categories"]).rename(columns={"categories": "category"})
    covering = tagged.groupby([by, "category"])["company"].nunique().rename("covering").reset_index()
    covering = covering.merge(orgs.reset_index(), on=by)
    covering["share"] = covering["covering"] / covering["organizations"]
    return covering[[by, "category", "organizations", "covering", "share"]].sort_values([by, "category"], ignore_index=True)


def export_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV, Parquet or JSON lines, by the file's extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        out = frame.copy()
        for column in out.columns:
            if out[column].map(lambda v: isinstance(v, (list, dict))).any():
                out[column] = out[column].map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)
        out.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix in (".json", ".jsonl"):
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        raise InputError(f"export to .csv, .parquet or .jsonl, not {path.name}")
    return path
