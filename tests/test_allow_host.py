"""--allow-host: exactly the listed addresses of a local test web, every other private address still refused.

(Redirects from an allowed site into loopback, cloud metadata and 'localhost', and robots.txt/sitemap.xml
redirects, are crawled for real in tests/test_faults.py.)
"""

import subprocess
import sys

import pytest

from crawler.safety import check_url, parse_networks
from policycorpus.db import open_db

from faultweb import FaultWeb

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


def test_resolver_checks_the_address_connected_to():
    """DNS rebinding: whatever the name resolved to at check time, the connection address is checked again."""
    from twisted.internet.error import DNSLookupError

    from crawler.safety import SafeResolver

    resolver = SafeResolver.__new__(SafeResolver)
    resolver.allow_networks = ALLOWED
    assert resolver.check("93.184.216.34", "public.example") == "93.184.216.34"
    assert resolver.check("127.0.0.21", "test-web.example") == "127.0.0.21"
    for address in ("127.0.0.1", "169.254.169.254", "10.1.2.3", "::1"):
        with pytest.raises(DNSLookupError, match="refused: rebind.example resolved to"):
            resolver.check(address, "rebind.example")


def test_crawl_uses_the_checking_resolver():
    from crawler.settings import RESOLVER_SETTING, crawl_settings

    assert crawl_settings(db_path="x.db", crawl_id=1)[RESOLVER_SETTING] == "crawler.safety.SafeResolver"


REBIND_SCRIPT = """
import http.server, sys, threading
import scrapy
from scrapy.crawler import CrawlerProcess
from crawler.safety import connect_refusal
from crawler.settings import RESOLVER_SETTING
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
out = []
class Probe(scrapy.Spider):
    name = "probe"
    async def start(self):
        yield scrapy.Request(f"http://localhost:{server.server_address[1]}/", errback=self.failed)
    def parse(self, response):
        out.append("fetched")
    def failed(self, failure):
        out.append(connect_refusal("localhost") or repr(failure.value))
process = CrawlerProcess(settings={RESOLVER_SETTING: "crawler.safety.SafeResolver", "LOG_LEVEL": "CRITICAL",
                                   "ROBOTSTXT_OBEY": False, "RETRY_ENABLED": False, "HTTPERROR_ALLOW_ALL": True,
                                   "POLICYCORPUS_ALLOW_PRIVATE": sys.argv[1] == "allow"})
process.crawl(Probe)
process.start()
print(out[0])
"""


@pytest.mark.parametrize("mode, expected", [("deny", "refused: localhost resolved to 127.0.0.1, a loopback address"),
                                            ("allow", "fetched")])
def test_resolver_refuses_at_connection_time_in_a_real_crawl(mode, expected):
    """Without the URL check (as if DNS had answered differently then): the connection itself is refused."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", REBIND_SCRIPT, mode], capture_output=True, text=True, timeout=120,
                            cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith(expected), result.stdout
