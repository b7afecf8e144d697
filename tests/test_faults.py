"""Fault injection: one crawl of a misbehaving local web (tests/faultweb.py).

For every fault: the crawl finishes, the failure is in crawl_log with its reason, and every
good policy of the same crawl (one per site, faulty sites included) is captured.
"""


import pytest

from policycorpus.db import open_db

from commandline import policycorpus
from faultweb import EXPECTED_LOG, FAULT_PATH, FAULTS, POLICY_PATH, SAFETY_FAULTS, FaultWeb

MAX_PAGES = 25
TIMEOUT = 1.5


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    db_path = str(tmp / "corpus.db")
    with FaultWeb([*FAULTS, *SAFETY_FAULTS, None, None], stall_seconds=4 * TIMEOUT) as web:
        policycorpus("companies", "import", str(web.write_companies_csv(tmp / "companies.csv")), "--db", db_path)
        result = policycorpus("crawl", *web.allow_host_args(), "--timeout", str(TIMEOUT), "--max-pages",
                              str(MAX_PAGES), "-q", "--db", db_path, check=False)
        yield {"web": web, "db": open_db(db_path), "result": result, "planted": web.planted(),
               "canary": web.requests_to(web.canary.host)}


def site_of(web, fault):
    return next(s for s in web.sites if s.fault == fault)


def log_rows(crawl, fault):
    web, db = crawl["web"], crawl["db"]
    base = web.base_url(site_of(web, fault))
    company = db.execute("select id from companies where homepage = ?", [base + "/"]).fetchone()[0]
    return list(db.query("select * from crawl_log where company_id = ?", [company]))


def test_crawl_finishes(crawl):
    assert crawl["result"].returncode == 0, crawl["result"].stdout + crawl["result"].stderr
    assert [r["status"] for r in crawl["db"]["crawls"].rows] == ["finished"]


def stored_policy_url(crawl, url):
    """The planted URL, or for the duplicate-content site whichever of its aliases was crawled first."""
    web, site = crawl["web"], crawl["planted"][url]
    if site.fault == "duplicate_content":
        aliases = {web.base_url(site) + p for p in [POLICY_PATH, *web.duplicate_paths()]}
        stored = {r["url"] for r in crawl["db"]["documents"].rows} & aliases
        return stored.pop() if len(stored) == 1 else url
    return url


def test_every_good_policy_captured(crawl):
    stored = {r["url"] for r in crawl["db"]["documents"].rows}
    expected = {stored_policy_url(crawl, url) for url in crawl["planted"]}
    missing = [f"{crawl['planted'][url].fault}: {url}" for url in crawl["planted"]
               if stored_policy_url(crawl, url) not in stored]
    assert not missing, missing
    assert stored == expected, sorted(stored - expected)


@pytest.mark.parametrize("fault", [f for f in FAULTS + SAFETY_FAULTS if EXPECTED_LOG[f]])
def test_failure_logged_with_reason(crawl, fault):
    outcome, text = EXPECTED_LOG[fault]
    rows = log_rows(crawl, fault)
    hits = [r for r in rows if r["outcome"] == outcome and text.lower() in (r["reason"] or "").lower()]
    assert hits, f"{fault}: no {outcome} row mentioning {text!r}; got {[(r['outcome'], r['reason']) for r in rows]}"


def test_nothing_reached_the_canary(crawl):
    assert not crawl["canary"], crawl["canary"]


def test_robots_and_sitemap_redirects_checked_too(crawl):
    refused = {r["url"].rsplit("/", 1)[1] for r in log_rows(crawl, "redirect_private") if r["outcome"] == "refused"}
    assert {"robots.txt", "sitemap.xml"} <= refused, refused


def test_redirect_to_a_file_url_is_refused_not_ok(crawl):
    rows = [r for r in log_rows(crawl, "redirect_file") if r["url"].endswith(FAULT_PATH)]
    assert [(r["status"], r["outcome"]) for r in rows] == [(302, "refused")], rows
    url = rows[0]["url"]
    assert not crawl["db"].execute("select count(*) from candidates where url = ?", [url]).fetchone()[0]
    assert "/etc/passwd" in rows[0]["reason"]


def test_link_trap_bounded_by_page_budget(crawl):
    web = crawl["web"]
    requests = web.requests_to(site_of(web, "link_trap").host)
    calendar = sum(n for path, n in requests.items() if path.startswith("/calendar/"))
    assert 0 < calendar <= MAX_PAGES
    assert sum(requests.values()) <= MAX_PAGES + 3  # + robots.txt, sitemap.xml and a retry at most


def test_same_content_under_many_urls_stored_once(crawl):
    web, db = crawl["web"], crawl["db"]
    base = web.base_url(site_of(web, "duplicate_content"))
    docs = list(db.query("select * from documents where url like ?", [base + "%"]))
    assert len(docs) == 1 and docs[0]["snapshot_count"] == 1
    dupes = [r for r in log_rows(crawl, "duplicate_content") if r["outcome"] == "duplicate_content"]
    assert len(dupes) == len(web.duplicate_paths())


def test_wrong_and_missing_charset_decoded(crawl):
    web, db = crawl["web"], crawl["db"]
    text = db.execute("select s.text from snapshots s join documents d on d.latest_snapshot_id = s.id "
                      "where d.url = ?", [web.base_url(site_of(web, "wrong_charset")) + POLICY_PATH]).fetchone()[0]
    assert "Zoë Müller, Ça va — “quotes”" in text
    text = db.execute("select s.text from snapshots s join documents d on d.latest_snapshot_id = s.id "
                      "where d.url = ?", [web.base_url(site_of(web, "no_charset")) + POLICY_PATH]).fetchone()[0]
    assert "social media policy" in text


def test_huge_bodies_were_cut_not_downloaded(crawl):
    rows = [r for f in ("huge_page", "huge_chunked", "gzip_bomb") for r in log_rows(crawl, f)]
    assert all((r["size"] or 0) < 11 * 1024 * 1024 for r in rows)
    assert not [r for r in rows if r["url"].endswith(FAULT_PATH) and r["outcome"] == "ok"]


def test_no_duplicate_snapshots_and_integrity(crawl):
    db = crawl["db"]
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert not db.execute("select document_id, text_hash from snapshots group by 1, 2 having count(*) > 1").fetchall()


def test_retry_after_honoured(crawl):
    web = crawl["web"]
    host = site_of(web, "retry_after").host
    times = [t for h, p, t in web.times if h == host and p == "/"]
    assert len(times) == 2 and times[1] - times[0] >= 0.95, times
