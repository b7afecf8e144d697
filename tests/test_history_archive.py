"""`policycorpus history`: backfilling versions from a real pywb and from an Internet-Archive-style server, as a
Scrapy crawl (crawler/history.py) run by the command in a subprocess (Twisted's reactor starts once a process)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
from archive_fixtures import (
    DATES,
    EXPECTED_ARCHIVED,
    POLICIES,
    InternetArchiveLike,
    Pywb,
    make_corpus,
    page,
    pywb_python,
    records,
    wait_for,
)

from crawler.archive import open_archive, parse_cdx, select_captures, strip_archive_markup
from policycorpus.db import open_db
from policycorpus.errors import InputError
from policycorpus.extract import extract

from commandline import policycorpus

ARCHIVED_DATES = {"2019-03-15T12:00:00+00:00": 1, "2020-05-11T09:30:00+00:00": 2, "2021-06-02T14:00:00+00:00": 3}


def text_of(org: str, version: int) -> str:
    return extract(page(org, version), "", "text/html").text


def check_history(db_path) -> None:
    """Exactly the distinct archived versions, each dated by its capture; the crawl's version stays current."""
    db = open_db(db_path)
    for url, org in POLICIES.items():
        doc = next(db["documents"].rows_where("url = ?", [url]))
        snaps = list(db["snapshots"].rows_where("document_id = ?", [doc["id"]], order_by="fetched_at"))
        archived = [s for s in snaps if s["source"] == "archive"]
        expected_new = EXPECTED_ARCHIVED[url] - (1 if org == "Alpha" else 0)  # Alpha's v3 is the crawled text
        assert len(archived) == expected_new, (org, [s["fetched_at"] for s in archived])
        for s in archived:
            assert s["captured_at"] == s["fetched_at"] in ARCHIVED_DATES
            assert s["text"] == text_of(org, ARCHIVED_DATES[s["fetched_at"]])
            assert "/id_/" not in s["capture_url"] and "id_/" + url in s["capture_url"]
            assert "toolbar" not in s["text"].lower()
        assert doc["snapshot_count"] == len(snaps)
        crawled = next(s for s in snaps if s["source"] == "crawl")
        assert doc["latest_snapshot_id"] == crawled["id"]  # never moved back to an old capture
        timeline = db.execute("select since, snapshot_id from document_versions where document_id = ? "
                              "order by since", [doc["id"]]).fetchall()
        texts = [db["snapshots"].get(sid)["text"] for _, sid in timeline]
        expected = [text_of(org, 1), text_of(org, 2), text_of(org, 3)]
        if org != "Alpha":
            expected.append(crawled["text"])
        assert texts == expected, org
        assert timeline[0][0] == "2019-03-15T12:00:00+00:00"
        assert doc["first_seen"] == "2019-03-15T12:00:00+00:00"
    db.conn.close()


def counts(db_path) -> tuple:
    db = open_db(db_path)
    out = tuple(db[t].count for t in ("snapshots", "document_versions", "archive_captures"))
    db.conn.close()
    return out


@pytest.fixture
def pywb(tmp_path):
    python = pywb_python()
    if python is None:
        pytest.skip("pywb is not installed: run `make pywb` (its own virtualenv, it pins redis==2.10.6)")
    root = tmp_path / "pywb"
    root.mkdir()
    server = Pywb(root, records(), python)
    yield server
    server.close()


@pytest.fixture
def ia():
    server = InternetArchiveLike(records(), throttle=1)
    yield server
    server.close()


STAT_NAMES = {"documents read": "documents", "captures kept": "captures_kept", "new versions": "new_versions",
              "with known text": "same_text", "already read": "already_read", "empty": "empty", "failed": "failed",
              "requests": "requests"}


def stats_of(stdout: str) -> dict[str, int]:
    """The figures of the command's summary line ("History run 1 finished: 3 documents read (...), ...")."""
    return {key: int(re.search(rf"(\d+) {words}", stdout).group(1)) for words, key in STAT_NAMES.items()}


def history(db_path, url, *args):
    return policycorpus("history", "--archive", url, "--allow-host", "127.0.0.1", "--delay", "0", *args,
                        "--db", db_path)


