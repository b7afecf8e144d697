"""Every analysis result as a pandas DataFrame; clauses worth clustering; `cluster --export`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import analysis
from analysis.clause_filter import rejection, select_clauses
from analysis.corpus import current_clauses
from policycorpus.cli import cli
from policycorpus.db import open_db
from policycorpus.duplicates import link_duplicates

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import (  # noqa: E402
    add_policy,
    clause_texts,  # noqa: E402
    fill_categories,
)


@pytest.fixture
def corpus(tmp_path) -> Path:
    db = open_db(tmp_path / "c.db")
    fill_categories(db)
    for n, (company, clauses) in enumerate(clause_texts().items()):
        add_policy(db, company, clauses, fetched_at=f"202{4 + n % 2}-03-01T10:00:00+00:00")
    db["companies"].update(1, {"industry": "banking"})
    return tmp_path / "c.db"


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_every_result_is_a_dataframe(corpus, tmp_path):
    db = open_db(corpus)
    clauses = analysis.load_clauses(db)
    assert isinstance(clauses, pd.DataFrame) and len(clauses) == 90
    assert {"clause_id", "clause_key", "company", "industry", "year", "text", "categories", "peer_groups"} <= set(clauses.columns)
    assert clauses["categories"].map(len).sum() == 60  # the 30 parking clauses carry no category
    out = tmp_path / "members.csv"
    invoke("cluster", "-q", "--k-min", "2", "--k-max", "6", "--export", out, "--db", corpus)
    exported = pd.read_csv(out)
    members = analysis.cluster_members(db)
    assert len(exported) == len(members) == 90
    assert set(exported["clause_id"]) == set(clauses["clause_id"])
    assert (exported["cluster_label"].notna()).all() and "text" in exported.columns
    summaries = analysis.cluster_summaries(db)
    assert summaries["size"].sum() == 90 and summaries["share"].sum() == pytest.approx(1.0)
    assert {"cohesion", "novel", "top_category", "category_overlap"} <= set(summaries.columns)
    # shares per class add up to one within each class
    by_industry = analysis.clusters_per_class(db, by="industry")
    assert set(by_industry["industry"]) == {"banking", "(none)"}
    assert by_industry.groupby("industry")["share"].sum().tolist() == pytest.approx([1.0, 1.0])
    over_time = analysis.clusters_over_time(db)
    assert set(over_time["year"]) == {2024, 2025}
    assert over_time["clauses"].sum() == 90
    by_group = analysis.clusters_per_class(db, by="peer_group")
    assert set(by_group["peer_group"]) == {"banks"}
    coverage = analysis.coverage_by_class(db, by="industry")
    row = coverage[(coverage["industry"] == "banking") & (coverage["category"] == "security")]
    assert len(row) == 1 and row["organizations"].iloc[0] == 1
    invoke("templates", "-q", "--db", corpus)
    families = analysis.template_family_members(db)
    assert isinstance(families, pd.DataFrame)
    sims = analysis.document_similarity(db)
    assert sims.shape == (6, 6) and (sims.to_numpy().diagonal() == 1).all()
    parquet = analysis.export_frame(members, tmp_path / "m.parquet")
    assert len(pd.read_parquet(parquet)) == 90


def test_json_and_novel_export(corpus, tmp_path):
    result = invoke("cluster", "-q", "--clusters", "3", "--json", "--export-novel", tmp_path / "n.yaml",
                    "--db", corpus)
    clusters = json.loads(result.stdout)
    novel = [c for c in clusters if c["novel"]]
    assert all(c["category_overlap"] < 0.5 and len(c["companies"]) >= 3 for c in novel)
    # the parking clauses: a clause type of six organizations that no category covers
    assert len(novel) == 1 and {"parking", "car", "bicycle"} & set(novel[0]["terms"])
    text = (tmp_path / "n.yaml").read_text()
    assert text.count("- id: candidate_") == len(novel)


def test_what_is_worth_clustering():
    for junk in ["| Platform | Owner | Followers |", "https://example.org/social-media-guidelines/v2",
                 "Engagement rate: 4.5%", "Version 3.1, last updated 2021-04-06",
                 "Smith, J. (2020) Social media at work. Retrieved from the intranet.",
                 "Contact us", "12 345 678 90 11 12 13 14 15",
                 "3.2: the new dashboard feature on LinkedIn (4,100 views, 35 reactions)"]:
        assert rejection(junk) is not None, junk
    # a sample post quoted in a guide and a row of short table cells are not clauses either
    assert rejection("Great talks today at #OpenDayBerlin with @riverdocs and friends, slides soon") == "sample_post"
    assert rejection("Join the livestream at https://bit.ly/3xYz #harbourconf") == "sample_post"
    assert rejection("Mastodon | @harbour@social.example | Community news") == "table_cells"
    for clause in ["Do not share confidential client information on social media.",
                   "Ask the communications team before you speak to journalists about our work.",
                   "Mention @harbour in posts about the release and add the #HarbourDocs hashtag.",
                   "Defamation | posting untrue statements that damage the reputation of a person or a company"]:
        assert rejection(clause) is None, clause


def test_duplicate_documents_and_per_org_cap(tmp_path):
    db = open_db(tmp_path / "d.db")
    fill_categories(db)
    texts = clause_texts()
    for company, clauses in texts.items():
        add_policy(db, company, clauses)
    # the same policy imported twice (say Markdown and HTML) by one organization
    add_policy(db, "Lumen Co", texts["Lumen Co"][:-1], url="https://lumen-co.example/policy.html")
    link_duplicates(db)
    # the corpus links the copy to the policy it duplicates: current_clauses counts it once
    status = {r["url"]: r for r in db.query("select url, counted, duplicate_of from document_status")}
    assert status["https://lumen-co.example/policy.html"]["counted"] == 0
    assert len(current_clauses(db)) == 90
    # select_clauses still drops a copy the corpus has not linked (say one from before links were made)
    db.execute("update documents set duplicate_of = null")
    clauses = current_clauses(db)
    assert len(clauses) == 90 + 14
    selection = select_clauses(clauses)
    assert len(selection.clauses) == 90 and selection.removed["duplicate_document"] == 14
    assert len(selection.duplicate_documents) == 1
    capped = select_clauses(clauses, max_per_org=5)
    assert len(capped.clauses) == 30 and capped.capped == {c: 10 for c in texts}
    assert len(select_clauses(clauses, dedupe_documents=False).clauses) == 104
