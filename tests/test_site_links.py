"""Issue 15's "a Datasette site without dead ends", in a real headless Chromium.

The corpus is ../shared/realcorpus imported with its INDEX.tsv, plus one organization whose name has a comma,
brackets, an ampersand and non-ASCII letters, with two versions of a policy written for this test. It is segmented,
tagged and served by `policycorpus serve --port 0`. The walk starts at the home page, the database page, every canned
query (empty and with a parameter), one policy page, one clause link and one compare page, collects the links of
each page from the DOM Chromium rendered (anchors, stylesheets, the GET forms as submitted, and the column menus
Datasette's JavaScript builds), and follows the same-site ones: none may answer 4xx or 5xx.

The walk is bounded by *link kind* -- the path with ids folded and the set of query parameter names with columns
and values folded -- so that facet combinations and pagination cannot explode it: every kind found is requested
(up to CHECKS_PER_KIND URLs each), and one page of each HTML kind is opened in Chromium to collect its links.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from cdp import CHROMIUM, Browser

from corpora import run_cli

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "realcorpus"
SCREENSHOTS = os.environ.get("POLICYCORPUS_SCREENSHOTS")  # a folder: keep the screenshots

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary installed (apt-get install chromium)"),
              pytest.mark.skipif(not (REAL / "INDEX.tsv").is_file(), reason="../shared/realcorpus is not available")]

ODD_NAME = "Müller, Schmidt & Co. (Zürich) — Ωmega"
POLICY_V1 = """# Social media guidelines for staff

## Who this covers

These guidelines apply to every employee, intern and freelancer of the firm, whether they post at work or at home.

## Speaking for the firm

Only the communications office may speak for the firm on social media or to journalists.

## Confidential matters

Never post client names, contract values or unpublished figures. Keep internal discussions internal.

## Respect

Be courteous to colleagues, clients and the public. Harassment, insults and discrimination are not tolerated.
"""
POLICY_V2 = POLICY_V1 + """
## Accounts