def test_pywb_backfill_gives_exactly_the_distinct_versions_and_a_rerun_adds_nothing(tmp_path, pywb):
    db_path = make_corpus(tmp_path / "corpus.db")
    assert open_archive(pywb.url, allow_hosts=("127.0.0.1",)).pywb
    stats = stats_of(history(db_path, pywb.url).stdout)
    assert stats["new_versions"] == 8 and stats["same_text"] == 4  # 3+3+2 new; Alpha's v3 and the 3 toolbar captures
    assert stats["captures_kept"] == 12 and stats["failed"] == 0
    assert stats["requests"] == 15  # 3 CDX listings and 12 raw captures, nothing else (no robots.txt)
    check_history(db_path)
    before = counts(db_path)
    again = stats_of(history(db_path, pywb.url).stdout)
    assert again["new_versions"] == 0 and again["already_read"] == 12 and counts(db_path) == before
    assert again["requests"] == 3  # the listings only: no capture is read twice


def test_internet_archive_flavour_through_the_command_backs_off_on_429(tmp_path, ia):
    db_path = make_corpus(tmp_path / "corpus.db")
    refused = policycorpus("history", "--archive", ia.url, "--db", db_path, check=False)
    assert refused.returncode == 1 and "--allow-host" in refused.stderr and not ia.requests
    out = policycorpus("history", "--archive", ia.url, "--allow-host", "127.0.0.1", "--delay", "0",
                       "--db", db_path)
    assert "8 new versions" in out.stdout, out.stdout
    assert ia.requests[0] == ia.requests[1]  # the throttled CDX query was asked again after Retry-After
    assert ia.times[1] - ia.times[0] >= 0.95  # ... after the second it asked for, not straight away
    db = open_db(db_path)
    retry = list(db["crawl_log"].rows_where("outcome = 'retry'"))
    assert len(retry) == 1 and retry[0]["status"] == 429 and "retry after 1 s" in retry[0]["reason"]
    db.conn.close()
    assert all("id_/" in p for p in ia.requests if p.startswith("/web/"))
    check_history(db_path)
    before = counts(db_path)
    again = policycorpus("history", "--archive", ia.url, "--allow-host", "127.0.0.1", "--delay", "0",
                         "--db", db_path)
    assert "0 new versions" in again.stdout and counts(db_path) == before


def test_killed_run_resumed_loses_nothing_and_duplicates_nothing(tmp_path, ia):
    ia.throttle = 0
    db_path = make_corpus(tmp_path / "corpus.db")
    cmd = [sys.executable, "-m", "policycorpus", "history", "--archive", ia.url, "--allow-host", "127.0.0.1",
           "--delay", "0.25", "--db", db_path]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: sum(p.startswith("/web/") for p in ia.requests) >= 6, 60)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    partial = counts(db_path)
    assert partial[2] < 12  # the kill left work to do
    db = open_db(db_path)
    read_before = {r["capture_url"] for r in db["archive_captures"].rows}
    killed_run = db.execute("select id, kind, status from crawls").fetchall()
    db.conn.close()
    assert read_before and [row[1:] for row in killed_run] == [("history", "running")]
    asked_before = len(ia.requests)
    out = policycorpus("history", "--archive", ia.url, "--allow-host", "127.0.0.1", "--delay", "0", "--resume",
                       "--db", db_path)
    assert "skipped by --resume" in out.stdout
    assert f"History run {killed_run[0][0]} finished" in out.stdout  # the killed run is continued, not a new one
    check_history(db_path)
    db = open_db(db_path)
    assert db["archive_captures"].count == 12
    dupes = db.execute("select count(*) from (select document_id, since from document_versions "
                       "group by 1, 2 having count(*) > 1)").fetchone()[0]
    assert dupes == 0
    assert db.execute("select count(*) from (select document_id, text_hash from snapshots "
                      "group by 1, 2 having count(*) > 1)").fetchone()[0] == 0
    assert [(r["id"], r["status"]) for r in db["crawls"].rows] == [(killed_run[0][0], "finished")]
    # no capture read before the kill is asked for again; every capture is read by one run or the other
    asked_after = {ia.url + p for p in ia.requests[asked_before:] if p.startswith("/web/")}
    assert not asked_after & read_before
    assert read_before | asked_after == {r["capture_url"] for r in db["archive_captures"].rows}
    assert db["archive_listings"].count == 3


