"""The demo web (demo/webserver.py + demo/web/): real HTTP servers on 127.0.0.21-40 serving the sites.

Every check goes through real HTTP requests with urllib / http.client against the running servers.
"""

from __future__ import annotations

import difflib
import http.client
import io
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import urllib.robotparser
from collections import deque
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pypdf
import pytest

from demo import build_web
from demo.webserver import DemoWeb, load_sites

REPO = Path(__file__).resolve().parents[1]
TAXONOMY_MD = REPO.parent / "shared" / "TAXONOMY.md"
SITES = load_sites()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


NO_REDIRECT = urllib.request.build_opener(_NoRedirect)


def get(url: str, follow: bool = True, headers: dict | None = None):
    """(status, headers, body, final url) of a GET; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener() if follow else NO_REDIRECT
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read(), response.url
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read(), url


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)


def links_of(body: bytes) -> list[str]:
    parser = _Links()
    parser.feed(body.decode("utf-8"))
    return parser.links


def polite_crawl(web: DemoWeb, slug: str) -> tuple[dict[str, int], set[str]]:
    """Breadth-first crawl of one site through real HTTP, obeying its robots.txt.

    Returns the click depth of every page reached (keyed by final path) and the disallowed paths seen in links.
    """
    base = web.base_url(slug)
    robots = urllib.robotparser.RobotFileParser(base + "robots.txt")
    robots.read()
    depth: dict[str, int] = {}
    blocked: set[str] = set()
    queue = deque([(web.homepage_url(slug), 0)])
    seen = {web.homepage_url(slug)}
    while queue:
        url, d = queue.popleft()
        status, headers, body, final = get(url)
        if status != 200:
            continue
        path = urlsplit(final).path
        depth.setdefault(path, d)
        if not headers.get("Content-Type", "").startswith("text/html"):
            continue
        for href in links_of(body):
            target = urljoin(final, href).split("#")[0]
            if not target.startswith(base) or target in seen:
                continue
            seen.add(target)
            if not robots.can_fetch("*", target):
                blocked.add(urlsplit(target).path)
                continue
            queue.append((target, d + 1))
    return depth, blocked


def paragraphs(body: bytes) -> list[str]:
    text = re.sub(r"<[^>]+>", " ", body.decode("utf-8"))
    chunks = re.split(r"\n", text)
    return [" ".join(c.split()) for c in chunks if len(c.split()) >= 12]


# ---------------------------------------------------------------- sites.yaml


def test_sites_yaml_describes_a_varied_demo_web():
    assert len(SITES) >= 12
    assert len({s.industry for s in SITES.values()}) >= 4
    for site in SITES.values():
        last = int(site.host.rsplit(".", 1)[1])
        assert site.host.startswith("127.0.0.") and 21 <= last <= 40, site.slug
        assert site.country and site.industry
        assert (site.directory / "index.html").is_file(), f"{site.slug} has no homepage"
        for policy in site.policies:
            assert not set(policy["expected_categories"]) & set(policy["absent_categories"]), policy["path"]
        for path in site.negatives:
            assert path not in {p["path"] for p in site.policies}
    groups: dict[str, list] = {}
    for site in SITES.values():
        if site.peer_group:
            groups.setdefault(site.peer_group, []).append(site)
    assert any(len(members) >= 5 and len({m.industry for m in members}) == 1 for members in groups.values())
    assert sum(1 for s in SITES.values() if not s.policies) >= 1, "one company must have no policy"
    assert sum(1 for s in SITES.values() if s.csv_policy_url) == 1


def test_categories_are_taxonomy_ids():
    if not TAXONOMY_MD.is_file():
        pytest.skip(f"{TAXONOMY_MD} not found (shared taxonomy contract absent)")
    ids = set(re.findall(r"^\|\s*\w+\s*\|\s*`(\w+)`", TAXONOMY_MD.read_text(), re.M))
    assert len(ids) >= 20
    for site in SITES.values():
        for policy in site.policies:
            used = set(policy["expected_categories"]) | set(policy["absent_categories"])
            assert used <= ids, (site.slug, used - ids)


def test_every_site_has_the_hard_negatives():
    import yaml

    for slug in SITES:
        config = yaml.safe_load((build_web.CONTENT / slug / "site.yaml").read_text())
        kinds = {template.rsplit("-", 1)[0] for template in config["shared"].values()}
        assert {"privacy", "terms", "cookies", "community", "blog-tips"} <= kinds, slug
        served = {p if not p.endswith("/") else p for p in config["shared"]}
        assert served <= set(SITES[slug].negatives), (slug, served - set(SITES[slug].negatives))


def test_only_the_changing_policy_has_a_second_generation():
    for slug, site in SITES.items():
        overlay = site.directory / "_gen2"
        files = {"/" + f.relative_to(overlay).as_posix() for f in overlay.rglob("*") if f.is_file()} if overlay.is_dir() else set()
        changing = {p["path"] for p in site.policies if p.get("changes")}
        assert files == changing, slug


def test_committed_web_matches_content():
    assert build_web.check() == [], "run: python -m demo.build_web"


# ---------------------------------------------------------------- serving


def test_every_site_answers_on_its_own_address(demo_web_module):
    web = demo_web_module
    for slug, site in web.sites.items():
        url = web.homepage_url(slug)
        assert urlsplit(url).hostname == site.host
        status, headers, body, _ = get(url)
        assert status == 200, slug
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert site.name.split()[0].encode() in body
        assert b"<footer" in body or b'id="footer"' in body


def test_every_policy_and_negative_is_served(demo_web_module):
    web = demo_web_module
    for policy in web.expected():
        status, headers, body, _ = get(policy["url"])
        assert status == 200, policy["url"]
        expected_type = "application/pdf" if policy["format"] == "pdf" else "text/html; charset=utf-8"
        assert headers["Content-Type"] == expected_type
    for slug, site in web.sites.items():
        for path in site.negatives:
            assert get(web.url(slug, path))[0] == 200, (slug, path)


def test_missing_and_private_paths_are_404(demo_web_module):
    web = demo_web_module
    slug = next(iter(web.sites))
    assert get(web.url(slug, "/no/such/page.html"))[0] == 404
    assert get(web.url(slug, "/_gen2/index.html"))[0] == 404
    assert get(web.url(slug, "/../sites.yaml"))[0] == 404


def test_directory_without_slash_redirects(demo_web_module):
    web = demo_web_module
    status, headers, _, _ = get(web.url("quillsoft", "/company"), follow=False)
    assert status == 301
    assert headers["Location"] == web.url("quillsoft", "/company/")


def test_etag_gives_304(demo_web_module):
    url = demo_web_module.url("quillsoft", "/company/digital-participation.html")
    status, headers, _, _ = get(url)
    assert status == 200 and headers["ETag"]
    assert get(url, headers={"If-None-Match": headers["ETag"]})[0] == 304


def test_head_request_has_no_body(demo_web_module):
    host, port = urlsplit(demo_web_module.base_url("quillsoft")).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("HEAD", "/")
    response = conn.getresponse()
    assert response.status == 200 and int(response.headers["Content-Length"]) > 0
    assert response.read() == b""
    conn.close()


# ---------------------------------------------------------------- site shapes


def test_robots_txt_disallows_the_planted_pages(demo_web_module):
    web = demo_web_module
    planted = [(slug, path) for slug, site in web.sites.items() for path in site.never_request]
    assert any("social-media" in path for _, path in planted)
    for slug, path in planted:
        robots = urllib.robotparser.RobotFileParser(web.base_url(slug) + "robots.txt")
        robots.read()
        assert not robots.can_fetch("*", web.url(slug, path)), (slug, path)
    # the planted policy-like page really exists and looks like a policy
    body = (SITES["vantage-freight"].directory / "intranet" / "draft-social-media-policy-2025.html").read_text()
    assert "Social media policy" in body and "disciplinary" in body


def test_sitemap_lists_the_sitemap_only_policy(demo_web_module):
    web = demo_web_module
    orphans = [p for p in web.expected() if p.get("depth") is None and p["format"] == "html"]
    assert orphans, "one policy must be reachable only through sitemap.xml"
    for policy in orphans:
        status, headers, body, _ = get(web.url(policy["slug"], "/sitemap.xml"))
        assert status == 200 and headers["Content-Type"].startswith("application/xml")
        assert f"<loc>{policy['url']}</loc>".encode() in body
        robots = get(web.url(policy["slug"], "/robots.txt"))[2].decode()
        assert f"Sitemap: {web.url(policy['slug'], '/sitemap.xml')}" in robots


def test_policies_sit_at_their_click_depth_and_disallowed_pages_are_never_fetched(demo_web):
    web = demo_web
    for slug, site in web.sites.items():
        depth, blocked = polite_crawl(web, slug)
        for policy in site.policies_in(1):
            if policy["format"] == "pdf" and policy.get("depth") is None:
                continue
            assert depth.get(policy["path"]) == policy.get("depth"), (slug, policy["path"], depth.get(policy["path"]))
        for path in site.never_request:
            assert path in blocked, f"{slug}: {path} should be linked somewhere yet disallowed"
        for path in site.negatives:
            assert path in depth, f"{slug}: negative {path} not reachable by links"
    fetched = {(r.host, urlsplit(r.path).path) for r in web.requests}
    for slug, site in web.sites.items():
        for path in site.never_request:
            assert (site.host, path) not in fetched
    assert len(web.requests) > 100


def test_redirect_leads_to_the_policy(demo_web_module):
    web = demo_web_module
    redirected = [(slug, src, dst) for slug, site in web.sites.items() for src, dst in site.redirects.items()]
    assert redirected, "one policy must be behind a redirect"
    policy_paths = {(p["slug"], p["path"]) for p in web.expected()}
    assert any((slug, dst) in policy_paths for slug, _, dst in redirected)
    for slug, src, dst in redirected:
        status, headers, _, _ = get(web.url(slug, src), follow=False)
        assert status == web.sites[slug].redirect_status
        assert headers["Location"] == web.url(slug, dst)
        status, _, _, final = get(web.url(slug, src))
        assert status == 200 and final == web.url(slug, dst)


def test_pdf_policy_is_a_real_pdf_with_extractable_text(demo_web_module):
    web = demo_web_module
    pdfs = [p for p in web.expected() if p["format"] == "pdf"]
    assert pdfs, "one policy must be published only as a PDF"
    for policy in pdfs:
        status, headers, body, _ = get(policy["url"])
        assert status == 200 and headers["Content-Type"] == "application/pdf"
        assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
        reader = pypdf.PdfReader(io.BytesIO(body))
        text = " ".join(page.extract_text() for page in reader.pages)
        assert len(reader.pages) >= 2
        assert policy["title"].lower() in " ".join(text.split()).lower()
        assert len(text.split()) > 300


def test_companies_csv_imports_with_one_known_policy_url(demo_web_module, tmp_path):
    from policycorpus.companies import parse_company_csv

    rows = parse_company_csv(demo_web_module.write_companies_csv(tmp_path / "companies.csv"))
    assert len(rows) == len(demo_web_module.sites)
    with_url = [r for r in rows if r.policy_url]
    assert len(with_url) == 1
    assert get(with_url[0].policy_url)[0] == 200
    assert all(get(r.homepage)[0] == 200 for r in rows)


# ---------------------------------------------------------------- generations and log


def test_generation_switch_changes_the_changing_policy(demo_web):
    web = demo_web
    changing = [s for s in web.sites.values() if any(p.get("changes") for p in s.policies)]
    assert changing, "one policy must change between generations"
    for site in changing:
        path = next(p["path"] for p in site.policies if p.get("changes"))
        before = get(web.url(site.slug, path))
        web.set_generation(2)
        after = get(web.url(site.slug, path))
        web.set_generation(1)
        again = get(web.url(site.slug, path))
        assert before[0] == after[0] == 200
        assert before[2] != after[2] and before[2] == again[2]
        assert before[1]["ETag"] != after[1]["ETag"]
        old, new = paragraphs(before[2]), paragraphs(after[2])
        changed = [op for op in difflib.SequenceMatcher(a=old, b=new).get_opcodes() if op[0] != "equal"]
        assert 2 <= len(changed) and difflib.SequenceMatcher(a=old, b=new).ratio() > 0.5
    unchanged = next(s for s in web.sites.values() if s not in changing and s.policies)
    path = unchanged.policies[0]["path"]
    web.set_generation(2)
    assert get(web.url(unchanged.slug, path))[1]["ETag"] == get(web.url(unchanged.slug, path))[1]["ETag"]


def test_requests_are_logged(demo_web):
    web = demo_web
    web.clear_requests()
    get(web.url("quillsoft", "/"))
    get(web.url("quillsoft", "/nope.html?x=1"))
    assert web.requests_for("quillsoft") == [
        (SITES["quillsoft"].host, "/", 200),
        (SITES["quillsoft"].host, "/nope.html?x=1", 404),
    ]


def test_hostile_text_is_served_escaped(demo_web_module):
    body = get(demo_web_module.url("quillsoft", "/company/digital-participation.html"))[2].decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert(1)" not in body
    assert '<p>=HYPERLINK("http://' in body


def test_template_family_shares_paragraphs(demo_web_module):
    web = demo_web_module
    families: dict[str, list[str]] = {}
    for slug, site in web.sites.items():
        if site.template_family:
            families.setdefault(site.template_family, []).append(slug)
    if not families:
        pytest.skip("no template family yet")
    for family, members in families.items():
        assert len(members) >= 3 and len({web.sites[m].industry for m in members}) == len(members)
        texts = {m: paragraphs(get(web.url(m, web.sites[m].policies[0]["path"]))[2]) for m in members
                 if web.sites[m].policies[0]["format"] == "html"}
        first, *others = texts
        for other in others:
            near = sum(
                1 for a in texts[first]
                if any(0.8 < difflib.SequenceMatcher(a=a, b=b).ratio() < 1.0 or a == b for b in texts[other])
            )
            assert near >= 3, (family, first, other, near)


# ---------------------------------------------------------------- CLI


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def test_cli_serves_and_switches_generation(tmp_path):
    port = _free_port("127.0.0.33")
    csv_path = tmp_path / "demo.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo.webserver", "--port", str(port), "--sites", "tallis-coffee,quillsoft", "--csv", str(csv_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        assert lines[0] == f"tallis-coffee\thttp://127.0.0.33:{port}/"
        assert csv_path.read_text().startswith("name,homepage,policy_url,industry,country,peer_group")
        base = f"http://127.0.0.28:{port}"
        assert get(base + "/__demo/generation")[2] == b"1\n"
        request = urllib.request.Request(base + "/__demo/generation/2", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        assert get(base + "/__demo/generation")[2] == b"2\n"
        bad = urllib.request.Request(base + "/__demo/generation/7", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad, timeout=5)
        assert err.value.code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_busy_port_is_reported(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.33", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "demo.webserver", "--port", str(port), "--sites", "tallis-coffee"],
            cwd=REPO, capture_output=True, text=True, timeout=30,
        )
    assert proc.returncode == 1 and "cannot bind" in proc.stderr


def test_stop_frees_the_addresses():
    web = DemoWeb(port=0, sites=["tallis-coffee"]).start()
    url = web.base_url("tallis-coffee")
    web.stop()
    time.sleep(0.05)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)
