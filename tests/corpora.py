"""Corpora the tests build: a small hand-made corpus with a known grid, and the demo web crawled for real.

A helper module, not a test module: tests get these through the fixtures of tests/conftest.py
(``corpus``, ``demo_corpus``, ``demo_db``) or call the builders directly.
"""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from policycorpus.companies import ensure_company
from policycorpus.db import open_db
from policycorpus.store import Fetched, save_document
from policycorpus.structure import Block

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = '<script>alert("x")</script> Never post <b>customer</b> data.'
FORMULA = '=HYPERLINK("http://evil.example/","click")'

# company -> list of (text, modality, [categories]); written for these tests.
POLICIES = {
    "Acme Bank": [
        ("This policy applies to all Acme employees and contractors, on or off duty.", "obligation", ["scope"]),
        ("Only the communications team may speak for Acme to the press.", "prohibition", ["spokesperson"]),
        ("Do not share confidential customer or financial information online.", "prohibition", ["confidentiality"]),
        ("Be respectful; harassment and discrimination are never acceptable.", "prohibition", ["respect"]),
        ("Violations may lead to disciplinary action up to and including termination.", "information", ["consequences"]),
        ("When you mention Acme, say that the views you post are your own and not those of your employer.", "obligation", ["disclosure"]),
    ],
    "Bolt Bank": [
        ("These guidelines cover every Bolt employee who uses social media.", "information", ["scope"]),
        ("Refer journalists and analysts to the press office.", "obligation", ["spokesperson"]),
        ("You must not disclose non-public financial results.", "prohibition", ["confidentiality"]),
        ("Treat colleagues and customers with courtesy in every post.", "recommendation", ["respect"]),
        ("We encourage you to share Bolt news with your network.", "recommendation", ["participation"]),
        ("When you mention Bolt, say that the views you post are your own and not those of your employer.", "obligation", ["disclosure"]),
        (SCRIPT, "prohibition", ["privacy"]),
    ],
    "Cobalt Credit": [
        ("This policy is for all staff of Cobalt and its subsidiaries.", "information", ["scope"]),
        ("Keep internal plans and unreleased products private.", "obligation", ["confidentiality"]),
        ("Use strong passwords and two-factor authentication on official accounts.", "obligation", ["security"]),
        ("Breaches of this policy will be handled under the disciplinary procedure.", "information", ["consequences"]),
        ("When you mention Cobalt, say that the views you post are your own and not those of your employer.", "obligation", ["disclosure"]),
        (FORMULA, "information", ["training"]),
    ],
    "Delta Savings": [
        ("All Delta employees are covered by this policy.", "information", ["scope"]),
        ("Do not post anything confidential about Delta or its clients.", "prohibition", ["confidentiality"]),
        ("You may use social media during breaks on your own device.", "permission", ["work_time_use"]),
        ("Report abusive comments about Delta to the social team.", "obligation", ["reporting"]),
    ],
    "Echo Union": [
        ("This guidance applies to Echo staff, volunteers and agencies.", "information", ["scope"]),
        ("Never reveal member account details or internal figures.", "prohibition", ["confidentiality"]),
        ("Political campaigning on official Echo channels is not permitted.", "prohibition", ["political"]),
        ("Nothing in this policy limits your right to discuss pay and working conditions.", "information", ["employee_rights"]),
    ],
}


def fill_categories(db) -> None:
    """The categories table from the project's taxonomy (the taxonomy package's sync if it exists)."""
    try:
        from taxonomy.pipeline import sync_categories
    except ImportError:
        data = yaml.safe_load((ROOT / "taxonomy" / "taxonomy.yaml").read_text(encoding="utf-8"))
        groups = data["groups"]
        rows = [
            {
                "id": c["id"],
                "name": c.get("name", c["id"]),
                "group_name": c["group"],
                "group_order": groups.index(c["group"]),
                "position": i,
                "description": c.get("description", ""),
            }
            for i, c in enumerate(data["categories"])
        ]
        db["categories"].insert_all(rows, pk="id", replace=True)
    else:
        sync_categories(db)