def test_a_history_run_logs_every_request_in_crawl_log_one_at_a_time_at_the_delay(tmp_path, ia):
    db_path = make_corpus(tmp_path / "corpus.db")
    out = policycorpus("history", "--archive", ia.url, "--allow-host", "127.0.0.1", "--delay", "0.3",
                       "--db", db_path)
    assert "history: documents 3/3 done" in out.stderr  # the progress line, as a crawl prints its own
    db = open_db(db_path)
    (run,) = db["crawls"].rows
    assert run["kind"] == "history" and run["status"] == "finished" and f"History run {run['id']} " in out.stdout
    log = list(db["crawl_log"].rows_where("crawl_id = ?", [run["id"]], order_by="id"))
    assert not db["crawl_log"].count_where("crawl_id != ?", [run["id"]])
    cdx = [r for r in log if "/cdx/search/cdx?" in r["url"] and r["outcome"] != "retry"]
    captures = [r for r in log if "id_/" in r["url"]]
    assert len(cdx) == 3 and len(captures) == 12 and len(log) == 16  # and the 429's retry row
    assert all(r["outcome"] == "ok" and r["status"] == 200 and r["company_id"] for r in cdx + captures)
    assert {r["url"] for r in captures} == {r["capture_url"] for r in db["archive_captures"].rows}
    assert [r["outcome"] for r in log].count("retry") == 1 and log[0]["outcome"] == "retry"
    assert log[0]["status"] == 429 and log[0]["url"] == cdx[0]["url"]
    assert len(ia.requests) == 16 and run["pages"] == 15 and run["errors"] == 0
    gaps = [b - a for a, b in zip(ia.times, ia.times[1:])]
    # one request per --delay (measured here on arrival: a few ms of jitter either way), never two at once
    assert min(gaps) >= 0.25 and sum(gaps[1:]) / len(gaps[1:]) >= 0.3 * 0.98, gaps
    again = policycorpus("history", "--archive", ia.url, "--allow-host", "127.0.0.1", "--delay", "0", "-q",
                         "--db", db_path)
    assert not again.stderr.strip()  # -q: no progress line
    runs = list(db["crawls"].rows_where(order_by="id"))
    assert len(runs) == 2 and db["crawl_log"].count_where("crawl_id = ?", [runs[1]["id"]]) == 3  # the listings


def test_a_429_without_retry_after_backs_off_before_the_retry(tmp_path):
    db_path = make_corpus(tmp_path / "corpus.db")
    server = InternetArchiveLike(records(), throttle=1, retry_after=None)
    try:
        history_out = policycorpus("history", "--archive", server.url, "--allow-host", "127.0.0.1", "--delay", "0.3",
                                   "--company", "Alpha", "-q", "--db", db_path)
    finally:
        server.close()
    assert "0 failed" in history_out.stdout
    assert server.requests[0] == server.requests[1] and server.times[1] - server.times[0] >= 1.15  # 4 x --delay
    db = open_db(db_path)
    (retry,) = db["crawl_log"].rows_where("outcome = 'retry'")
    assert retry["status"] == 429 and "no Retry-After; backing off 1.2 s" in retry["reason"]


def test_crawl_resume_never_continues_a_history_run(tmp_path):
    from crawler.commands import start_crawl, start_history_run

    db = open_db(tmp_path / "corpus.db")
    history_run = start_history_run(db, {}, resume=False)
    with pytest.raises(InputError, match="nothing to resume"):
        start_crawl(db, {}, resume=True)
    assert start_history_run(db, {}, resume=True) == history_run  # the unfinished history run is continued


def test_cdx_formats_and_selection():
    plain = ("com,example)/p 20190101000000 http://example.com/p text/html 200 AAA 100\n"
             "com,example)/p 20190601000000 http://example.com/p text/html 200 AAA 100\n"
             "com,example)/p 20190901000000 http://example.com/p text/html 404 BBB 100\n"
             "com,example)/p 20191001000000 http://example.com/p text/html 200 CCC 100\n"
             "com,example)/p 20191101000000 http://example.com/p text/html 200 DDD 100\n"
             "garbage line\n")
    caps = parse_cdx(plain.encode())
    assert [c.digest for c in caps] == ["AAA", "AAA", "BBB", "CCC", "DDD"]
    assert [c.timestamp for c in select_captures(caps, 2)] == ["20190101000000", "20191001000000"]
    cdxj = b'com,example)/p 20200101000000 {"url": "http://example.com/p", "mime": "text/html", "status": "200", "digest": "X"}'
    assert parse_cdx(cdxj)[0].captured_at == "2020-01-01T00:00:00+00:00"
    assert parse_cdx(b"[]") == [] and parse_cdx(b"") == []
    with pytest.raises(InputError):
        parse_cdx(b"[not json")
    wrapped = page("X", 1).replace(b"<body>", b"<body><!-- BEGIN WAYBACK TOOLBAR INSERT -->toolbar"
                                               b"<!-- END WAYBACK TOOLBAR INSERT -->")
    assert strip_archive_markup(wrapped) == page("X", 1)


