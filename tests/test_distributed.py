"""Distributed crawl: 3 worker processes share one crawl of the demo web through a real redis-server."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from demo.webserver import DemoWeb
from policycorpus.db import TABLES_BY_NAME, open_db

from commandline import policycorpus
from redis_fixture import redis_process, redis_server

WORKERS = ("w1", "w2", "w3")


@pytest.fixture(scope="module")
def redis_url():
    try:
        with redis_server() as url:
            yield url
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def run_workers(redis_url, db_paths, job, extra=()):
    procs = [subprocess.Popen([sys.executable, "-m", "policycorpus", "crawl", "--redis", redis_url, "--job", job,
                               "--workers", str(len(db_paths)), "--worker-id", worker, "--allow-private", "-q",
                               "--db", str(db_path), *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for worker, db_path in zip(WORKERS, db_paths)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out + err
    return outputs


@pytest.fixture(scope="module")
def per_worker(redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    with DemoWeb(port=0, generation=1) as web:
        csv_path = web.write_companies_csv(tmp / "companies.csv")
        db_paths = [tmp / f"{w}.db" for w in WORKERS]
        for db_path in db_paths:
            policycorpus("companies", "import", str(csv_path), "--db", str(db_path))
        run_workers(redis_url, db_paths, job="per-worker")
        merged = tmp / "corpus.db"
        first = policycorpus("merge", *map(str, db_paths), "--db", str(merged))
        second = policycorpus("merge", *map(str, db_paths), "--db", str(merged))
        yield {"web": web, "paths": db_paths, "dbs": [open_db(p) for p in db_paths], "merged": open_db(merged),
               "first": first,
               "second": second, "requests": list(web.requests), "expected": web.expected(generation=1)}


def fetched_urls(db):
    return {r["url"] for r in db.query("select url from crawl_log where status is not null")}


def test_every_worker_fetches_some(per_worker):
    for worker, db in zip(WORKERS, per_worker["dbs"]):
        rows = list(db.query("select count(*) n, min(worker) w from crawl_log where status is not null"))
        assert rows[0]["n"] > 0, f"worker {worker} fetched nothing"
        assert rows[0]["w"] == worker


def test_no_worker_fetches_a_url_another_did(per_worker):
    sets = [fetched_urls(db) for db in per_worker["dbs"]]
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            assert not sets[i] & sets[j], (WORKERS[i], WORKERS[j], sorted(sets[i] & sets[j])[:5])


def test_server_saw_every_url_once(per_worker):
    counts = Counter((r.host, r.path) for r in per_worker["requests"])
    twice = {k: n for k, n in counts.items() if n > 1}
    assert not twice, f"requested more than once: {twice}"
    robots = [k for k in counts if k[1] == "/robots.txt"]
    assert len(robots) == len({r.host for r in per_worker["requests"]})  # one robots.txt per site, for all workers


def test_merged_corpus_has_every_planted_policy_once(per_worker):
    db = per_worker["merged"]
    urls = {r["url"]: r for r in db["documents"].rows}
    missing = [p["url"] for p in per_worker["expected"] if p["url"] not in urls]
    assert not missing, f"planted policies missing after merge: {missing}"
    assert all(r["snapshot_count"] == 1 for r in urls.values())
    assert db.execute("select count(*) from snapshots").fetchone()[0] == len(urls)
    assert {r["worker"] for r in db.query("select distinct worker from crawl_log")} == set(WORKERS)
    assert db["crawls"].count == 3 and {r["status"] for r in db["crawls"].rows} == {"finished"}
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_merge_twice_adds_nothing(per_worker):
    assert ("0 companies, 0 documents, 0 snapshots, 0 crawls, 0 candidates, 0 crawl_log, 0 document_versions"
            in per_worker["second"].stdout)
    first = per_worker["first"].stdout
    assert " 0 snapshots" not in first and " 0 crawl_log" not in first


MERGED_TABLES = ("companies", "documents", "snapshots", "document_versions", "crawls", "crawl_companies", "candidates",
                 "crawl_log")


def table_rows(db, table: str) -> list[tuple]:
    names = [c.name for c in TABLES_BY_NAME[table].columns]
    order = TABLES_BY_NAME[table].pk
    order = ", ".join(order) if isinstance(order, tuple) else order
    return [tuple(r) for r in db.execute(f"select {', '.join(names)} from {table} order by {order}")]


def test_merge_copies_every_declared_column(per_worker):
    """Each source row arrives whole: every column the schema declares (ids and the keys mapped to the
    destination's ids aside), so a column added to policycorpus.db.TABLES is merged too."""
    merged = per_worker["merged"]
    mapped = {"id", "company_id", "document_id", "snapshot_id", "crawl_id", "latest_snapshot_id", "snapshot_count"}
    for table in ("companies", "snapshots", "document_versions", "crawls", "candidates", "crawl_log"):
        names = [c.name for c in TABLES_BY_NAME[table].columns if c.name not in mapped]
        select = f"select {', '.join(names)} from {table}"
        # the same companies are in every worker's corpus: the merge keeps the first source's rows
        sources = per_worker["dbs"][:1] if table == "companies" else per_worker["dbs"]
        expected = Counter(tuple(r) for db in sources for r in db.execute(select))
        got = Counter(tuple(r) for r in merged.execute(select))
        assert got == expected, table
        assert any(any(v is not None for v in row) for row in got), table


def test_concurrent_merges_give_the_corpus_of_one(per_worker, tmp_path):
    """Two `merge` runs of the same sources at once into a new corpus: no traceback, and the corpus is
    the one a single merge makes (each source's merge holds the write lock; a second merge adds nothing)."""
    dest = tmp_path / "concurrent.db"
    holder = open_db(dest)
    holder.execute("BEGIN IMMEDIATE")  # hold the write lock until both merges are under way
    args = [sys.executable, "-m", "policycorpus", "merge", *map(str, per_worker["paths"]), "--db", str(dest)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(5)
    assert all(p.poll() is None for p in procs)
    holder.execute("ROLLBACK")
    holder.conn.close()
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0 and "Traceback" not in err, out + err
    added = sorted(out for out, _ in outputs)
    assert "0 companies, 0 documents, 0 snapshots" not in added[0] or "0 snapshots" not in added[1], added
    db = open_db(dest)
    for table in MERGED_TABLES:
        assert table_rows(db, table) == table_rows(per_worker["merged"], table), table


def test_redis_keys_removed_after_the_crawl(per_worker, redis_url):
    import redis

    assert not list(redis.Redis.from_url(redis_url).scan_iter(match="policycorpus:per-worker:*"))


def test_shared_corpus_db(redis_url, tmp_path):
    """All three workers writing to one corpus.db (WAL): every policy once, every worker contributes."""
    with DemoWeb(port=0, generation=1) as web:
        db_path = tmp_path / "corpus.db"
        policycorpus("companies", "import", str(web.write_companies_csv(tmp_path / "c.csv")), "--db", str(db_path))
        run_workers(redis_url, [db_path] * 3, job="shared")
        expected = web.expected(generation=1)
        requests = list(web.requests)
    db = open_db(db_path)
    docs = {r["url"] for r in db["documents"].rows}
    assert {p["url"] for p in expected} <= docs
    assert db.execute("select count(*) from snapshots").fetchone()[0] == len(docs)
    assert not [k for k, n in Counter((r.host, r.path) for r in requests).items() if n > 1]
    by_worker = {r["worker"]: r["n"] for r in db.query("select worker, count(*) n from crawl_log group by worker")}
    assert set(by_worker) == set(WORKERS), by_worker


def test_worker_options_need_redis(tmp_path):
    result = policycorpus("crawl", "--workers", "3", "--db", str(tmp_path / "x.db"), check=False)
    assert result.returncode != 0 and "--redis" in result.stderr


def test_merge_rejects_missing_source(tmp_path):
    result = policycorpus("merge", str(tmp_path / "nope.db"), "--db", str(tmp_path / "c.db"), check=False)
    assert result.returncode != 0 and "no corpus database" in result.stderr


def test_killed_worker_loses_no_page(redis_url, tmp_path):
    """SIGKILL one of three workers mid-crawl: the others put its in-flight requests back in the queue
    and finish the crawl; the merged corpus has every planted policy, once."""
    with DemoWeb(port=0, generation=1) as web:
        csv_path = web.write_companies_csv(tmp_path / "companies.csv")
        db_paths = [tmp_path / f"{w}.db" for w in WORKERS]
        for db_path in db_paths:
            policycorpus("companies", "import", str(csv_path), "--db", str(db_path))
        procs = [subprocess.Popen([sys.executable, "-m", "policycorpus", "crawl", "--redis", redis_url, "--job", "kill",
                                   "--workers", "3", "--worker-id", worker, "--allow-private", "-q", "--db", str(db)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for worker, db in zip(WORKERS, db_paths)]
        deadline = time.monotonic() + 60
        while len(web.requests) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(random.Random(5).uniform(0, 2))
        assert procs[1].poll() is None, "worker w2 finished before it could be killed"
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait(timeout=30)
        for proc in (procs[0], procs[2]):
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, out + err
        expected = [p["url"] for p in web.expected(generation=1)]
    merged = tmp_path / "corpus.db"
    policycorpus("merge", *map(str, db_paths), "--db", str(merged))
    db = open_db(merged)
    docs = {r["url"]: r for r in db["documents"].rows}
    assert not [u for u in expected if u not in docs], "policies lost with the killed worker"
    assert all(r["snapshot_count"] == 1 for r in docs.values())
    requeued = db.execute("select count(*) from crawl_log where outcome = 'requeued'").fetchone()[0]
    print(f"requeued after the kill: {requeued}")


def test_worker_killed_while_storing_a_policy_loses_it_to_no_one(redis_url, tmp_path):
    """A worker is killed while a policy it fetched waits in its item pipelines (its spider has already
    called the page answered): the page stays listed as that worker's in Redis until the policy is kept,
    so the other worker fetches it again and the merged corpus has every planted policy."""
    marker = tmp_path / "storing.txt"
    with DemoWeb(port=0, generation=1) as web:
        csv_path = web.write_companies_csv(tmp_path / "companies.csv")
        db_paths = [tmp_path / f"{w}.db" for w in WORKERS[:2]]
        for db_path in db_paths:
            policycorpus("companies", "import", str(csv_path), "--db", str(db_path))
        common = ["crawl", "--redis", redis_url, "--job", "kill-storing", "--workers", "2", "--allow-private", "-q"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                                           os.environ.get("PYTHONPATH")]))}
        slow = subprocess.Popen([sys.executable, "-m", "slow_store_worker", str(marker), "30",
                                 *common, "--worker-id", "w1", "--db", str(db_paths[0])],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        other = subprocess.Popen([sys.executable, "-m", "policycorpus", *common, "--worker-id", "w2",
                                  "--db", str(db_paths[1])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not (marker.exists() and marker.read_text()) and slow.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert slow.poll() is None, "the slow worker ended before it held a policy: " + "".join(slow.communicate())
            assert marker.exists(), "the slow worker held no policy within 120 s"
            time.sleep(2)  # several heartbeats: an early release would have reached Redis by now
            slow.send_signal(signal.SIGKILL)
            slow.wait(timeout=30)
            out, err = other.communicate(timeout=600)
            assert other.returncode == 0, out + err
        finally:
            for proc in (slow, other):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        held = set(marker.read_text().split())
        expected = [p["url"] for p in web.expected(generation=1)]
    merged = tmp_path / "corpus.db"
    policycorpus("merge", *map(str, db_paths), "--db", str(merged))
    docs = {r["url"] for r in open_db(merged)["documents"].rows}
    assert held and held <= docs, f"policies held by the killed worker were lost: {sorted(held - docs)}"
    assert not [u for u in expected if u not in docs]


def test_workers_stop_when_redis_dies_and_resume_later(tmp_path):
    """Redis killed mid-crawl: each worker retries for --redis-retry seconds, then stops with one
    'Error:' line (no traceback, no flood of log lines), leaving its crawl 'interrupted'; with a new
    Redis, `crawl --resume` finishes the crawl and the merged corpus has every planted policy."""
    retry = 3
    with DemoWeb(port=0, generation=1) as web:
        csv_path = web.write_companies_csv(tmp_path / "companies.csv")
        db_paths = [tmp_path / f"{w}.db" for w in WORKERS[:2]]
        for db_path in db_paths:
            policycorpus("companies", "import", str(csv_path), "--db", str(db_path))
        try:
            with redis_process() as (url, server):
                procs = [subprocess.Popen([sys.executable, "-m", "policycorpus", "crawl", "--redis", url, "--job", "lost",
                                           "--workers", "2", "--worker-id", worker, "--redis-retry", str(retry),
                                           "--allow-private", "-q", "--db", str(db)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                         for worker, db in zip(WORKERS, db_paths)]
                deadline = time.monotonic() + 60
                while len(web.requests) < 30 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert all(p.poll() is None for p in procs), "a worker finished before Redis was killed"
                server.kill()
                killed = time.monotonic()
                outputs = [p.communicate(timeout=120) for p in procs]
                stopped_after = time.monotonic() - killed
        except FileNotFoundError as exc:
            pytest.skip(str(exc))
        for proc, (out, err) in zip(procs, outputs):
            errors = [line for line in err.splitlines() if line.startswith("Error:")]
            assert proc.returncode != 0, out + err
            assert len(errors) == 1 and "Redis" in errors[0] and "--resume" in errors[0], err
            assert "Traceback" not in err, err
            assert sum("Redis" in line for line in err.splitlines()) <= 2, err  # one warning, one error
        assert stopped_after < retry + 20, f"workers took {stopped_after:.1f} s to stop"
        for db_path in db_paths:
            assert [r["status"] for r in open_db(db_path)["crawls"].rows] == ["interrupted"]

        with redis_server() as url:
            run_workers(url, db_paths, job="lost", extra=["--resume"])
        expected = [p["url"] for p in web.expected(generation=1)]
    for db_path in db_paths:
        assert [r["status"] for r in open_db(db_path)["crawls"].rows] == ["finished"]
    merged = tmp_path / "corpus.db"
    policycorpus("merge", *map(str, db_paths), "--db", str(merged))
    docs = {r["url"]: r for r in open_db(merged)["documents"].rows}
    assert not [u for u in expected if u not in docs], "policies missing after the resumed crawl"
    assert all(r["snapshot_count"] == 1 for r in docs.values())
    print(f"workers stopped {stopped_after:.1f} s after Redis was killed (retry {retry} s)")


def test_unreachable_redis_is_one_line_and_no_crawl_row(tmp_path):
    from redis_fixture import free_port

    db_path = tmp_path / "c.db"
    with DemoWeb(port=0, generation=1) as web:
        policycorpus("companies", "import", str(web.write_companies_csv(tmp_path / "c.csv")), "--db", str(db_path))
    result = policycorpus("crawl", "--redis", f"redis://127.0.0.1:{free_port()}/0", "-q", "--db", str(db_path),
                          check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        line for line in result.stderr.splitlines() if line.strip()], result.stderr
    assert "cannot reach Redis" in result.stderr
    assert open_db(db_path)["crawls"].count == 0


def test_interrupted_while_waiting_for_workers_leaves_no_running_crawl(redis_url, tmp_path):
    """Ctrl-C while a worker waits for the others: its crawl row is 'interrupted' (resumable), not 'running'."""
    db_path = tmp_path / "c.db"
    with DemoWeb(port=0, generation=1) as web:
        policycorpus("companies", "import", str(web.write_companies_csv(tmp_path / "c.csv")), "--db", str(db_path))
    proc = subprocess.Popen([sys.executable, "-m", "policycorpus", "crawl", "--redis", redis_url, "--job", "alone",
                             "--workers", "2", "--worker-id", "w1", "--db", str(db_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_terminal)
    deadline = time.monotonic() + 30
    while "joining job" not in (line := proc.stderr.readline()) and time.monotonic() < deadline:
        assert line or proc.poll() is None, "the worker exited before waiting"
    time.sleep(0.5)
    out, err = _interrupt(proc)
    # ended by the Ctrl-C (click says "Aborted!"), not by the 120 s wait for the missing worker
    assert proc.returncode != 0 and "Traceback" not in err and "Aborted" in err, out + err
    assert [r["status"] for r in open_db(db_path)["crawls"].rows] == ["interrupted"]


def _interrupt(proc: subprocess.Popen) -> tuple[str, str]:
    """Ctrl-C, and the worker's output; the worker is killed rather than left behind if it does not answer."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the worker did not answer Ctrl-C within 60 s: {out}{err}") from None


def _as_from_a_terminal() -> None:
    """Give the child the default SIGINT disposition a terminal gives it.

    A test run started in the background of a non-interactive shell (a CI script's "cmd &") inherits
    SIGINT ignored, and so would the worker: by convention a program started with SIGINT ignored keeps
    ignoring it, which is right for the program and would make this test meaningless.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_workers_ride_out_a_short_redis_outage(tmp_path):
    """Redis (with an append-only file) killed mid-crawl and restarted on its port 2 s later: the workers
    retry, carry on and finish the crawl; every planted policy is captured, no page fetched twice."""
    from redis_fixture import free_port

    port, data = free_port(), tmp_path / "redis"
    data.mkdir()
    persistent = ("--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", str(data))
    with DemoWeb(port=0, generation=1) as web:
        csv_path = web.write_companies_csv(tmp_path / "companies.csv")
        db_paths = [tmp_path / f"{w}.db" for w in WORKERS[:2]]
        for db_path in db_paths:
            policycorpus("companies", "import", str(csv_path), "--db", str(db_path))
        try:
            with redis_process(port, persistent) as (url, server):
                procs = [subprocess.Popen([sys.executable, "-m", "policycorpus", "crawl", "--redis", url, "--job", "blip",
                                           "--workers", "2", "--worker-id", worker, "--redis-retry", "30",
                                           "--allow-private", "-q", "--db", str(db)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                         for worker, db in zip(WORKERS, db_paths)]
                deadline = time.monotonic() + 60
                while len(web.requests) < 30 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert all(p.poll() is None for p in procs), "a worker finished before Redis was killed"
                server.kill()
                server.wait()
            time.sleep(2)
            with redis_process(port, persistent):
                outputs = [p.communicate(timeout=600) for p in procs]
        except FileNotFoundError as exc:
            pytest.skip(str(exc))
        for proc, (out, err) in zip(procs, outputs):
            assert proc.returncode == 0 and "Traceback" not in err, out + err
            # one warning per outage (a restarting Redis may fail twice: refused, then loading), no flood
            assert sum("Redis" in line for line in err.splitlines()) <= 3, err
        assert any("not answering" in err for _, err in outputs), "the outage went unnoticed"
        expected = [p["url"] for p in web.expected(generation=1)]
        requests = list(web.requests)
    twice = {k: n for k, n in Counter((r.host, r.path) for r in requests).items() if n > 1 and k[1] != "/robots.txt"}
    assert not twice, f"requested more than once: {twice}"
    merged = tmp_path / "corpus.db"
    policycorpus("merge", *map(str, db_paths), "--db", str(merged))
    docs = {r["url"] for r in open_db(merged)["documents"].rows}
    assert not [u for u in expected if u not in docs], "policies lost in the outage"
