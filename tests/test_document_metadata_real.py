"""Titles, policy dates, languages and duplicates of the real policies of ../shared/realcorpus, imported with their
INDEX.tsv, and of a page crawled from a local web server (its HTTP Last-Modified).

The expected titles and dates below were read from the documents by hand: the title each document gives itself
(front matter, page title, document-control field, top heading) and the dates it states about itself, never a
date of a section or a plan ("Next review date"). A document that states no date expects None.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from click.testing import CliRunner
from conftest import SHARED, require_shared

from policycorpus.cli import cli

REALCORPUS = SHARED / "realcorpus"
METADATA = Path(__file__).resolve().parents[1] / "publish" / "site" / "metadata.yml"

# file -> (title, policy date, its kind, where it was read) as the document states them
EXPECTED = {
    "texts/apache-wave-social-media-guidelines.rst": ("Social Media GuideLines", None),
    "texts/boost-tweeting-guidelines.adoc": ("Tweeting", None),
    "texts/cdf-social-media-guidelines.md": ("CDF Social Media Guidelines", None),
    "texts/civicactions-social-media.md": ("Social Media", None),
    "texts/civictechwr-social-media-guidelines.md": ("Social Media Guidelines", None),
    "texts/cncf-social-media-guidelines.md": ("CNCF Social Media Guidelines", None),
    "texts/cultivate-uk-social-media-policy.md": ("Social media policy", None),
    "texts/cyber-ask-ltd-social-media-external-comms-policy.md": (
        "Social Media and External Communications Policy", ("2025-10-05", "updated", "text")),  # revision history
    "texts/deeson-social-media-policy.md": ("Employee social media policy", None),
    "texts/django-dsf-social-media-working-group.md": ("Social Media Working Group", None),
    "texts/dxw-social-media-platforms-we-use.md": (
        "Social media platforms we use", ("2025-05-16", "reviewed", "front matter")),
    "texts/fordham-university-social-media-policy.md": ("Fordham University Social Media Policy", None),
    "texts/forwards-r-social-media-policy.md": ("Social Media Policy", ("2025-04-02", "updated", "text")),
    # its "Last updated 2024-11-11" dates one list halfway down, not the page
    "texts/gitlab-developer-advocacy-social-media.md": ("Developer Advocacy on Social Media", None),
    "texts/gitlab-social-media-guidelines-2017-via-hackerbay.md": ("Social Media Guidelines", None),
    "texts/gitlab-team-member-social-advocacy.md": ("Team Member Social Media Advocacy", None),
    "texts/gsa-tts-18f-social-media.md": ("Social media", None),
    "texts/hypha-coop-social-media-policy.md": ("Social Media & External Communication Policy", None),
    "texts/japan-digital-agency-social-media-policy.md": ("ソーシャルメディア", ("2021-08-31", "updated", "text")),
    "texts/jupyter-media-strategy-charter.md": ("Jupyter Media Strategy Working Group", None),
    "texts/knative-social-media-guidelines.md": ("Knative Social Media Guidelines", None),
    "texts/kubernetes-contributor-social-guidelines.md": ("Social media guidelines", None),
    "texts/kubernetes-social-media-role-handbook.md": ("Social Media Role Handbook", None),
    "texts/lfph-social-media-guidelines.md": ("LFPH Social Media Guidelines", None),
    "texts/linux-australia-communications-policy.md": ("Communications Policy", None),
    "texts/manordeilo-salem-community-council-online-policy.php": (
        "Manordeilo & Salem Community Council Online Policy", None),
    "texts/manordeilo-salem-community-council-online-strategy.php": (
        "Manordeilo & Salem Community Council Online Strategy", None),
    "texts/mattermost-social-engagement-guidelines.md": ("Social engagement guidelines", None),
    "texts/nodejs-social-team.md": ("Social Team", None),
    "texts/north-coast-church-social-media-acceptable-use.md": ("Social Media Acceptable Use", None),
    "texts/open-mainframe-project-social-media-guidelines.md": ("Open Mainframe Project Social Media Guidelines", None),
    "texts/opentelemetry-social-media-guide.md": ("Social Media Guide", None),
    "texts/operate-first-social-media-guide.md": ("Social media guide", None),
    "texts/opus-works-social-networking-policy.md": ("Social Networking Policy", None),
    "texts/p2pu-speaking-for-p2pu.md": ("Speaking for P2PU", None),
    # the front matter with a last_modified date inside it is an example in a code block, not this page's
    "texts/pyopensci-communication-social-media.md": ("Communication & Social Media", None),
    "texts/pyopensci-social-media-platforms.md": ("pyOpenSci Social Media Platforms", None),
    "texts/rladies-chapter-social-media-guide.md": ("Social Media Guide for Chapters", None),
    "texts/rladies-global-social-media-management.md": ("Social Media Management", None),
    "texts/sourcegraph-social-media.md": ("Social Media", None),
    "texts/stonybrook-social-media-guidelines.php": ("Social Media Guidelines", None),
    "texts/swifty-global-isms-social-media-policy.md": ("ISMS-DOC-A05-5 Social Media Policy", None),
    "texts/ucd-social-media-policy-colleges-schools.md": (
        "Social Media Policy for Colleges, Schools, Institutes and Units", ("2025-04-17", "updated", "text")),
    # the running page header says "Social Media Policy"; its document-control table names it; "Next review
    # date: March 2020" is a plan
    "texts/univ-manchester-social-media-staff-policy.md": (
        "Social Media (Staff) Policy", ("2019-03", "updated", "text")),
    "texts/us-iale-social-media-guidelines.md": ("Social Media/New Media Guidelines", None),
    "texts/wehi-rcp-social-media-policy.md": (
        "Social Media Policy for students in the RCP Student Internship Program", None),
    "texts/world-ia-day-social-media-guide.md": ("Social Media Guide", None),
    # its front matter's title is "untitled-page" and its text names no title; last-edited-time is its update
    "texts/wrap-uk-social-media-policy.md": (None, ("2025-07-02", "updated", "front matter")),
    "pages/civictechwr-social-media-guidelines-page.html": ("Social Media Guidelines", None),
    "pages/csumb-social-media-guidelines.html": ("Social Media Guidelines", ("2013-04-09", "updated", "page metadata")),
    "pages/hypha-coop-social-media-policy-page.html": ("Social Media & External Communication Policy", None),
    "pages/sga-sustainable-growth-advisers-social-media-guidelines.html": ("Social Media Guidelines", None),
    "negatives/city-of-madera-social-media-policy-page.html": ("Madera", None),
    "negatives/damn-good-security-social-media-policy-satire.html": ("Social Media Policy", None),
    "negatives/elite-entertainment-events-social-media-policy.html": ("Social Media Policy", None),
    "negatives/stonybrook-alumni-social-posting-policy.php": ("Social Media Policy", None),
    # negatives/socialgov-federal-policy-toolkit-outline.md states no title (an outline whose first heading is
    # its first section): not listed
}
# every other date a document states about itself, beside its policy date
OTHER_DATES = {
    "texts/japan-digital-agency-social-media-policy.md": {("2021-04-27", "published"), ("2021-04-28", "updated")},
    "texts/wrap-uk-social-media-policy.md": {("2025-03-24", "published")},
    "pages/csumb-social-media-guidelines.html": {("2013-04-03", "published")},
}


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def real_corpus(tmp_path_factory) -> Path:
    require_shared(REALCORPUS / "INDEX.tsv", "the real policies of shared/realcorpus")
    db_path = tmp_path_factory.mktemp("real") / "corpus.db"
    run("import-docs", REALCORPUS / "texts", REALCORPUS / "pages", REALCORPUS / "negatives",
        "--sidecar", REALCORPUS / "INDEX.tsv", "--db", db_path, "-q")
    run("segment", "--db", db_path)
    from policycorpus.db import open_db
    from publish.summary import refresh_summaries
    from taxonomy.pipeline import sync_categories

    db = open_db(db_path)
    sync_categories(db)  # the taxonomy, as `tag` would store it (coverage is counted without tags here)
    refresh_summaries(db, force=True)
    db.conn.close()
    return db_path


def documents(db_path: Path) -> dict[str, dict]:
    db = sqlite_utils.Database(db_path)
    rows = db.query("""select d.file_name, d.title, s.policy_date, s.policy_date_kind, s.policy_date_source,
                              s.policy_dates, ds.language, ds.counted, ds.status, ds.duplicate_of_key, d.key
                       from documents d join snapshots s on s.id = d.latest_snapshot_id
                       join document_status ds on ds.document_id = d.id""")
    index = {Path(f).name: f for f in EXPECTED} | {"socialgov-federal-policy-toolkit-outline.md": "negatives/socialgov"}
    return {index[r["file_name"]]: r for r in rows}


def test_titles_and_dates_as_the_documents_state_them(real_corpus):
    import json

    found = documents(real_corpus)
    wrong = []
    for file, (title, dated) in EXPECTED.items():
        row = found[file]
        got = (row["policy_date"], row["policy_date_kind"], (row["policy_date_source"] or "").split(":")[0]) \
            if row["policy_date"] else None
        if row["title"] != title or got != dated:
            wrong.append(f"{file}: title {row['title']!r} (expected {title!r}), date {got} (expected {dated})")
        others = {(d["date"], d["kind"]) for d in json.loads(row["policy_dates"] or "[]")} - {dated[:2] if dated else None}
        if others != OTHER_DATES.get(file, set()):
            wrong.append(f"{file}: other dates {sorted(others)} (expected {sorted(OTHER_DATES.get(file, set()))})")
    assert not wrong, "\n".join(wrong)


def test_languages_and_the_japanese_policy_not_tagged(real_corpus):
    found = documents(real_corpus)
    japanese = found["texts/japan-digital-agency-social-media-policy.md"]
    assert (japanese["language"], japanese["counted"], japanese["status"]) == ("ja", 0, "not tagged: language ja")
    assert {f for f, r in found.items() if r["language"] != "en"} == {"texts/japan-digital-agency-social-media-policy.md"}
    db = sqlite_utils.Database(real_corpus)
    queries = next(iter(yaml.safe_load(METADATA.read_text(encoding="utf-8"))["databases"].values()))["queries"]
    coverage = list(db.query(queries["coverage_by_category"]["sql"]))
    # n: the organizations with clauses, less the Japanese agency (its clauses are segmented, but not counted)
    with_clauses = db.execute("select count(distinct company_id) from current_segments where kind = 'clause'"
                              ).fetchone()[0]
    assert db.execute("select count(*) from current_segments where kind = 'clause' and company_id = "
                      "(select company_id from document_status where language = 'ja')").fetchone()[0] > 0
    assert {(r["of_companies"], r["not_tagged"]) for r in coverage} == {(with_clauses - 1, 1)}
    lacking = list(db.query(queries["companies_lacking"]["sql"], {"category": "confidentiality"}))
    assert lacking[-1]["company"] == "Digital Agency of Japan (デジタル庁)"
    assert lacking[-1]["state"] == "not tagged: language ja"


def test_the_same_policy_as_a_text_and_a_page_counts_once(real_corpus):
    found = documents(real_corpus)
    for text, page in (("texts/hypha-coop-social-media-policy.md", "pages/hypha-coop-social-media-policy-page.html"),
                       ("texts/civictechwr-social-media-guidelines.md",
                        "pages/civictechwr-social-media-guidelines-page.html")):
        pair = [found[text], found[page]]
        assert sorted(r["counted"] for r in pair) == [0, 1], (text, page)
        kept = next(r for r in pair if r["counted"])
        copy = next(r for r in pair if not r["counted"])
        assert copy["duplicate_of_key"] == kept["key"] and copy["status"].startswith("duplicate of ")
    # no other document is anyone's duplicate: other policies of one organization stay apart
    assert sum(not r["counted"] for r in found.values()) == 3  # the two copies and the Japanese policy
    db = sqlite_utils.Database(real_corpus)
    hypha = db.execute("select id from companies where name like 'Hypha%'").fetchone()[0]
    assert db.execute("select count(*) from policy_stats where company_id = ?", [hypha]).fetchone()[0] == 1


# ------------------------------------------------------------------ a crawled page

POLICY_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Staff social media policy - Larkfield Veterinary Group</title></head><body>
<nav><a href="/">Home</a> <a href="/careers">Careers</a></nav>
<main><h1>Staff social media policy</h1>
<p>This policy applies to every employee of Larkfield Veterinary Group who uses social media, at work or privately.</p>
<h2>Personal accounts</h2>
<ul><li>Make clear that the views you post are your own and not those of the practice.</li>
<li>Never post photographs of clients' animals or details of their treatment without written consent.</li>
<li>Do not share confidential information about clients, colleagues or the practice.</li></ul>
<h2>Official accounts</h2>
<p>Only the marketing team may post on the practice's official social media accounts. Ask them before you create
an account that uses the practice's name or logo.</p>
<h2>Reporting</h2>
<p>Report abusive comments about the practice or its staff to your line manager. Breaches of this social media
policy may lead to disciplinary action.</p></main></body></html>"""
HOME_PAGE = """<!doctype html><html lang="en"><head><title>Larkfield Veterinary Group</title></head><body>
<p>Caring for pets in Larkfield since 1990.</p><a href="/policies/social-media-policy">Social media policy</a>
</body></html>"""
LAST_MODIFIED = "Wed, 14 Feb 2024 09:30:00 GMT"