def add_policy(db, company: str, clauses: list[tuple[str, str, list[str]]], *, url: str | None = None,
               fetched_at: str = "2026-03-01T10:00:00+00:00", model_version: str = "test-1") -> int:
    """Store a policy document (real save_document) and its clause and tag rows; returns the snapshot id."""
    company_id = ensure_company(db, company, peer_groups=json.dumps(["banks"]))
    blocks = [Block("heading", f"{company} social media policy", 1)] + [Block("paragraph", t) for t, _, _ in clauses]
    url = url or f"https://{company.lower().replace(' ', '-')}.example/social-media-policy"
    result = save_document(db, company_id, Fetched(url, b"<html>raw</html>", "text/html", blocks, title=f"{company} policy",
                                                   http_status=200, extractor="test", fetched_at=fetched_at))
    snapshot = db["snapshots"].get(result.snapshot_id)
    spans = json.loads(snapshot["structure"])
    with db.conn:
        heading_id = db["clauses"].insert({
            "snapshot_id": result.snapshot_id, "document_id": result.document_id, "company_id": company_id,
            "position": 0, "kind": "heading", "text": spans[0]["text"], "span_start": spans[0]["start"],
            "span_end": spans[0]["end"], "segmenter_version": "seg-test"}).last_pk
        assert heading_id
        for position, ((text, modality, cats), span) in enumerate(zip(clauses, spans[1:]), start=1):
            clause_id = db["clauses"].insert({
                "snapshot_id": result.snapshot_id, "document_id": result.document_id, "company_id": company_id,
                "position": position, "kind": "clause", "heading_path": spans[0]["text"], "text": span["text"],
                "span_start": span["start"], "span_end": span["end"], "segmenter_version": "seg-test",
                "modality": modality, "modality_score": 0.9, "model_version": model_version}).last_pk
            for rank, cat in enumerate(cats):
                db["tags"].insert({"clause_id": clause_id, "category": cat, "score": 0.9 - 0.1 * rank,
                                   "model_version": model_version})
    return result.snapshot_id


def run_cli(*args, ok=True):
    """A policycorpus command in-process (click's runner); asserts success unless ok=False."""
    from click.testing import CliRunner

    from policycorpus.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def build_corpus(path: Path, policies: dict = POLICIES) -> Path:
    db = open_db(path)
    fill_categories(db)
    for company, clauses in policies.items():
        add_policy(db, company, clauses)
    return path


# ------------------------------------------------------------------ the demo corpus, crawled for real

SITES_YAML = ROOT / "demo" / "web" / "sites.yaml"
_DEMO: dict = {}