Protect official accounts with two-factor authentication and report a lost password to the IT desk at once.
"""

CHECKS_PER_KIND = 1
MAX_REQUESTS = 700
MAX_OPENED = 220
READ_LIMIT = 4 * 1024 * 1024
PAGE_LINKS_JS = r"""(() => {
  const out = new Set();
  const add = (href) => { if (href) out.add(href); };
  document.querySelectorAll('a[href], link[href]').forEach(a => add(a.href));
  document.querySelectorAll('form').forEach(f => {
    if ((f.getAttribute('method') || 'get').toLowerCase() !== 'get') return;
    const url = new URL(f.action || location.href);
    url.search = new URLSearchParams(new FormData(f)).toString();
    add(url.href);
  });
  /* Datasette's column menus are built by table.js when a column's icon is clicked */
  document.querySelectorAll('th .dropdown-menu-icon').forEach(icon => {
    icon.dispatchEvent(new MouseEvent('click', {bubbles: true}));
    document.querySelectorAll('.dropdown-menu li').forEach(li => {
      const a = li.querySelector('a');
      if (a && li.style.display !== 'none' && a.getAttribute('href') !== '#') add(a.href);
    });
  });
  return Array.from(out);
})()"""


# ---------------------------------------------------------------- the corpus and the server


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site-links")
    db = root / "corpus.db"
    policy = root / "odd" / "guidelines.md"
    policy.parent.mkdir()
    for text in (POLICY_V1, POLICY_V2):  # two versions of one document
        policy.write_text(text, encoding="utf-8")
        run_cli("import-docs", policy, "--company", ODD_NAME, "--db", db, "-q")
    run_cli("import-docs", REAL / "texts", REAL / "pages", "--sidecar", REAL / "INDEX.tsv", "--db", db, "-q")
    for command in ("segment", "tag", "templates"):
        run_cli(command, "--db", db)
    process = subprocess.Popen(
        [sys.executable, "-m", "policycorpus", "serve", "--db", str(db), "--port", "0", "--title", "Test corpus",
         "--license", "CC-BY-4.0", "--citation", "Doe (2026), test corpus"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        assert match, f"serve printed {line!r}: {process.stderr.read()[-2000:] if process.poll() is not None else ''}"
        yield {"db": db, "base": match.group(1), "root": root}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    chromium.page("Page.enable")
    chromium.page("Emulation.setDeviceMetricsOverride",
                  {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    yield chromium
    chromium.close()


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def rows(base: str, sql: str, **params) -> list[dict]:
    return get_json(f"{base}/corpus.json?" + urlencode({"sql": sql, "_shape": "array", **params}))


def shots_dir(tmp_path: Path) -> Path:
    return Path(SCREENSHOTS) if SCREENSHOTS else tmp_path


# ---------------------------------------------------------------- the walk


# What a query parameter does to a Datasette page, so that links differing only in which column or value they
# act on are one kind: sorting by any column is one kind of link, faceting by any column another.
FEATURES = {"_sort": "sort", "_sort_desc": "sort", "_sort_by_desc": "sort", "_col": "columns", "_nocol": "columns",
            "_facet": "facet", "_facet_array": "facet", "_facet_date": "facet", "_facet_size": "facet",
            "_next": "page", "_size": "page", "_search": "search", "_searchmode": "search", "_where": "filter",
            "_shape": "format", "_nl": "format", "_labels": "format", "_stream": "format", "_dl": "format",
            "_json": "format", "_filter_column": "filter form", "_filter_op": "filter form",
            "_filter_value": "filter form", "_hide_sql": "sql", "_show_sql": "sql", "_show_hidden": "hidden"}
# Tables the plugin renders its own way (templates/_table-corpus-current_clauses.html, search terms marked in clause
# texts): each is a kind of its own. Every other table is served by the same Datasette code, so sorting any of them
# is one kind of link (every table's own page is still requested: the database page links them all).
FEATURED = {"current_clauses", "clauses"}


def link_kind(url: str, canned: frozenset = frozenset()) -> tuple:
    """What a link is, whatever its ids and values: its page (a custom page, a canned query, a featured table, or
    any other table), its format, and what its query parameters do (a filter on any column is "filter" ...)."""
    parts = urlsplit(url)
    path, _, extension = parts.path.rpartition(".") if re.search(r"\.(json|csv|atom|blob)$", parts.path) else (
        parts.path, "", "html")
    segments = path.split("/")
    if len(segments) > 2 and segments[1] == "corpus":
        if segments[2] not in FEATURED | canned:
            segments[2] = "{table}"
        segments[3:] = ["{row}"] if len(segments) > 3 else []  # a row page, whatever its primary key
    path = "/".join("{id}" if re.search(r"\d", s) else s for s in segments)
    features = set()
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if name.startswith("_"):
            features.add(FEATURES.get(re.sub(r"_\d+$", "", name), name))
        elif path.startswith("/corpus/"):
            features.add("filter")  # a column filter, or a canned query's parameter
        elif path == "/corpus":
            features.add("sql" if name == "sql" else "parameter")
        else:
            features.add(name)  # a page's own parameter: companies, snapshot ...
    return path, extension, tuple(sorted(features))


@dataclass
class Walk:
    """Request every link of the start pages; from there on, up to CHECKS_PER_KIND links of each kind. Open in
    Chromium the first page of each HTML kind that adds at most one feature to its page (a sorted table, a faceted
    table ...) to collect its links; pages combining several features are requested, not opened."""

    base: str
    browser: Browser
    canned: frozenset = frozenset()
    requested: dict[str, int] = field(default_factory=dict)  # url -> HTTP status
    referrer: dict[str, str] = field(default_factory=dict)
    kinds: Counter = field(default_factory=Counter)
    opened: set = field(default_factory=set)  # kinds whose page was opened in Chromium
    unvisited: set = field(default_factory=set)  # kinds left when a bound was reached

    def kind(self, url: str) -> tuple:
        return link_kind(url, self.canned)

    def same_site(self, url: str) -> bool:
        return url.startswith(self.base + "/") or url == self.base

    def request(self, url: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                response.read(READ_LIMIT)
                return response.status, response.headers.get("content-type", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("content-type", "")

    def links_on(self, url: str) -> list[str]:
        self.browser.goto(url)
        return [link.split("#")[0] for link in self.browser.js(PAGE_LINKS_JS)]

    def run(self, starts: list[str]) -> None:
        # a priority queue, kinds not requested yet first; an entry whose kind was requested meanwhile goes back
        queue: list = []
        enqueued: set[str] = set()
        order = itertools.count()

        def push(url: str, referrer: str, depth: int) -> None:
            kind = self.kind(url)
            heapq.heappush(queue, (depth > 1 and self.kinds[kind] > 0, depth, next(order), url, referrer, kind))

        for url in starts:
            push(url, "(start)", 0)
        while queue:
            seen_kind, depth, _, url, referrer, kind = heapq.heappop(queue)
            if depth > 1 and not seen_kind and self.kinds[kind]:
                push(url, referrer, depth)
                continue
            if url in self.requested or (depth > 1 and self.kinds[kind] >= CHECKS_PER_KIND):
                continue
            if len(self.requested) >= MAX_REQUESTS:
                self.unvisited |= {entry[5] for entry in queue if not self.kinds[entry[5]]}
                return
            self.kinds[kind] += 1
            status, content_type = self.request(url)
            self.requested[url], self.referrer[url] = status, referrer
            if status >= 400 or "text/html" not in content_type or kind in self.opened or len(kind[2]) > 1:
                continue
            if len(self.opened) >= MAX_OPENED:
                self.unvisited.add(kind)
                continue
            self.opened.add(kind)
            for link in self.links_on(url):
                if self.same_site(link) and link not in self.requested and link not in enqueued:
                    enqueued.add(link)
                    push(link, url, depth + 1)

    def failures(self) -> list[str]:
        return [f"{status} {url}\n    linked from {self.referrer[url]}"
                for url, status in self.requested.items() if status >= 400]


def start_pages(base: str) -> list[str]:
    """Home, database, every canned query empty and with a parameter, a policy, a clause and a compare page."""
    queries = get_json(f"{base}/-/metadata.json")["databases"]["corpus"]["queries"]
    odd = rows(base, "select d.id, d.key, (select min(id) from snapshots s where s.document_id = d.id) as old, "
                     "d.latest_snapshot_id as new from documents d join companies c on c.id = d.company_id "
                     "where c.name = :name", name=ODD_NAME)[0]
    clause = rows(base, "select clause_key from current_clauses where company = :name limit 1", name=ODD_NAME)[0]
    examples = {"q": '"social media" OR twitter', "category": "confidentiality", "company": ODD_NAME,
                "companies": f"{ODD_NAME}, GitLab Inc.", "min_companies": "2", "document": str(odd["id"]),
                "old_snapshot": str(odd["old"]), "new_snapshot": str(odd["new"])}
    starts = [f"{base}/", f"{base}/corpus"]
    for name, query in queries.items():
        starts.append(f"{base}/corpus/{name}")
        params = query.get("params") or []
        if params:
            starts.append(f"{base}/corpus/{name}?" + urlencode({p: examples.get(p, "") for p in params}))
    return starts + [f"{base}/-/policy/{odd['id']}", f"{base}/-/policy/{odd['key']}",
                     f"{base}/-/clause/{clause['clause_key']}",
                     f"{base}/-/compare?" + urlencode({"companies": f"{ODD_NAME}, GitLab Inc."}),
                     f"{base}/-/policy/{odd['id']}/history"]


def test_every_link_of_the_site_answers(site, browser):
    started = time.monotonic()
    queries = get_json(f"{site['base']}/-/metadata.json")["databases"]["corpus"]["queries"]
    walk = Walk(site["base"], browser, frozenset(queries))
    walk.run(start_pages(site["base"]))
    failures = walk.failures()
    print(f"\nlink walk: {len(walk.requested)} URLs of {len(walk.kinds)} kinds requested, "
          f"{len(walk.opened)} pages opened in Chromium, {time.monotonic() - started:.1f} s")
    assert not failures, f"{len(failures)} dead links:\n" + "\n".join(failures[:40])
    assert not walk.unvisited, f"the walk's bounds left kinds of links unvisited: {sorted(walk.unvisited)[:20]}"
    # the walk went everywhere the site leads: its own pages and Datasette's
    paths = {walk.kind(url)[0] for url in walk.requested}
    for expected in ("/-/compare", "/-/charts", "/-/policy/{id}", "/-/policy/{id}/history", "/corpus/current_clauses",
                     "/corpus/category_clauses", "/-/changes", "/corpus/clauses/{row}",
                     "/corpus/{table}", "/corpus/{table}/{row}"):
        assert expected in paths, f"the walk never reached {expected}"


# ---------------------------------------------------------------- the compare page's picker

PICKER_LAYOUT_JS = r"""(() => {
  const labels = Array.from(document.querySelectorAll('#pc-choices .pc-choice')).filter(l => !l.hidden);
  const boxes = labels.map(l => l.getBoundingClientRect());
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
      overlaps.push([labels[i].textContent.trim(), labels[j].textContent.trim()]);
  }
  const clipped = labels.filter(l => { const n = l.querySelector('.pc-choice-name');
    return n.scrollWidth > n.clientWidth + 1 || l.scrollWidth > l.clientWidth + 1; }).map(l => l.textContent.trim());
  const width = document.documentElement.clientWidth;
  const outside = boxes.filter(b => b.right > width || b.left < 0).length;
  const smallest = Math.min(...labels.map(l => parseFloat(getComputedStyle(l.querySelector('.pc-choice-name')).fontSize)));
  return {count: labels.length, overlaps, clipped, outside, smallest, width};
})()"""


def tick(browser: Browser, name: str) -> None:
    browser.js(f"Array.from(document.querySelectorAll('#pc-choices input[name=company]'))"
               f".find(i => i.value === {json.dumps(name)}).click()")


def compared_columns(browser: Browser) -> list[str]:
    return browser.js("Array.from(document.querySelectorAll('#pc-grid thead th.pc-company'))"
                      ".map(th => th.firstChild.textContent.trim())")


def test_compare_picker_takes_any_name_and_is_readable(site, browser, tmp_path):
    base, shots = site["base"], shots_dir(tmp_path)
    browser.goto(f"{base}/-/compare")
    layout = browser.js(PICKER_LAYOUT_JS)
    assert layout["width"] == 1400 and layout["count"] >= 40
    assert not layout["overlaps"], f"picker labels overlap: {layout['overlaps'][:5]}"
    assert not layout["clipped"] and not layout["outside"], layout
    assert layout["smallest"] >= 12
    tick(browser, ODD_NAME)
    tick(browser, "GitLab Inc.")
    browser.screenshot(shots / "compare-picker.png")
    browser.act("document.querySelector('.pc-picker input[type=submit]').click()")
    url = browser.js("location.href")
    assert urllib.request.urlopen(url, timeout=30).status == 200
    assert sorted(compared_columns(browser)) == sorted([ODD_NAME, "GitLab Inc."])
    assert browser.js("document.querySelectorAll('.message-error').length") == 0
    assert browser.js("Array.from(document.querySelectorAll('#pc-choices input:checked')).map(i => i.value)") \
        == sorted([ODD_NAME, "GitLab Inc."], key=str.lower)
    browser.screenshot(shots / "compare-grid.png")
    # the same two, typed in the box as a plain comma-separated list (the name's own comma included)
    browser.goto(f"{base}/-/compare")
    browser.js(f"document.getElementById('pc-companies').value = {json.dumps(ODD_NAME + ', GitLab Inc.')}")
    browser.act("document.querySelector('.pc-picker input[type=submit]').click()")
    assert sorted(compared_columns(browser)) == sorted([ODD_NAME, "GitLab Inc."])
    # filtering the list keeps the ticked boxes and hides the rest
    browser.js("const f = document.getElementById('pc-filter'); f.value = 'university'; "
               "f.dispatchEvent(new Event('input'))")
    shown = browser.js("Array.from(document.querySelectorAll('#pc-choices .pc-choice')).filter(l => !l.hidden)"
                       ".map(l => l.querySelector('input').value)")
    assert ODD_NAME in shown and "GitLab Inc." in shown and any("University" in s for s in shown)
    assert len(shown) < layout["count"]


# ---------------------------------------------------------------- search from the form

def test_search_form_takes_phrases_and_or_and_says_when_it_is_cut(site, browser, tmp_path):
    base = site["base"]
    browser.goto(f"{base}/corpus/search_clauses")
    assert "Words (all must appear)" in browser.js("document.body.innerText")
    browser.js("""document.querySelector('input[name="q"]').value = '"social media" OR twitter'""")
    browser.act("document.querySelector('.pc-query-form input[type=submit]').click()")
    assert browser.js("document.querySelectorAll('table.rows-and-columns tbody tr').length") == 100
    assert browser.js("Array.from(document.querySelectorAll('table.rows-and-columns tbody tr'))"
                      ".every(tr => tr.querySelector('td.col-highlighted mark, td.col-heading mark'))")
    cut = browser.js("document.querySelector('.pc-cut').innerText")
    total = int(re.search(r"best of ([\d,]+) matching clauses", cut).group(1).replace(",", ""))
    browser.screenshot(shots_dir(tmp_path) / "search-cut.png")
    # every match, in the clause table, through its own search box (the same terms)
    browser.act("document.querySelector('.pc-cut a').click()")
    assert browser.js("document.querySelector('h3').innerText").startswith(f"{total:,} row")
    phrase = get_json(f"{base}/corpus/search_clauses.json?" + urlencode({"q": '"social media policy"', "_shape": "array"}))
    assert phrase and all(re.search(r"social\W+media\W+polic", r["highlighted"] + " " + (r["heading"] or ""), re.I)
                          for r in phrase)
    # OR in the clause table's search box is the union of its two sides, a phrase is narrower than its words
    def matching(terms: str) -> set[int]:
        return {r["clause_id"] for r in get_json(f"{base}/corpus/current_clauses.json?" + urlencode(
            {"_search": terms, "_shape": "array", "_col": "clause_id", "_size": "max"}))}

    linkedin, mastodon = matching("linkedin"), matching("mastodon")
    assert linkedin and mastodon - linkedin and matching("linkedin OR mastodon") == linkedin | mastodon
    assert matching('"social media policy"') < matching("social media policy")


def test_canned_queries_explain_an_empty_result(site, browser):
    base = site["base"]
    for path, expected in [
        ("category_clauses", "Valid ids: scope,"),
        ("category_clauses?category=nonsense", "Unknown category id “nonsense”; valid ids:"),
        ("category_clauses?" + urlencode({"category": "political", "company": ODD_NAME}),
         f"No current clause of {ODD_NAME} carries category political"),
        ("unique_clauses?company=nobody", "No organization named “nobody”"),
        ("search_clauses", "Type words"),
    ]:
        browser.goto(f"{base}/corpus/{path}")
        assert expected in browser.js("document.querySelector('.pc-why-empty').innerText"), path
    browser.goto(f"{base}/corpus/category_clauses?" + urlencode({"category": "Confidential information"}))
    assert browser.js("document.querySelectorAll('table.rows-and-columns tbody tr').length") > 5  # a display name


def test_the_default_clause_view_is_readable(site, browser, tmp_path):
    browser.goto(f"{site['base']}/corpus/current_clauses?" + urlencode({"company": ODD_NAME}))
    headers = browser.js("Array.from(document.querySelectorAll('table.pc-clause-table thead th'))"
                         ".map(th => th.innerText.trim())")
    assert headers == ["Organization", "Heading", "Clause", "Categories", "Modality"]
    text_width = browser.js("document.querySelector('table.pc-clause-table td.col-text').getBoundingClientRect().width")
    table = browser.js("(() => { const r = document.querySelector('table.pc-clause-table').getBoundingClientRect();"
                       " return [r.left, r.right]; })()")
    assert table[1] <= 1400 and text_width >= 400  # the text has the room, nothing is pushed off-screen
    first = browser.js("document.querySelector('table.pc-clause-table tbody tr').innerText")
    assert ODD_NAME in first and "Who this covers" in first
    browser.screenshot(shots_dir(tmp_path) / "clauses.png")