class Site(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        pages = {"/": (HOME_PAGE, {}), "/policies/social-media-policy": (POLICY_PAGE, {"Last-Modified": LAST_MODIFIED})}
        body, headers = pages.get(self.path, ("not found", {}))
        self.send_response(200 if self.path in pages else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for name, value in headers.items():
            self.send_header(name, value)
        data = body.encode("utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_crawled_page_dated_by_its_last_modified_header(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.61", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.61:{server.server_address[1]}"
        (tmp_path / "c.csv").write_text(f"name,homepage\nLarkfield Veterinary Group,{base}/\n", encoding="utf-8")
        db_path = tmp_path / "c.db"
        run("companies", "import", tmp_path / "c.csv", "--db", db_path)
        crawl = subprocess.run([sys.executable, "-m", "policycorpus", "crawl", "--allow-host", "127.0.0.61", "-q",
                                "--db", str(db_path)], capture_output=True, text=True, timeout=300)
        assert crawl.returncode == 0, crawl.stderr[-2000:]
    finally:
        server.shutdown()
    db = sqlite_utils.Database(db_path)
    row = next(db.query("select d.title, d.language, s.policy_date, s.policy_date_kind, s.policy_date_source "
                        "from documents d join snapshots s on s.id = d.latest_snapshot_id"))
    assert row == {"title": "Staff social media policy", "language": "en", "policy_date": "2024-02-14",
                   "policy_date_kind": "updated", "policy_date_source": f"HTTP Last-Modified: {LAST_MODIFIED}"}