def test_archive_on_loopback_must_be_allowed():
    with pytest.raises(InputError, match="allow-host"):
        open_archive("http://127.0.0.1:9/")
    assert open_archive("http://127.0.0.1:9/", allow_hosts=("127.0.0.1",)).base == "http://127.0.0.1:9"
    assert DATES == sorted(DATES)


OLD_URL = "http://gamma.example/old-terms"


def moved_records():
    """Gamma's policy lived at OLD_URL until 2018, when that URL started redirecting to the current one."""
    from archive_fixtures import Record

    v0 = page("Gamma", 1).replace(b"Employees may post", b"Staff members may post")
    return records() + [Record(OLD_URL, "20170410100000", 200, v0),
                        Record(OLD_URL, "20180702100000", 301, b"", location="http://gamma.example/terms")]


def check_moved(db_path) -> None:
    db = open_db(db_path)
    doc = next(db["documents"].rows_where("url = ?", ["http://gamma.example/terms"]))
    first = db.execute("select v.since, s.text, s.capture_url from document_versions v join snapshots s "
                       "on s.id = v.snapshot_id where v.document_id = ? order by v.since limit 1",
                       [doc["id"]]).fetchone()
    assert first[0] == "2017-04-10T10:00:00+00:00" and "Staff members may post" in first[1]
    assert first[2].endswith("20170410100000id_/" + OLD_URL)
    assert db["snapshots"].count_where("document_id = ? and source = 'archive'", [doc["id"]]) == 4


@pytest.mark.parametrize("flavour", ["pywb", "internet-archive"])
def test_a_moved_page_is_followed_through_the_known_url_and_the_recorded_redirect(tmp_path, flavour):
    db_path = make_corpus(tmp_path / "corpus.db")
    db = open_db(db_path)
    db["companies"].update(next(db["companies"].rows_where("name = 'Gamma'"))["id"], {"policy_url": OLD_URL})
    db.conn.close()
    if flavour == "pywb":
        python = pywb_python()
        if python is None:
            pytest.skip("pywb is not installed: run `make pywb`")
        (tmp_path / "pywb").mkdir()
        server = Pywb(tmp_path / "pywb", moved_records(), python)
    else:
        server = InternetArchiveLike(moved_records())
    try:
        policycorpus("history", "--archive", server.url, "--allow-host", "127.0.0.1", "--delay", "0",
                     "--db", db_path)
    finally:
        server.close()
    check_moved(db_path)
    others = [u for u in POLICIES if "gamma" not in u]
    db = open_db(db_path)
    for url in others:  # the others are untouched by Gamma's old URL
        doc = next(db["documents"].rows_where("url = ?", [url]))
        assert db["snapshots"].count_where("document_id = ? and source = 'archive'", [doc["id"]]) in (2, 3)


def test_a_capture_over_the_size_bound_is_logged_failed_and_read_again_by_the_next_run(tmp_path):
    from archive_fixtures import Record

    db_path = make_corpus(tmp_path / "corpus.db")
    url = next(iter(POLICIES))
    big = page("Alpha", 1).replace(b"</main>", b"<p>" + b"padding words " * 2000 + b"</p></main>")  # ~28 KB
    server = InternetArchiveLike([Record(url, "20190315120000", 200, big)])
    try:
        out = history(db_path, server.url, "--company", "Alpha", "--max-size", "0.01")  # 10 KB
        assert stats_of(out.stdout)["failed"] == 1 and stats_of(out.stdout)["new_versions"] == 0
        db = open_db(db_path)
        (capture,) = db["archive_captures"].rows
        assert capture["outcome"] == "failed" and "max size" in capture["error"]
        (logged,) = db["crawl_log"].rows_where("url like '%id_/%'")
        assert logged["outcome"] == "too_large"
        db.conn.close()
        again = stats_of(history(db_path, server.url, "--company", "Alpha").stdout)
        assert again["new_versions"] == 1 and again["already_read"] == 0  # a failed capture is read again
    finally:
        server.close()
    db = open_db(db_path)
    assert [r["outcome"] for r in db["archive_captures"].rows] == ["new_version"]
