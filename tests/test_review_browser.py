"""A review round trip in a real headless Chromium (driven over the DevTools protocol): open the queue for three
companies, confirm a tag, remove one, add one, change a modality by key press; the compare page, the Markdown and
CSV reports and the facets follow; the corpus file is unchanged."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from cdp import CHROMIUM, Browser
from review_corpus import build, file_hash, run

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary installed (apt-get install chromium)")]
COMPANIES = "Harbour Co,Lantern Trust,Quarry Labs"
SCREENSHOTS = os.environ.get("POLICYCORPUS_SCREENSHOTS")  # a folder: keep the screenshots (docs/img)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("review-browser")
    db = build(root)
    process = subprocess.Popen(
        [sys.executable, "-m", "policycorpus", "serve", "--db", str(db), "--port", "0", "--review", "--reviewer",
         "ana"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, f"serve printed {line!r}"
        yield {"db": db, "url": match.group(1), "root": root, "hash": file_hash(db)}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode("utf-8")


def clause_key(base: str, fragment: str) -> str:
    rows = get_json(base + "corpus/current_clauses.json?" + urlencode(
        {"text__contains": fragment, "_shape": "array", "_col": "clause_key"}))
    return rows[0]["clause_key"]


def test_review_round_trip_in_headless_chromium(served, tmp_path):
    base, db = served["url"], served["db"]
    queue_url = base + "-/review?" + urlencode({"companies": COMPANIES})
    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    browser = Browser(tmp_path / "profile")
    try:
        browser.page("Page.enable")
        browser.goto(queue_url)
        progress = browser.js("document.getElementById('pc-progress').textContent")
        checked, flagged = map(int, re.match(r"(\d+) of (\d+) flagged cells checked", progress).groups())
        assert flagged > 0 and checked == 0
        browser.screenshot(shots / "review-queue.png")

        # 1. confirm the first proposed tag of the first queued clause
        first_key = browser.js("document.getElementById('pc-item').dataset.clauseKey")
        confirmed = browser.js("document.querySelector('.pc-review-tags tr[data-category]').dataset.category")
        browser.act("document.querySelector('.pc-review-tags .pc-confirm').click()")
        # the flagged cell is checked with a key press (y = covered) and the progress moves on
        if browser.js("document.getElementById('pc-cell') !== null"):
            browser.press("y")
            progress = browser.js("document.getElementById('pc-progress').textContent")
            assert progress.startswith(f"1 of {flagged} "), progress
        # 2. remove a category
        remove_key = clause_key(base, "Never share customer information")
        browser.goto(queue_url + "&clause=" + remove_key)
        removed = browser.js("document.querySelector('.pc-review-tags tr[data-category]').dataset.category")
        browser.act(f"document.querySelector('tr[data-category=\"{removed}\"] .pc-remove').click()")
        # 3. add a category
        add_key = clause_key(base, "Be kind to colleagues")
        browser.goto(queue_url + "&clause=" + add_key)
        browser.act("document.getElementById('pc-add').value = 'official_accounts';"
                    "document.getElementById('pc-add-button').click()")
        # 4. change a modality with a key press (m = permission)
        modality_key = clause_key(base, "Breaches of this policy")
        browser.goto(queue_url + "&clause=" + modality_key)
        browser.press("m")
        browser.goto(queue_url + "&clause=" + modality_key)
        assert browser.js("document.getElementById('pc-modality').textContent") == "permission"
        browser.screenshot(shots / "review-item.png")

        # the compare page shows the reviewed grid
        browser.goto(base + "-/compare?" + urlencode({"companies": COMPANIES}))
        row = browser.js("document.querySelector('tr[data-category=\"official_accounts\"]').innerText")
        assert "Be kind to colleagues" in row or "✓" in row or "covered" in row.lower(), row
        browser.screenshot(shots / "review-compare.png")
        # a second reviewer codes the same clauses (adding one category ana did not) from the command line, while the site serves
        run("review", "decide", first_key, "confirm", confirmed, "--reviewer", "ben", "--db", db)
        run("review", "decide", remove_key, "remove", removed, "--reviewer", "ben", "--db", db)
        run("review", "decide", add_key, "add", "official_accounts", "--reviewer", "ben", "--db", db)
        run("review", "decide", add_key, "add", "political", "--reviewer", "ben", "--db", db)
        browser.goto(base + "-/agreement")
        table = browser.js("document.getElementById('pc-agreement').innerText")
        assert "overall" in table and "Cohen's kappa" in table and "ben vs model" in table
        browser.screenshot(shots / "review-agreement.png")
    finally:
        browser.close()

    # the decisions, as the site's JSON and facets see them
    def categories(key):
        return json.loads(get_json(base + f"corpus/current_clauses.json?clause_key={key}&_shape=array")[0]["categories"])

    assert confirmed in categories(first_key)
    assert removed not in categories(remove_key)
    assert "official_accounts" in categories(add_key)
    facets = get_json(base + "corpus/current_clauses.json?_facet=modality&_size=0")["facet_results"]
    counts = {r["value"]: r["count"] for r in facets["modality"]["results"]}
    assert counts.get("permission", 0) >= 2  # "You may mention ..." and the reviewed clause
    coverage = get_json(base + "corpus/category_coverage.json?category=official_accounts&_shape=array")
    assert any(r["state"] == "covered" for r in coverage)

    # the reports of `policycorpus compare`
    csv_text = run("compare", "harbour", "lantern", "quarry", "--db", db, "--format", "csv").stdout
    official = next(line for line in csv_text.splitlines() if ",official_accounts," in line)
    assert "Be kind to colleagues" in official
    markdown = run("compare", "harbour", "lantern", "quarry", "--db", db, "--format", "md").stdout
    assert "Be kind to colleagues" in markdown
    # writes went to the review store only
    assert file_hash(db) == served["hash"]
    status = run("review", "status", "--db", db).stdout
    assert all(word in status for word in ("confirm", "remove", "add", "modality"))
