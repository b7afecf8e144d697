"""`policycorpus serve` while other processes write to the corpus.

The server runs in its own process on a real socket; a writer process adds
companies with their policies through the library (one transaction each),
then `policycorpus segment` splits them, while a reader loops over pages. The
server must answer 200 throughout (never "database disk image is malformed")
and show the new data without a restart.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from policycorpus.db import open_db
from policycorpus.store import Fetched, save_document
from policycorpus.structure import Block

pytest.importorskip("datasette")
pytestmark = pytest.mark.slow

INITIAL = 3
ADDED = 40
ROOT = Path(__file__).resolve().parents[1]

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from policycorpus.db import open_db
    from policycorpus.store import Fetched, save_document
    from policycorpus.structure import Block

    db = open_db(sys.argv[1])
    n, go = int(sys.argv[2]), Path(sys.argv[3])
    for i in range(n):
        while i == n // 2 and not go.exists():  # the second half once the test says go
            time.sleep(0.05)
        slug = f"added-{i}"
        company = db["companies"].insert({"name": f"Added {i}", "slug": slug,
                                          "homepage": f"https://{slug}.example/"}).last_pk
        blocks = [Block("heading", f"Added {i} social media policy", 1),
                  Block("paragraph", f"Staff of Added {i} must not share customer data online.", 0),
                  Block("paragraph", f"Report fake Added {i} accounts to the security team.", 0)]
        save_document(db, company, Fetched(url=f"https://{slug}.example/social-media", raw=b"policy",
                                           content_type="text/html", blocks=blocks, title="Policy",
                                           http_status=200, extractor="test", policy_score=0.9))
        db.conn.commit()
        time.sleep(0.05)
""")


def build_corpus(path: Path) -> Path:
    db = open_db(path)
    for i in range(INITIAL):
        slug = f"first-{i}"
        company = db["companies"].insert({"name": f"First {i}", "slug": slug, "homepage": f"https://{slug}.example/"}).last_pk
        blocks = [Block("paragraph", f"Employees of First {i} must keep passwords private.", 0)]
        save_document(db, company, Fetched(url=f"https://{slug}.example/policy", raw=b"policy", content_type="text/html",
                                           blocks=blocks, title="Policy", http_status=200, extractor="test",
                                           policy_score=0.9))
    db.conn.commit()
    db.conn.close()
    return path


def start_server(db_path: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "policycorpus", "serve", "--db", str(db_path), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=ROOT,
    )
    line = process.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    if not match:
        process.kill()
        pytest.fail(f"serve printed {line!r}; stderr: {process.stderr.read()[-2000:]}")
    return process, match.group(1)


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:  # refused, reset: the server is not answering
        return 0, repr(exc)


class Reader(threading.Thread):
    """Loops over a table, a view and a policy page, recording every status and the company count seen."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base, self.stop_event = base, threading.Event()
        self.failures: list[tuple[str, int, str]] = []
        self.counts: list[int] = []
        self.requests = 0

    def run(self):
        pages = ["corpus/companies.json?_shape=array&_size=max&_col=name", "corpus/current_clauses.json?_size=5",
                 "corpus/documents.json?_sort_desc=id&_size=3", "-/policy/1", "corpus/search_policies.json?q=share"]
        while not self.stop_event.is_set():
            for page in pages:
                status, body = fetch(self.base + page)
                self.requests += 1
                if status != 200:
                    self.failures.append((page, status, body[:300]))
                elif page.startswith("corpus/companies"):
                    self.counts.append(len(json.loads(body)))


def test_serve_sees_committed_writes_of_other_commands_and_never_fails(tmp_path):
    db_path = build_corpus(tmp_path / "corpus.db")
    go = tmp_path / "go"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), str(ADDED), str(go)], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True)
    process, base = start_server(db_path)  # starts (and rebuilds its summaries) while the writer writes
    reader = Reader(base)
    try:
        reader.start()
        for _ in range(600):
            if reader.counts or reader.failures:
                break
            time.sleep(0.05)
        go.touch()  # the second half of the writes while the reader reads
        assert writer.wait(timeout=120) == 0, writer.stderr.read()[-2000:]
        segment = subprocess.run([sys.executable, "-m", "policycorpus", "segment", "--db", str(db_path), "-q"],
                                 cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert segment.returncode == 0, segment.stderr[-2000:]
        time.sleep(1)
        reader.stop_event.set()
        reader.join(timeout=60)
        assert not reader.failures, reader.failures[:5]
        assert reader.requests > 20
        # the company count only grew, was seen part-way through the writes, and reached the final number
        assert reader.counts == sorted(reader.counts)
        assert reader.counts[-1] == INITIAL + ADDED
        assert any(INITIAL < n < INITIAL + ADDED for n in reader.counts), sorted(set(reader.counts))
        # segmented clauses of the new companies show without a restart
        status, body = fetch(base + "corpus/current_clauses.json?_shape=array&company=Added+39")
        assert status == 200 and any("must not share customer data" in r["text"] for r in json.loads(body)), body[:500]
        document = open_db(db_path).execute("select max(id) from documents").fetchone()[0]
        status, body = fetch(base + f"-/policy/{document}")
        assert status == 200 and "Report fake Added 39 accounts" in body
    finally:
        reader.stop_event.set()
        if writer.poll() is None:
            writer.kill()
        stop(process)
    assert "malformed" not in process.stderr.read()
