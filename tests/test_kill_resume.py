"""A crawl killed with SIGKILL at a random (seeded) moment, then `crawl --resume`: no policy lost, no
duplicate snapshot, corpus.db consistent; SIGTERM/SIGINT stop the crawl cleanly as 'interrupted'."""

import random
import signal
import subprocess
import sys
import time

import pytest

from demo.webserver import DemoWeb
from policycorpus.db import open_db

from commandline import policycorpus


def start_crawl(db_path):
    return subprocess.Popen([sys.executable, "-m", "policycorpus", "crawl", "--allow-private", "-q", "--db", db_path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_progress(db_path, proc, min_log_rows, timeout=60):
    """Block until the crawl has written some rows (so the kill lands mid-crawl, not before it starts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            db = open_db(db_path)
            n = db.execute("select count(*) from crawl_log").fetchone()[0]
            db.conn.close()
            if n >= min_log_rows:
                return n
        except Exception:  # noqa: BLE001 - the crawler may be creating the file
            pass
        time.sleep(0.05)
    return 0


def check_consistent(db, expected_urls):
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert not db.execute("select document_id, text_hash from snapshots group by 1, 2 having count(*) > 1").fetchall()
    docs = {r["url"]: r for r in db["documents"].rows}
    missing = sorted(set(expected_urls) - set(docs))
    assert not missing, f"policies lost: {missing}"
    for row in docs.values():
        n = db.execute("select count(*) from snapshots where document_id = ?", [row["id"]]).fetchone()[0]
        assert n == row["snapshot_count"] == 1, row["url"]
        assert row["latest_snapshot_id"] is not None
    orphans = db.execute("select count(*) from snapshots where document_id not in (select id from documents)").fetchone()[0]
    assert orphans == 0


@pytest.fixture(scope="module")
def web():
    with DemoWeb(port=0, generation=1) as web:
        yield web


@pytest.mark.parametrize("seed", [11, 23])
def test_sigkill_at_random_moment_then_resume(web, tmp_path, seed):
    db_path = str(tmp_path / "corpus.db")
    policycorpus("companies", "import", str(web.write_companies_csv(tmp_path / "c.csv")), "--db", db_path)
    rng = random.Random(seed)
    proc = start_crawl(db_path)
    wait_for_progress(db_path, proc, min_log_rows=1)
    time.sleep(rng.uniform(0.2, 6.0))
    assert proc.poll() is None, "the crawl ended before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    db = open_db(db_path)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert db.execute("select status from crawls").fetchone()[0] == "running"
    before = db.execute("select count(*) from snapshots").fetchone()[0]
    done = db.execute("select count(*) from crawl_companies").fetchone()[0]
    assert done < len(web.sites), "every company was finished before the kill"
    resumed = policycorpus("crawl", "--resume", "--allow-private", "-q", "--db", db_path)
    assert f"Resuming crawl 1: {done} companies already done" in resumed.stderr
    db = open_db(db_path)
    assert db.execute("select count(*) from snapshots").fetchone()[0] >= before
    print(f"seed {seed}: killed with {before} snapshots and {done} companies done")
    assert [(r["id"], r["status"]) for r in db["crawls"].rows] == [(1, "finished")]
    check_consistent(db, [p["url"] for p in web.expected(generation=1)])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_signal_marks_interrupted_and_resume_finishes(web, tmp_path, sig):
    db_path = str(tmp_path / "corpus.db")
    policycorpus("companies", "import", str(web.write_companies_csv(tmp_path / "c.csv")), "--db", db_path)
    proc = start_crawl(db_path)
    assert wait_for_progress(db_path, proc, min_log_rows=5), "crawl made no progress"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "interrupted" in err and "--resume" in err
    db = open_db(db_path)
    row = db.execute("select status, finished_at from crawls").fetchone()
    assert row[0] == "interrupted" and row[1]
    policycorpus("crawl", "--resume", "--allow-private", "-q", "--db", db_path)
    db = open_db(db_path)
    assert [r["status"] for r in db["crawls"].rows] == ["finished"]
    check_consistent(db, [p["url"] for p in web.expected(generation=1)])
