"""--allow-host: exactly the listed addresses of a local test web, every other private address still refused.

(Redirects from an allowed site into loopback, cloud metadata and 'localhost', and robots.txt/sitemap.xml
redirects, are crawled for real in tests/test_faults.py.)
"""

import subprocess
import sys

import pytest

from crawler.safety import check_url, parse_networks
from faultweb import FaultWeb
from policycorpus.db import open_db

ALLOWED = parse_networks(["127.0.0.21", "127.0.0.100/30"])


@pytest.mark.parametrize("url", ["http://127.0.0.21:8631/", "http://127.0.0.101/x", "http://127.0.0.103:9/"])
def test_listed_addresses_allowed(url):
    assert check_url(url, allow_private=False, allow_networks=ALLOWED) is None


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://127.0.0.22/", "http://127.0.0.104/", "http://localhost/", "http://[::1]/",
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::ffff:127.0.0.1]/",
])
def test_everything_else_private_still_refused(url):
    reason = check_url(url, allow_private=False, allow_networks=ALLOWED)
    assert reason and reason.startswith("refused")


def test_localhost_refused_after_dns_resolution():
    reason = check_url("http://localhost:8631/", allow_private=False)
    assert "localhost resolves to" in reason and "loopback" in reason


def test_scheme_refused_even_for_allowed_host():
    assert "scheme" in check_url("ftp://127.0.0.21/", allow_private=False, allow_networks=ALLOWED)


def test_bad_allow_host_is_a_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "policycorpus", "crawl", "--allow-host", "example.com",
                             "--db", str(tmp_path / "c.db")], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert [line for line in result.stderr.splitlines() if line.startswith("Error")][0].startswith(
        "Error: --allow-host takes IP addresses")


def test_unlisted_site_refused_with_robots_and_sitemap(tmp_path):
    """Only the first site is allowed: the second is never contacted, not even for robots.txt or sitemap.xml."""
    with FaultWeb([None, None], first_host=150) as web:
        db_path = str(tmp_path / "c.db")
        subprocess.run([sys.executable, "-m", "policycorpus", "companies", "import",
                        str(web.write_companies_csv(tmp_path / "c.csv")), "--db", db_path], check=True, timeout=120)
        allowed, blocked = web.sites
        subprocess.run([sys.executable, "-m", "policycorpus", "crawl", "--allow-host", allowed.host, "-q",
                        "--db", db_path], capture_output=True, text=True, timeout=300)
        assert web.requests_to(allowed.host)
        assert not web.requests_to(blocked.host)
    db = open_db(db_path)
    refused = {r["url"].rsplit("/", 1)[1] for r in db["crawl_log"].rows
               if r["outcome"] == "refused" and blocked.host in r["url"]}
    assert refused == {"", "sitemap.xml"}
    assert len(list(db["documents"].rows)) == 1