def _policycorpus(*args):
    result = subprocess.run([sys.executable, "-m", "policycorpus", *map(str, args)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"policycorpus {args[0]}: {result.stderr[-2000:]}"
    return result


def build_demo_crawl(tmp_path_factory):
    """The demo web crawled once (generation 1), segmented and tagged; shared by the analysis test modules."""
    if "db" not in _DEMO:
        from demo.webserver import DemoWeb

        tmp = tmp_path_factory.mktemp("demo")
        db = tmp / "corpus.db"
        with DemoWeb(port=0, generation=1) as web:
            csv_path = web.write_companies_csv(tmp / "companies.csv")
            _policycorpus("companies", "import", csv_path, "--db", db)
            _policycorpus("crawl", "--allow-private", "-q", "--db", db)
        _policycorpus("segment", "--db", db)
        _policycorpus("tag", "--db", db)
        _DEMO["db"] = db
    return _DEMO["db"]


def demo_expectations(peer_group: str | None = None, generation: int = 1) -> dict[str, tuple[set, set]]:
    """company name -> (expected categories, absent categories) of its policies in that generation."""
    sites = yaml.safe_load(SITES_YAML.read_text(encoding="utf-8"))["sites"]
    out = {}
    for site in sites:
        if peer_group and site.get("peer_group") != peer_group:
            continue
        policies = [p for p in site.get("policies") or [] if generation in p.get("generation", [])]
        if policies:
            out[site["name"]] = (set().union(*(set(p.get("expected_categories", [])) for p in policies)),
                                 set().union(*(set(p.get("absent_categories", [])) for p in policies)))
    return out


_BUILT: dict[str, Path] = {}


def _run(*args: str) -> None:
    """A policycorpus command in its own process (Scrapy's reactor cannot run twice in one)."""
    result = subprocess.run([sys.executable, "-m", "policycorpus", *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"policycorpus {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def build_demo_corpus(tmp_path_factory) -> Path:
    """The demo web crawled twice (its changing policy in between), segmented, tagged, templates found; once per session."""
    if "db" in _BUILT:
        return _BUILT["db"]
    from demo.webserver import DemoWeb

    tmp = tmp_path_factory.mktemp("demo-corpus")
    db = tmp / "corpus.db"
    with DemoWeb(port=0, generation=1) as web:
        _run("companies", "import", str(web.write_companies_csv(tmp / "companies.csv")), "--db", str(db))
        _run("crawl", "--allow-private", "--db", str(db))
        web.set_generation(2)
        _run("crawl", "--allow-private", "--db", str(db))
    _run("segment", "--db", str(db))
    _run("tag", "--db", str(db))
    _run("templates", "--db", str(db))
    from publish.server import prepare_database

    prepare_database(db)
    _BUILT["db"] = db
    return db


# ------------------------------------------------------------------ clause types for clustering tests

CLUSTER_TYPES = {
    "confidentiality": ("prohibition", [
        "Do not disclose {a} {b} on social media.",
        "Never post {a} {b} online, even in closed groups.",
        "Keep {a} {b} confidential when you post.",
    ], {"a": ["confidential", "internal", "unreleased", "secret"], "b": ["figures", "plans", "product roadmaps", "client lists"]}),
    "security": ("obligation", [
        "Protect the {a} account with {b}.",
        "Turn on {b} for every {a} account you manage.",
        "Use {b} to secure the {a} login.",
    ], {"a": ["official", "team", "brand", "company"], "b": ["two-factor authentication", "a password manager", "strong passwords"]}),
    None: ("information", [
        "Parking spaces in the {a} garage are reserved for {b}.",
        "The {a} car park closes early for {b}.",
        "Bicycle parking near the {a} entrance is free for {b}.",
    ], {"a": ["north", "south", "visitor", "staff"], "b": ["visitors", "night shifts", "deliveries", "guests"]}),
}
CLUSTER_COMPANIES = ["Lumen Co", "Maple Works", "Nimbus Ltd", "Orbit Group", "Pylon Inc", "Quartz AG"]


def clause_texts(seed: int = 0):
    rng = random.Random(seed)
    by_company = {c: [] for c in CLUSTER_COMPANIES}
    for category, (modality, patterns, words) in CLUSTER_TYPES.items():
        combos = [p.format(a=a, b=b) for p in patterns for a, b in itertools.product(words["a"], words["b"])]
        rng.shuffle(combos)
        for i, text in enumerate(combos[:30]):
            by_company[CLUSTER_COMPANIES[i % len(CLUSTER_COMPANIES)]].append((text, modality, [category] if category else []))
    return by_company


# ------------------------------------------------------------------ office files of the consultant's reports

def check_office_files(docx_path: Path, pptx_path: Path, tmp: Path) -> None:
    """Both open with their libraries and convert to PDF with headless LibreOffice without error."""
    from docx import Document
    from pptx import Presentation
    from pypdf import PdfReader

    doc = Document(docx_path)
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    assert "Summary" in headings and "Appendix: the grid" in headings
    assert doc.tables and len(doc.tables[0].rows) > 10
    deck = Presentation(pptx_path)
    titles = [s.shapes.title.text for s in deck.slides if s.shapes.title is not None]
    assert titles[0] == "Social media policy comparison" and any(t.startswith("Coverage at a glance") for t in titles)
    assert sum(t.endswith("wording side by side") for t in titles) == 7  # one per taxonomy group
    for path in (docx_path, pptx_path):
        outdir = tmp / f"lo-{path.suffix[1:]}"
        outdir.mkdir(exist_ok=True)
        result = subprocess.run([shutil.which("soffice") or "libreoffice", f"-env:UserInstallation={(tmp / 'lo-profile').as_uri()}", "--headless",
                                 "--convert-to", "pdf", "--outdir", str(outdir), str(path)],
                                capture_output=True, text=True, timeout=300)
        pdf = outdir / (path.stem + ".pdf")
        assert result.returncode == 0 and pdf.is_file(), result.stderr[-1000:]
        assert len(PdfReader(pdf).pages) >= 2
