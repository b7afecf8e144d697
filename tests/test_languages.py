"""Languages, audiences and crawl tallies without a crawl: what a page declares, its other-language
versions, a guess from words, whom a policy addresses, and the counts progress and summary share."""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest
import yaml

from crawler.classify import default_classifier
from crawler.languages import declared_language, guess_language, language_links, normalise, preference
from crawler.tally import CrawlTally, failure_reason
from policycorpus.extract import extract

WORLD = Path(__file__).resolve().parent / "worldweb"


def _root(markup: str):
    return lxml.html.document_fromstring(markup)


@pytest.mark.parametrize("tag, code", [("de-DE", "de"), ("pt_BR", "pt"), ("EN", "en"), ("x-default", None),
                                       ("", None), ("12", None)])
def test_normalise(tag, code):
    assert normalise(tag) == code


def test_declared_language_from_lang_attribute_header_or_meta():
    assert declared_language(_root("<html lang='fr-CA'><body><p>x</p></body></html>")) == "fr"
    assert declared_language(_root("<html><body><p>x</p></body></html>"), "nl, en") == "nl"
    meta = "<html><head><meta http-equiv='Content-Language' content='ja'></head><body>x</body></html>"
    assert declared_language(_root(meta)) == "ja"
    assert declared_language(_root("<html><body>x</body></html>")) is None


def test_language_links_hreflang_and_switchers():
    page = _root("""<html lang="de"><head>
        <link rel="alternate" hreflang="en-GB" href="/en/policy/">
        <link rel="stylesheet" hreflang="fr" href="/style.css"></head><body>
        <a href="/fr/" lang="fr">FR</a> <a href="/es/">Español</a> <a href="/it/">Read the Italian policy in full here</a>
        <a href="#top" hreflang="en">top</a></body></html>""")
    links = language_links(page, "http://site.example/de/policy/", lambda href: "http://site.example" + href)
    assert links == {"http://site.example/en/policy/": "en", "http://site.example/fr/": "fr",
                     "http://site.example/es/": "es"}


@pytest.mark.parametrize("text, code", [
    ("Die Mitarbeiter dürfen keine vertraulichen Informationen über Kunden und Lieferanten veröffentlichen, "
     "und sie sollen bei Fragen die Kommunikationsabteilung fragen.", "de"),
    ("Les salariés ne doivent pas publier les plans des clients et ils doivent respecter la charte pour les "
     "réseaux sociaux dans le cadre de leur travail.", "fr"),
    ("本ポリシーは、すべての従業員がソーシャルメディアを利用する場合に適用されます。会社を代表して投稿できるのは広報部のみです。", "ja"),
    ("Our staff must not share the plans of our customers and they should ask the communications team.", "en"),
    ("Ok.", None),
])
def test_guess_language(text, code):
    assert guess_language(text) == code


@pytest.mark.parametrize("value, wanted", [("", "en"), ("English", "en"), ("local", "local"), ("de-AT", "de"),
                                           ("all", "all"), ("???", "en")])
def test_company_language_preference(value, wanted):
    assert preference(value) == wanted


def _world_pages():
    sites = yaml.safe_load((WORLD / "sites.yaml").read_text(encoding="utf-8"))["sites"]
    for site in sites:
        if site["slug"] == "lumio-systems":  # its text is built by scripts: judged in the crawl test
            continue
        for policy in site["policies"]:
            yield site["slug"], policy["path"], policy
        for path in site.get("not_kept", []):
            yield site["slug"], path, {"audience": "employees"}
        for path in site.get("negatives", []):
            yield site["slug"], path, None


@pytest.mark.parametrize("slug, path, policy", list(_world_pages()), ids=lambda v: v if isinstance(v, str) else "")
def test_world_web_pages_judged_and_audience_read(slug, path, policy):
    file = WORLD / slug / path.lstrip("/") / "index.html"
    url = f"http://{slug}.example{path}"
    doc = extract(file.read_bytes(), url)
    classifier = default_classifier()
    score, reasons = classifier.score(doc, doc.title, url)
    assert classifier.is_policy(score) == (policy is not None), f"{score} {reasons}"
    if policy is not None:
        assert classifier.audience(doc) == policy["audience"]


def test_audience_mixed_and_none():
    classifier = default_classifier()
    mixed = "# Rules\nEmployees and volunteers must not post photographs of patients. Staff and volunteers alike " \
            "should ask the press office. Volunteers and employees report concerns to their coordinator."
    assert classifier.audience(mixed) == "mixed"
    assert classifier.audience("# Weather\nIt will rain on Tuesday and be sunny on Wednesday.") is None
    assert classifier.audience("# Team\nMembers of staff and team members must ask their manager.") == "employees"


def test_tally_counts_what_the_summary_counts():
    tally = CrawlTally()
    rows = [("ok", "http://a/", None, None), ("ok", "http://a/robots.txt", 200, None), ("ok", "http://a/p", 200, 1),
            ("refused", "http://10.0.0.1/", None, 1), ("robots", "http://a/private", None, None),
            ("http_error", "http://a/gone", 404, None), ("http_error", "http://a/sitemap.xml", 404, None),
            ("http_error", "http://a/robots.txt", 404, None), ("timeout", "http://a/slow", None, None),
            ("duplicate_content", "http://a/print", 200, None)]
    for outcome, url, status, rendered in rows:
        tally.add("crawl_log", {"outcome": outcome, "url": url, "status": status, "rendered": rendered})
    for url in ("http://a/p", "http://a/print"):
        tally.add("candidates", {"url": url, "accepted": 1})
    tally.add("candidates", {"url": "http://a/", "accepted": 0})
    assert (tally.pages, tally.rendered, tally.refused, tally.robots, tally.errors, tally.policies) == (2, 1, 1, 1, 2, 1)
    assert tally.failures_text() == "1 HTTP 404, 1 timeout"
    assert failure_reason({"outcome": "budget", "url": "http://a/"}) is None
