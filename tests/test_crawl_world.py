"""Real crawls of the demo web plus the world web (tests/worldweb.py): script-built pages rendered in the
system's Chromium behind the network guard, policies in seven languages, member organizations, and a
quiet crawl whose progress line and summary agree."""

from __future__ import annotations

import re
import shutil

import pytest

from demo.webserver import DemoWeb
from policycorpus.db import open_db

from commandline import policycorpus
from worldweb import WorldWeb

pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="needs /usr/bin/chromium (apt-get install chromium)")

SUMMARY = re.compile(r"Crawl \d+ finished: (\d+) companies, (\d+) policies found, (\d+) pages fetched \((\d+) rendered "
                     r"in a browser\), (\d+) refused, (\d+) robots-disallowed, (\d+) errors")
PROGRESS = re.compile(r"crawl: companies (\d+)/\d+ done · pages (\d+) \(\d+/s, (\d+) rendered\) · policies (\d+) · "
                      r"refused (\d+) · robots (\d+) · errors (\d+)")


def allow_hosts(*webs) -> list[str]:
    """--allow-host for every site's address: the canary's address stays refused."""
    hosts = [site.host for web in webs for site in web.sites.values()]
    return [arg for host in hosts for arg in ("--allow-host", host)]


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("world")
    db_path = str(tmp / "corpus.db")
    with DemoWeb(port=0, generation=1) as demo, WorldWeb() as world:
        policycorpus("companies", "import", str(demo.write_companies_csv(tmp / "demo.csv")), "--db", db_path)
        policycorpus("companies", "import", str(world.write_companies_csv(tmp / "world.csv")), "--db", db_path)
        result = policycorpus("crawl", *allow_hosts(demo, world), "--db", db_path)
        yield {"result": result, "db": open_db(db_path), "demo": demo, "world": world,
               "canary": world.canary.connections, "received": list(world.canary.received)}


def test_every_planted_policy_found_no_decoy_accepted(crawled):
    db, demo, world = crawled["db"], crawled["demo"], crawled["world"]
    found = {r["url"] for r in db["documents"].rows}
    planted = {p["url"] for p in demo.expected(generation=1)} | {p["url"] for p in world.expected()}
    assert planted - found == set(), f"planted policies not found: {sorted(planted - found)}"
    assert found - planted == set(), f"accepted non-policies: {sorted(found - planted)}"
    judged = {r["url"] for r in db["candidates"].rows}
    decoys = set(world.negative_urls())
    assert decoys & judged, "the world web's decoys were never even judged"


def test_each_document_records_its_language_and_audience(crawled):
    db, world = crawled["db"], crawled["world"]
    rows = {r["url"]: r for r in db["documents"].rows}
    for policy in world.expected():
        row = rows[policy["url"]]
        assert (row["language"], row["audience"]) == (policy["language"], policy["audience"]), policy["url"]
    assert {r["language"] for r in rows.values()} >= {"en", "de", "fr", "es", "it", "nl", "pt", "ja"}


def test_the_version_the_company_list_asks_for_is_kept(crawled):
    db, world = crawled["db"], crawled["world"]
    found = {r["url"] for r in db["documents"].rows}
    for slug, site in world.sites.items():
        for path in site.not_kept:
            assert world.url(slug, path) not in found, f"{slug}: kept the version in the other language: {path}"
    skipped = [r["reason"] for r in db["crawl_log"].rows_where("outcome = 'skipped' and reason like 'a % version%'")]
    assert any("a ja version" in r for r in skipped) and any("a en version" in r for r in skipped)


def test_script_built_policy_is_rendered_and_marked(crawled):
    db, world = crawled["db"], crawled["world"]
    url = world.url("lumio-systems", "/policies/social-media/")
    doc = next(db["documents"].rows_where("url = ?", [url]))
    snapshot = db["snapshots"].get(doc["latest_snapshot_id"])
    assert snapshot["rendered"] == 1 and "Only the marketing team" in snapshot["text"]
    rendered = {r["url"] for r in db["crawl_log"].rows_where("rendered = 1 and outcome = 'ok'")}
    assert url in rendered
    # pages that carry their text get no second fetch through the browser
    demo_hosts = tuple(f"http://{site.host}:" for site in crawled["demo"].sites.values())
    assert not [u for u in rendered if u.startswith(demo_hosts)]


def test_rendered_pages_never_reach_a_refused_address(crawled):
    """The hostile page tries fetch, XHR, beacons, frames, scripts, a redirect, a popup, a worker, a form,
    WebSocket, WebRTC, a preconnect and navigating away: nothing reaches the canary's address."""
    assert crawled["canary"] == 0, f"the browser reached the refused address: {crawled['received']}"
    db, canary = crawled["db"], crawled["world"].canary.address
    refused = [r for r in db["crawl_log"].rows_where("outcome = 'refused' and rendered = 1")]
    urls = {r["url"] for r in refused}
    for path in ("/fetch", "/xhr", "/beacon", "/frame.html", "/tracker.js", "/popup", "/worker", "/form", "/bounced"):
        assert f"http://{canary}{path}" in urls, path
    assert "http://169.254.169.254/latest/meta-data/" in urls and f"ws://{canary}/socket" in urls
    navigated = [r for r in refused if r["url"].startswith("chrome-error:")]
    assert navigated and "navigated" in navigated[0]["reason"]
    onconduct = crawled["world"].url("lumio-systems", "/policies/online-conduct/")
    assert not db["candidates"].count_where("url = ? and accepted = 1", [onconduct])


def test_quiet_output_and_progress_agrees_with_summary(crawled):
    result = crawled["result"]
    lines = [line.strip() for line in result.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert lines and all(PROGRESS.fullmatch(line) for line in lines), f"not a progress line: {lines}"
    summary = SUMMARY.search(result.stdout)
    assert summary, result.stdout
    companies, policies, pages, rendered, refused, robots, errors = map(int, summary.groups())
    last = PROGRESS.fullmatch(lines[-1]).groups()
    assert tuple(map(int, last)) == (companies, pages, rendered, policies, refused, robots, errors)
    assert rendered >= 2 and refused >= 10 and robots >= 1


def test_render_never_misses_the_script_built_policy(tmp_path):
    db_path = str(tmp_path / "corpus.db")
    with WorldWeb(["lumio-systems"]) as world:
        policycorpus("companies", "import", str(world.write_companies_csv(tmp_path / "w.csv")), "--db", db_path)
        result = policycorpus("crawl", "--render", "never", "-q", *allow_hosts(world), "--db", db_path)
    db = open_db(db_path)
    assert db["documents"].count == 0
    assert not db["crawl_log"].count_where("rendered = 1")
    assert "0 rendered in a browser" in result.stdout
