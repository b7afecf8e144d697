"""End to end: `policycorpus serve` on the demo corpus, the comparison page in a real headless Chromium.

The demo corpus is built with the real commands on the demo web (demo.webserver.DemoWeb):
companies import, crawl, segment, tag. Chromium is Debian's package (installed by .ci/run);
the test is skipped only when no chromium binary is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(demo_db):
    """`policycorpus serve` in its own process on a free port; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "policycorpus", "serve", "--db", str(demo_db), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, f"serve printed {line!r}; stderr: {process.stderr.read() if process.poll() is not None else ''}"
        yield match.group(1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def compared_companies(db: Path, n: int = 3) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute(
            "select company from current_clauses where categories != '[]' group by company "
            "order by count(*) desc, company limit ?", [n])]
    finally:
        conn.close()


def chromium(tmp_path: Path, *args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary installed (apt-get install chromium)")
def test_comparison_page_renders_in_headless_chromium(server, demo_db, tmp_path):
    names = compared_companies(demo_db)
    assert len(names) >= 2, "the demo corpus should have tagged clauses for several companies"
    url = server + "-/compare?" + urlencode({"companies": ",".join(names)})

    started = time.monotonic()
    dom = chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'id="pc-grid"' in html
    assert html.count('class="pc-category-row"') >= 22  # every category of the taxonomy is a row
    for name in names:
        assert f'data-company="{name}"' in html.replace("&amp;", "&")
    assert html.count('data-state="covered"') >= len(names)  # every compared company covers something
    assert 'class="pc-source"' in html and 'class="pc-snapshot"' in html

    screenshot = tmp_path / "compare.png"
    shot = chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1400,1800", url)
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, len(data)
    assert time.monotonic() - started < 120
