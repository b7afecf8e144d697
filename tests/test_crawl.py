"""Real crawls of the bundled demo web (demo/webserver.py) with `policycorpus crawl`."""

import re
from urllib.parse import urlsplit

import pytest

from demo.webserver import DemoWeb
from policycorpus.db import open_db

from commandline import policycorpus


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crawl")
    db_path = str(tmp / "corpus.db")
    with DemoWeb(port=0, generation=1) as web:
        csv_path = web.write_companies_csv(tmp / "companies.csv")
        policycorpus("companies", "import", str(csv_path), "--db", db_path)
        first = policycorpus("crawl", "--allow-private", "--db", db_path)
        db = open_db(db_path)
        after_first = {r["url"]: r["snapshot_count"] for r in db["documents"].rows}
        expected_first = web.expected(generation=1)
        web.set_generation(2)
        second = policycorpus("crawl", "--allow-private", "--db", db_path)
        yield {
            "web": web, "db": open_db(db_path), "db_path": db_path, "first": first, "second": second,
            "after_first": after_first, "expected_first": expected_first,
            "expected_second": web.expected(generation=2), "requests": list(web.requests),
        }


def test_summary_printed(crawled):
    out = crawled["first"].stdout
    assert "companies" in out and "policies found" in out and "pages fetched" in out and "errors" in out


def test_no_warning_lines_and_progress_agrees_with_summary(crawled):
    """Only our own progress lines reach stderr (no library warnings without --verbose), and the last one
    counts what the summary counts."""
    first = crawled["first"]
    lines = [line.strip() for line in first.stderr.replace("\r", "\n").splitlines()
             if line.strip() and not line.startswith("Note: pages are not rendered")]  # a machine without Chromium
    assert lines and all(line.startswith("crawl: companies ") for line in lines), lines
    progress = re.search(r"pages (\d+) \(\d+/s, (\d+) rendered\) · policies (\d+) · refused (\d+) · robots (\d+) · "
                         r"errors (\d+)", lines[-1]).groups()
    summary = re.search(r"(\d+) policies found, (\d+) pages fetched \((\d+) rendered in a browser\), (\d+) refused, "
                        r"(\d+) robots-disallowed, (\d+) errors", first.stdout).groups()
    pages, rendered, policies, refused, robots, errors = progress
    assert (policies, pages, rendered, refused, robots, errors) == summary
    assert int(policies) == len(crawled["expected_first"]) and rendered == "0"


def test_every_planted_policy_found(crawled):
    found = set(crawled["after_first"])
    missing = [p["url"] for p in crawled["expected_first"] if p["url"] not in found]
    assert not missing, f"planted policies not found: {missing}"


def test_no_negative_accepted(crawled):
    web, db = crawled["web"], crawled["db"]
    planted = {p["url"] for p in crawled["expected_first"] + crawled["expected_second"]}
    accepted = {r["url"] for r in db["documents"].rows}
    assert accepted <= planted, f"accepted non-policies: {sorted(accepted - planted)}"
    negatives = {web.url(slug, path) for slug, site in web.sites.items() for path in site.negatives}
    judged = {r["url"]: r for r in db["candidates"].rows}
    assert negatives & set(judged), "hard negatives were never even judged"
    for url in negatives & set(judged):
        assert not judged[url]["accepted"], url


def test_robots_disallowed_page_never_requested(crawled):
    web = crawled["web"]
    never = crawled["web"].never_requested_urls()
    assert never, "the demo web must plant a robots-disallowed page"
    requested = {f"http://{r.host}:{urlsplit(web.base_url(web.slug_for_host(r.host))).port}{r.path}"
                 for r in crawled["requests"]}
    assert not set(never) & requested


def test_changing_policy_has_two_snapshots_others_one(crawled):
    db = crawled["db"]
    counts = {r["url"]: r["snapshot_count"] for r in db["documents"].rows}
    first_urls = {p["url"]: p for p in crawled["expected_first"]}
    second_urls = {p["url"]: p for p in crawled["expected_second"]}
    changing = [u for u in first_urls if u in second_urls and first_urls[u].get("changes")]
    assert changing, "the demo web must have a policy that changes between generations"
    for url, count in counts.items():
        assert count == (2 if url in changing else 1), (url, count)


def test_crawl_log_and_candidates_are_kept(crawled):
    db = crawled["db"]
    outcomes = {r["outcome"] for r in db.query("select distinct outcome from crawl_log")}
    assert "ok" in outcomes
    assert db["candidates"].count >= len(crawled["expected_first"])
    policy = next(db.query("select * from candidates where accepted = 1 limit 1"))
    assert policy["reasons"] and policy["policy_score"] >= 0.5
    assert db["crawls"].count == 2
    assert {r["status"] for r in db["crawls"].rows} == {"finished"}


def test_redirected_policy_stored_under_its_final_url(crawled):
    web, db = crawled["web"], crawled["db"]
    for slug, site in web.sites.items():
        for source, target in site.redirects.items():
            assert web.url(slug, source) not in {r["url"] for r in db["documents"].rows}


def test_resume_with_nothing_to_resume_is_an_error(crawled):
    result = policycorpus("crawl", "--resume", "--allow-private", "--db", crawled["db_path"], check=False)
    assert result.returncode != 0
    assert "nothing to resume" in result.stderr


def test_unreachable_host_one_line_error_and_data_kept(crawled, tmp_path):
    db_path = crawled["db_path"]
    before = open_db(db_path)["snapshots"].count
    csv = tmp_path / "dead.csv"
    csv.write_text("name,homepage,industry\nGhost Corp,http://127.0.0.59:9/,retail\n")
    policycorpus("companies", "import", str(csv), "--db", db_path)
    result = policycorpus("crawl", "--company", "Ghost Corp", "--allow-private", "-q", "--db", db_path, check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert errors == ["Error: 1 company unreachable: Ghost Corp (details in crawl_log)"]
    assert open_db(db_path)["snapshots"].count == before


def test_private_addresses_refused_without_allow_private(tmp_path):
    with DemoWeb(port=0, sites=None) as web:
        slug = next(iter(web.sites))
        db_path = str(tmp_path / "c.db")
        csv = tmp_path / "one.csv"
        csv.write_text(f"name,homepage\nLocal Co,{web.homepage_url(slug)}\n")
        policycorpus("companies", "import", str(csv), "--db", db_path)
        result = policycorpus("crawl", "-q", "--db", db_path, check=False)
        assert result.returncode != 0
        assert not web.requests_for(slug)
    db = open_db(db_path)
    refused = [r for r in db["crawl_log"].rows if r["outcome"] == "refused"]
    assert refused and "loopback" in refused[0]["reason"]
