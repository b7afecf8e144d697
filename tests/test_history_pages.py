"""The policy history page and the Atom feeds of changes, served by `policycorpus serve`, in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from archive_fixtures import InternetArchiveLike, make_corpus, records

from policycorpus.db import open_db

from commandline import policycorpus

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("history-site")
    db_path = make_corpus(tmp / "corpus.db")
    ia = InternetArchiveLike(records())
    try:
        policycorpus("history", "--archive", ia.url, "--allow-host", "127.0.0.1", "--delay", "0", "--db", db_path)
    finally:
        ia.close()
    policycorpus("segment", "--db", db_path)
    policycorpus("tag", "--db", db_path)
    process = subprocess.Popen([sys.executable, "-m", "policycorpus", "serve", "--db", db_path, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        yield match.group(1), db_path, tmp
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def dump_dom(tmp, url: str) -> str:
    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", "--dump-dom", url],
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no chromium binary installed")
def test_history_page_shows_the_timeline_and_a_clause_diff(served):
    base, db_path, tmp = served
    db = open_db(db_path)
    doc = next(db["documents"].rows_where("url like '%beta%'"))
    html = dump_dom(tmp, f"{base}-/policy/{doc['key']}/history")
    assert html.count('class="pc-version"') == 4
    for day in ("2019-03-15", "2020-05-11", "2021-06-02", "2026-11-30"):
        assert day in html
    assert html.count(">archive") >= 3 and ">crawl" in html
    assert "id_/http://beta.example/community-guidelines" in html  # capture links
    # the default diff: previous version -> current (the crawl added one clause)
    assert 'class="pc-added"' in html and "Report harassment you see online" in html
    v = [r[0] for r in db.execute("select snapshot_id from document_versions where document_id = ? order by since",
                                  [doc["id"]])]
    html = dump_dom(tmp, f"{base}-/policy/{doc['id']}/history?old={v[0]}&new={v[1]}")
    assert 'class="pc-modified"' in html and "<ins>or proprietary </ins>" in html
    assert 'class="pc-added"' in html and "Disclose your employment" in html
    other = next(db["documents"].rows_where("url like '%alpha%'"))
    wrong = dump_dom(tmp, f"{base}-/policy/{doc['id']}/history?old={other['latest_snapshot_id']}&new={v[1]}")
    assert "not of this document" in wrong


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no chromium binary installed")
def test_atom_feeds_of_changes_corpus_wide_and_per_organization(served):
    base, db_path, tmp = served
    import urllib.request

    with urllib.request.urlopen(f"{base}-/changes.atom") as resp:
        assert resp.headers["Content-Type"].startswith("application/atom+xml")
        feed = ET.fromstring(resp.read())
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 11  # Alpha 3 versions, Beta and Gamma 4 each
    summaries = [e.find(f"{ATOM}summary").text for e in entries]
    assert sum("first version" in s for s in summaries) == 3
    with urllib.request.urlopen(f"{base}-/changes.atom?company=beta") as resp:
        beta = ET.fromstring(resp.read())
    assert len(beta.findall(f"{ATOM}entry")) == 4 and "Beta" in beta.find(f"{ATOM}title").text
    dom = dump_dom(tmp, f"{base}-/changes.atom?company=beta")
    assert "1 clauses added, 0 removed" in dom and "2019-03-15" in dom
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{base}-/changes.atom?company=nobody")


def test_coverage_by_year_query_counts_each_organization_once_a_year(served):
    base, db_path, tmp = served
    import json
    import urllib.request

    from analysis.history import coverage_by_year

    with urllib.request.urlopen(f"{base}corpus/coverage_by_year.json?_shape=array&_size=max") as resp:
        rows = json.loads(resp.read())
    assert rows and {r["year"] for r in rows} == set(range(2019, 2027))
    assert all(r["organizations"] <= r["organizations_with_a_policy"] == 3 for r in rows)
    frame = coverage_by_year(open_db(db_path))
    assert {(r["year"], r["category"]): r["organizations"] for r in rows} == {
        (int(y), c): int(n) for y, c, n in frame.itertuples(index=False)}
