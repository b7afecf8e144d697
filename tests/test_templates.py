"""Template families (MinHash + LSH near-duplicates across organizations) and document similarity."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from policycorpus.cli import cli
from policycorpus.db import open_db

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import add_policy, fill_categories  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
LF_FAMILY = ["cncf-social-media-guidelines", "cdf-social-media-guidelines", "lfph-social-media-guidelines",
             "open-mainframe-project-social-media-guidelines", "knative-social-media-guidelines"]

# Written for these tests: one boilerplate paragraph three organizations adapted, with their own names.
TEMPLATE = ("{o} welcomes posts from its community, but the {o} social team will only share content that is "
            "vendor-neutral, credits its authors and links back to the original source.")
OWN = {
    "Harbor Labs": ["Harbor Labs staff should use their own name when posting about our research.",
                    "Questions about this policy go to the Harbor Labs communications office by email."],
    "Iris Trust": ["Trustees of Iris may not comment on grant decisions before they are published.",
                   "Report fake accounts that pretend to be Iris to the digital team straight away."],
    "Juniper Guild": ["Guild members can share our events, but please do not speak for the Guild to reporters.",
                      "Any account using the Juniper logo must be registered with the web committee first."],
    "Kestrel Clinic": ["Never post anything that could identify a patient, even without a name or a photo.",
                       "Clinic staff must keep their professional registration details off personal profiles."],
}


def corpus(path: Path) -> Path:
    db = open_db(path)
    fill_categories(db)
    for company, own in OWN.items():
        clauses = [(t, "information", []) for t in own]
        if company != "Kestrel Clinic":
            clauses.insert(1, (TEMPLATE.format(o=company.split()[0]), "obligation", ["brand_voice"]))
        add_policy(db, company, clauses)
    return path


def test_family_shared_by_three_companies(tmp_path):
    db_path = corpus(tmp_path / "c.db")
    result = CliRunner().invoke(cli, ["templates", "--json", "-q", "--db", str(db_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    families = json.loads(result.output)
    assert len(families) == 1
    family = families[0]
    assert family["companies"] == ["Harbor Labs", "Iris Trust", "Juniper Guild"]
    assert family["size"] == 3
    assert all(m["text"].endswith("links back to the original source.") for m in family["members"])
    db = open_db(db_path)
    run = db["template_runs"].get(1)
    params = json.loads(run["params"])
    assert params["threshold"] == 0.5 and params["num_perm"] == 128 and params["random_state"] == 0
    assert run["n_families"] == 1 and run["n_clauses"] == 11
    assert db["template_members"].count == 3
    stored = db["template_families"].get(family["id"])
    assert json.loads(stored["companies"]) == family["companies"]
    assert db["clauses"].get(stored["example_clause_id"])["text"] == stored["example"]
    # whole-document similarity: the three template users resemble each other more than Kestrel
    sims = {(r["doc_a"], r["doc_b"]): r["similarity"] for r in db["doc_similarity"].rows}
    assert sims and all(0 <= s <= 1 for s in sims.values())
    doc = {r["name"]: r["id"] for r in db.query("select c.name, d.id from documents d join companies c on c.id = d.company_id")}
    assert sims[(doc["Harbor Labs"], doc["Iris Trust"])] > sims.get((doc["Harbor Labs"], doc["Kestrel Clinic"]), 0.0)
    matrix = tmp_path / "m" / "sim.csv"
    result = CliRunner().invoke(cli, ["templates", "-q", "--matrix", str(matrix), "--db", str(db_path)])
    assert result.exit_code == 0 and "Template pass 2" in result.output
    rows = list(csv.reader(matrix.open()))
    assert len(rows) == 5 and rows[0][:3] == ["document", "url", "Harbor Labs: Harbor Labs policy"]
    assert [rows[i][i + 1] for i in range(1, 5)] == ["1.0000"] * 4


def test_without_name_masking_short_adaptations_fall_apart(tmp_path):
    from analysis.template_families import TemplateFinder

    texts = [TEMPLATE.format(o=o) for o in ("Harbor", "Iris", "Juniper")]
    companies = ["Harbor Labs", "Iris Trust", "Juniper Guild"]
    masked = TemplateFinder(threshold=0.8).fit(texts, companies)
    plain = TemplateFinder(threshold=0.8, mask_names=False).fit(texts, companies)
    assert len(masked.families_) == 1 and masked.families_[0].similarity == [1.0, 1.0, 1.0]
    assert not plain.families_


def test_finder_links_near_duplicates_only():
    from analysis.template_families import TemplateFinder

    base = "members of staff must not share confidential information about clients on any public social network"
    texts = [base, base.replace("clients", "customers"), base + " or forum",
             "the canteen opens at noon and serves soup and bread to every visitor on weekdays",
             "the canteen opens at noon and serves soup and bread to every visitor on weekdays",
             "short text"]
    companies = ["a", "b", "c", "d", "d", "e"]
    finder = TemplateFinder(threshold=0.5, random_state=3).fit(texts, companies)
    assert [sorted(f.members) for f in finder.families_] == [[0, 1, 2]]  # the canteen pair is one company only
    assert finder.families_[0].companies == ["a", "b", "c"]
    assert 5 not in finder.eligible_
    est = dict(zip(map(tuple, finder.pairs_[0]), finder.pairs_[1]))
    assert 0.5 <= est[(0, 1)] < 1.0
    # same data, same seed: same signatures
    again = TemplateFinder(threshold=0.5, random_state=3).fit(texts, companies)
    assert np.array_equal(finder.signatures_, again.signatures_)
    two = TemplateFinder(threshold=0.5, min_companies=1).fit(texts, companies)
    assert sorted(sorted(f.members) for f in two.families_) == [[0, 1, 2], [3, 4]]


def test_minhash_estimates_jaccard():
    from analysis.template_families import TemplateFinder

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(400)]
    a = list(rng.choice(words, 60))
    b = a[:40] + list(rng.choice(words, 20))
    finder = TemplateFinder(shingle_size=1, num_perm=256, bands=64, threshold=0.0, min_words=1).fit(
        [" ".join(a), " ".join(b)], ["x", "y"])
    true = len(set(a) & set(b)) / len(set(a) | set(b))
    est = (finder.signatures_[0] == finder.signatures_[1]).mean()
    assert abs(est - true) < 0.1


def test_huge_bucket_is_linear():
    """Thousands of identical boilerplate clauses: linked in one family without all pairs."""
    from analysis.template_families import TemplateFinder

    n = 3000
    texts = ["this website uses cookies to improve your experience on every page you visit"] * n
    finder = TemplateFinder().fit(texts, [f"c{i}" for i in range(n)])
    assert len(finder.pairs_[0]) < 4 * n
    assert len(finder.families_) == 1 and len(finder.families_[0].members) == n


def test_document_similarity():
    from analysis.template_families import document_similarity

    sims = document_similarity(["employees must not share secrets online", "employees must not share secrets at all",
                                "the canteen serves soup"])
    assert sims.shape == (3, 3) and np.allclose(np.diag(sims), 1)
    assert sims[0, 1] > 0.3 > sims[0, 2]
    assert np.allclose(sims, sims.T)


def _policycorpus(*args, cwd):
    return subprocess.run([sys.executable, "-m", "policycorpus", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "POLICYCORPUS_DB": ""})


@pytest.mark.skipif(not (SHARED / "realcorpus" / "texts").is_dir(), reason="shared/realcorpus is not beside the checkout")
def test_realcorpus_linux_foundation_family(tmp_path):
    """import-docs + segment of the real policies: one template family spans the five LF guidelines."""
    from policycorpus.cli import COMMANDS

    db = tmp_path / "real.db"
    imported = _policycorpus("import-docs", SHARED / "realcorpus" / "texts", "--db", db, cwd=ROOT)
    assert imported.returncode == 0, imported.stderr
    segmented = _policycorpus("segment", "--db", db, cwd=ROOT)
    assert segmented.returncode == 0, segmented.stderr
    result = _policycorpus("templates", "--json", "-q", "--db", db, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    families = json.loads(result.stdout)
    conn = open_db(db)
    # documents.url is the policy's public source (its repository URL) when known; the file name is kept apart
    files = {r["name"]: [d["file_name"] for d in conn.query("select file_name from documents where company_id = ?",
                                                            [r["id"]])]
             for r in conn["companies"].rows}

    def stem_of(company):
        return {Path(f).stem for f in files[company] if f}

    lf = set(LF_FAMILY)
    spanning = [f for f in families if lf <= set().union(*(stem_of(c) for c in f["companies"]))]
    assert spanning, [f["companies"] for f in families]
    # the shared clauses are the LF's own, not generic phrases found everywhere
    best = spanning[0]
    assert len(best["companies"]) <= 6
    assert "import-docs" in COMMANDS


def test_demo_template_family_is_found(demo_corpus):
    """The demo web plants a family of model paragraphs adapted by several companies (sites.yaml: template_family)."""
    import yaml

    sites = yaml.safe_load((ROOT / "demo" / "web" / "sites.yaml").read_text(encoding="utf-8"))["sites"]
    planted: dict[str, set] = {}
    for site in sites:
        if site.get("template_family"):
            planted.setdefault(site["template_family"], set()).add(site["name"])
    assert planted and all(len(members) >= 3 for members in planted.values())
    result = CliRunner().invoke(cli, ["templates", "--json", "-q", "--db", str(demo_corpus)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    families = json.loads(result.output)
    for name, members in planted.items():
        matching = [f for f in families if set(f["companies"]) == members]
        assert matching, (name, [f["companies"] for f in families])
    # no family mixes the planted members with unrelated companies on their shared paragraphs
    assert all(len(f["companies"]) <= max(len(m) for m in planted.values()) for f in families)


def test_demo_cluster_and_plots(demo_corpus, tmp_path):
    runner = CliRunner()
    for args in (["cluster", "-q"], ["templates", "-q"], ["plot", "dendrogram", "-o", str(tmp_path / "dendrogram")],
                 ["plot", "map", "-o", str(tmp_path / "map")],
                 ["plot", "heatmap", "--peer-group", "regional-banks", "-o", str(tmp_path / "heatmap")]):
        result = runner.invoke(cli, [*args, "--db", str(demo_corpus)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    for stem in ("dendrogram", "map", "heatmap"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 5000 and (tmp_path / f"{stem}.svg").exists()
    db = open_db(demo_corpus)
    run = db.execute("select id, n_clusters, n_clauses from cluster_runs order by id desc limit 1").fetchone()
    assert run[1] >= 4 and run[2] > 150
    assert db.execute("select count(*) from cluster_members where run_id = ?", [run[0]]).fetchone()[0] == run[2]


def test_name_masking_tokens():
    from analysis.template_families import TemplateFinder, name_tokens

    assert name_tokens("Cloud Native Computing Foundation (LF)") == {"cloud", "native", "computing", "lf", "cncf"}
    assert name_tokens("The Bank of Alder") == {"alder", "bank", "tboa"}  # "ba" is too short to mask
    # capitalised uses are the name; the same word in lower case is ordinary text
    texts = ["Posts by Open Grid staff about open standards should link to the Open Grid blog for context",
             "Posts by Delta Net staff about open standards should link to the Delta Net blog for context"]
    finder = TemplateFinder(threshold=0.9).fit(texts, ["Open Grid", "Delta Net"])
    assert len(finder.families_) == 1 and finder.families_[0].similarity == [1.0, 1.0]


def test_template_groups_and_summary(tmp_path):
    from analysis.template_families import template_groups

    families = [{"companies": ["a", "b", "c"], "size": 3}, {"companies": ["a", "b"], "size": 2},
                {"companies": ["a", "b", "c"], "size": 4}]
    assert template_groups(families) == [{"companies": ["a", "b", "c"], "families": 2, "clauses": 7},
                                         {"companies": ["a", "b"], "families": 1, "clauses": 2}]
    db_path = corpus(tmp_path / "c.db")
    result = CliRunner().invoke(cli, ["templates", "-q", "--db", str(db_path)], catch_exceptions=False)
    assert "3 organizations share 1 template clause(s): Harbor Labs, Iris Trust, Juniper Guild" in result.output


def test_templates_errors(tmp_path):
    db_path = tmp_path / "empty.db"
    open_db(db_path)
    result = CliRunner().invoke(cli, ["templates", "--db", str(db_path)])
    assert result.exit_code == 1 and "no clauses" in result.output
    result = CliRunner().invoke(cli, ["templates", "--num-perm", "100", "--bands", "32", "--db", str(db_path)])
    assert result.exit_code == 1 and "does not divide" in result.output
