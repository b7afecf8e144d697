"""The policy spider: from each company's homepage (and known policy URL) to its social media policy.

One spider, one job: discover and judge pages. Storage is done by the item
pipelines (crawler/pipelines.py), politeness and safety by settings and
downloader middlewares (crawler/settings.py, crawler/safety.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import IGNORED_EXTENSIONS
from scrapy.utils.sitemap import Sitemap
from twisted.python.failure import Failure

from crawler.items import CandidateItem, CompanyDoneItem, LogItem
from crawler.languages import declared_language, guess_language, language_links, preference
from crawler.links import LinkRules, load_rules, score_link
from crawler.outcomes import describe_failure, rendered_away, unfollowed_redirect
from crawler.safety import connect_refusal

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.classify import PolicyClassifier
    from crawler.distributed import SharedClaims, WorkerCoordinator
    from policycorpus.extract import Extracted

T = TypeVar("T")
SpiderOutput = scrapy.Request | CandidateItem | LogItem | CompanyDoneItem  # what the callbacks yield

# PDFs are policies too; everything else Scrapy skips by default stays skipped.
FOLLOWED_EXTENSIONS = {"pdf"}
DENY_EXTENSIONS_SET = {e for e in IGNORED_EXTENSIONS if e not in FOLLOWED_EXTENSIONS}
# Bytes that are not control characters (tab, newlines, form feed and everything from space up):
# deleting them leaves the control bytes, counted at C speed on every page.
_NOT_CONTROL = bytes(b for b in range(256) if not (b < 9 or 13 < b < 32))


@dataclass
class CompanyState:
    company_id: int
    name: str
    hosts: set[str]
    key: str = ""  # the company's slug: the same in every worker's database
    pending: int = 0
    scheduled: int = 0
    pages: int = 0
    policies: int = 0
    errors: int = 0
    done: bool = False
    budget_hit: str = ""  # first URL the page budget turned away
    budget_logged: bool = False
    seen: set[str] = field(default_factory=set)
    language: str = "en"  # which version of a multilingual site to keep: en, local, all or a language code
    home_language: str | None = None  # the language of the homepage (what 'local' means)
    renders: int = 0  # pages sent to the browser
    render_seconds: float = 0.0  # browser time spent on the site
    render_budget_logged: bool = False

    def preferred_language(self) -> str | None:
        """The language whose version of a page is kept, or None to keep every version."""
        if self.language == "all":
            return None
        if self.language == "local":
            return self.home_language
        return self.language


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def site_root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def canonical(url: str) -> str:
    """URL without fragment, for the spider's own seen-set."""
    return url.split("#", 1)[0]


class PolicySpider(scrapy.Spider):
    name = "policies"
    # set by from_crawler from the settings
    max_depth: int
    max_pages: int
    threshold: float
    use_sitemaps: bool
    dont_filter: bool
    classifier: PolicyClassifier
    extract_timeout: float
    extraction: ExtractionThreads
    render_mode: str
    max_renders: int
    render_seconds: float
    render_min_text: int
    max_size: int

    def __init__(self, companies: list[dict] | None = None, crawl_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.companies = companies or []
        self.crawl_id = crawl_id
        self.state: dict[int, CompanyState] = {}
        self.by_key: dict[str, CompanyState] = {}
        self.link_rules: LinkRules = load_rules()
        self.claims: SharedClaims | None = None  # when the crawl is shared through Redis
        self.coordinator: WorkerCoordinator | None = None  # likewise

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.max_depth = settings.getint("POLICYCORPUS_MAX_DEPTH", 3)
        spider.max_pages = settings.getint("POLICYCORPUS_MAX_PAGES_PER_SITE", 60)
        spider.threshold = settings.getfloat("POLICYCORPUS_POLICY_THRESHOLD", 0.5)
        spider.use_sitemaps = settings.getbool("POLICYCORPUS_SITEMAPS", True)
        spider.dont_filter = settings.getbool("POLICYCORPUS_OWN_DUPEFILTER", True)
        spider.classifier = _load_classifier(settings)
        spider.extract_timeout = settings.getfloat("POLICYCORPUS_EXTRACT_TIMEOUT", 10.0)
        spider.extraction = ExtractionThreads(settings.getint("POLICYCORPUS_EXTRACT_WORKERS", 2))
        spider.render_mode = settings.get("POLICYCORPUS_RENDER", "never")
        spider.max_renders = settings.getint("POLICYCORPUS_RENDER_MAX_PER_SITE", 10)
        spider.render_seconds = settings.getfloat("POLICYCORPUS_RENDER_SECONDS_PER_SITE", 90.0)
        spider.render_min_text = settings.getint("POLICYCORPUS_RENDER_MIN_TEXT", 200)
        spider.max_size = settings.getint("DOWNLOAD_MAXSIZE")
        crawler.signals.connect(spider.extraction.stop, signal=signals.spider_closed)
        if settings.get("POLICYCORPUS_REDIS_PREFIX"):
            from crawler.distributed import SharedClaims, connect

            spider.claims = SharedClaims(connect(settings.get("REDIS_URL")), settings.get("POLICYCORPUS_REDIS_PREFIX"),
                                         spider.max_pages)
        crawler.signals.connect(spider.on_request_dropped, signal=signals.request_dropped)
        return spider

    # -- start ------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[scrapy.Request | CompanyDoneItem]:
        for company in self.companies:
            hosts = {host_of(u) for u in (company.get("homepage"), company.get("policy_url")) if u}
            hosts |= {h.lower() for h in json.loads(company.get("domains") or "[]")}
            state = CompanyState(company["id"], company["name"], {h for h in hosts if h},
                                 key=company.get("slug") or str(company["id"]),
                                 language=preference(json.loads(company.get("metadata") or "{}").get("language")))
            self.state[state.company_id] = state
            self.by_key[state.key] = state
            starts = []
            if company.get("policy_url"):
                starts.append((company["policy_url"], self.link_rules.policy_threshold * 2, ["known-policy-url"]))
            if company.get("homepage"):
                starts.append((company["homepage"], 0.0, ["homepage"]))
            for url, score, reasons in starts:
                request = self.make_request(state, url, depth=0, link_score=score, reasons=reasons)
                if request:
                    yield request
            if self.use_sitemaps:
                for root in sorted({site_root(u) for u, _, _ in starts}):
                    request = self.make_request(
                        state, f"{root}/sitemap.xml", depth=0, link_score=0, reasons=["sitemap"],
                        callback=self.parse_sitemap, count_page=False,
                    )
                    if request:
                        yield request
            if state.pending == 0 and self.claims is None:
                yield self.company_done(state)

    def state_for(self, meta: dict) -> CompanyState | None:
        """The company a request belongs to (by slug: in a shared crawl another worker may have made it)."""
        return self.by_key.get(meta.get("company") or "") or self.state.get(meta.get("company_id") or 0)

    def answering_state(self, meta: dict) -> CompanyState:
        """The company of a response: every request of the crawl carries one (an unknown one is a bug)."""
        state = self.state_for(meta)
        if state is None:
            raise KeyError(f"a response for a company not in this crawl: {meta.get('company')!r}")
        return state

    def company_for_url(self, url: str) -> int | None:
        host = host_of(url)
        return next((s.company_id for s in self.state.values() if host in s.hosts), None)

    # -- requests ---------------------------------------------------------------------

    def make_request(self, state: CompanyState, url: str, *, depth: int, link_score: float, reasons: list[str],
                     callback: Callable | None = None, count_page: bool = True) -> scrapy.Request | None:
        url = canonical(url)
        if url in state.seen:
            return None
        if count_page and state.scheduled >= self.max_pages:
            state.budget_hit = state.budget_hit or url
            return None
        if self.claims is not None:
            verdict = self.claims.admit(state.key, [(url, count_page)])[0]
            if verdict != 1:
                state.seen.add(url)
                if verdict == 0:
                    state.budget_hit = state.budget_hit or url
                return None
        return self.build_request(state, url, depth=depth, link_score=link_score, reasons=reasons,
                                  callback=callback, count_page=count_page)

    def make_requests(self, state: CompanyState, links: list[tuple[str, float, list[str]]], *, depth: int,
                      callback: Callable | None = None, count_page: bool = True) -> Iterator[scrapy.Request]:
        """Requests for many links of one page; in a shared crawl admitted with one Redis round trip."""
        if self.claims is None:
            for url, score, reasons in links:
                request = self.make_request(state, url, depth=depth, link_score=score, reasons=reasons,
                                            callback=callback, count_page=count_page)
                if request:
                    yield request
            return
        fresh, urls = [], set()
        for url, score, reasons in links:
            url = canonical(url)
            if url not in state.seen and url not in urls:
                urls.add(url)
                fresh.append((url, score, reasons))
        verdicts = self.claims.admit(state.key, [(url, count_page) for url, _, _ in fresh])
        for (url, score, reasons), verdict in zip(fresh, verdicts):
            state.seen.add(url)
            if verdict == 1:
                yield self.build_request(state, url, depth=depth, link_score=score, reasons=reasons,
                                         callback=callback, count_page=count_page)
            elif verdict == 0:
                state.budget_hit = state.budget_hit or url

    def budget_note(self, state: CompanyState) -> Iterator[LogItem]:
        """Log once per company that the page budget stopped the crawl of its site (e.g. a link trap)."""
        if state.budget_hit and not state.budget_logged:
            state.budget_logged = True
            yield LogItem(state.company_id, state.budget_hit, "budget", None,
                          f"page budget of {self.max_pages} pages per site reached; this and further links "
                          "of the site not followed")

    def build_request(self, state: CompanyState, url: str, *, depth: int, link_score: float, reasons: list[str],
                      callback: Callable | None = None, count_page: bool = True, render: bool = False) -> scrapy.Request:
        state.seen.add(url)
        state.pending += 1
        if count_page:
            state.scheduled += 1
        meta = {"company_id": state.company_id, "company": state.key, "depth": depth, "link_score": link_score,
                "link_reasons": reasons, "crawl_id": self.crawl_id}
        if render or (self.render_mode == "always" and callback is None and not _looks_like_file(url)
                      and self.may_render(state)):
            state.renders += 1
            meta.update(playwright=True, rendered=True)
        return scrapy.Request(
            url,
            callback=callback or self.parse,
            errback=self.on_error,
            priority=int(link_score * 10) - depth,
            dont_filter=self.dont_filter or render,  # a page fetched again for rendering is no duplicate
            meta=meta,
        )

    # -- rendering ----------------------------------------------------------------------

    def may_render(self, state: CompanyState) -> bool:
        """Within the site's render budgets (number of pages, browser time)?"""
        return state.renders < self.max_renders and state.render_seconds < self.render_seconds

    def render_again(self, state: CompanyState, response: TextResponse) -> Iterator[SpiderOutput]:
        """Fetch a page again through the browser when its text is built by scripts (--render auto)."""
        if self.render_mode != "auto" or response.meta.get("rendered") or not needs_rendering(response, self.render_min_text):
            return
        if not self.may_render(state):
            if not state.render_budget_logged:
                state.render_budget_logged = True
                yield LogItem(state.company_id, response.url, "budget", None,
                              f"render budget of {self.max_renders} pages or {self.render_seconds:.0f} s of browser "
                              "time per site reached; this and further script-built pages not rendered")
            return
        meta = response.meta
        yield self.build_request(state, response.url, depth=meta.get("depth", 0), link_score=meta.get("link_score", 0),
                                 reasons=[*meta.get("link_reasons", []), "script-built"], count_page=False, render=True)

    def rendered_too_large(self, state: CompanyState, response: Response) -> LogItem | None:
        """A rendered page over the download size bound (the browser is not bound by DOWNLOAD_MAXSIZE)."""
        state.render_seconds += response.meta.get("download_latency") or 0.0
        if self.max_size and len(response.body) > self.max_size:
            return LogItem(state.company_id, response.url, "too_large", response.status,
                           f"rendered page of {len(response.body)} bytes is over the max size of {self.max_size} "
                           "bytes (DOWNLOAD_MAXSIZE); not parsed")
        return None

    def answered(self, state: CompanyState, meta: dict | None = None) -> Iterator[CompanyDoneItem]:
        """One request of this company got its answer; yields the done marker when none is left."""
        if self.coordinator is not None and meta:
            self.coordinator.release(meta.get("inflight_key"))
        state.pending -= 1
        # In a shared crawl another worker may answer this company's requests: completion is recorded at the end.
        if state.pending <= 0 and not state.done and self.claims is None:
            yield self.company_done(state)

    def company_done(self, state: CompanyState) -> CompanyDoneItem:
        state.done = True
        return CompanyDoneItem(state.company_id, state.pages, state.policies)

    def on_request_dropped(self, request: scrapy.Request, spider: scrapy.Spider | None = None) -> None:
        state = self.state_for(request.meta)
        if state is not None:
            state.pending -= 1  # completion of such a company is recorded when the crawl finishes

    # -- responses --------------------------------------------------------------------

    async def parse(self, response: Response, **kwargs: Any) -> AsyncIterator[SpiderOutput]:
        state = self.answering_state(response.meta)
        if unfollowed_redirect(response) or rendered_away(response):  # logged as refused by CrawlLogExtension
            for item in self.answered(state, response.meta):
                yield item
            return
        state.pages += 1
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
        if response.meta.get("rendered") and not content_type:
            content_type = "text/html"
        if response.meta.get("rendered") and (too_large := self.rendered_too_large(state, response)):
            yield too_large
        elif host_of(response.url) not in state.hosts:
            yield LogItem(state.company_id, response.url, "offsite", response.status,
                          "redirected off the company's hosts; not judged")
        elif is_pdf(response, content_type):
            for item in await self.judge_safely(state, response, content_type, "pdf"):
                yield item
        elif isinstance(response, TextResponse) and ("html" in content_type or not content_type):
            if looks_binary(response.body):
                yield LogItem(state.company_id, response.url, "skipped", response.status,
                              f"binary content served as {content_type or 'untyped'}; not parsed")
            elif (why := await self.extraction.run(_markup_bound, response)):
                # parsing it for links would stall the crawl as long as extracting it
                yield LogItem(state.company_id, response.url, "extract_bounded", response.status,
                              f"html: {why}; not parsed")
            else:
                for request in self.follow_links(state, response):
                    yield request
                rendering: list[SpiderOutput] = list(self.render_again(state, response))
                for output in rendering:
                    yield output
                switched = self.other_version(state, response) if not rendering else None
                if switched:
                    for item in switched:
                        yield item
                elif not any(isinstance(r, scrapy.Request) for r in rendering) and self.is_promising(response):
                    for item in await self.judge_safely(state, response, content_type, "html"):
                        yield item
        else:
            yield LogItem(state.company_id, response.url, "skipped", response.status,
                          f"content type {content_type or 'unknown'} is neither HTML nor PDF")
        for item in self.answered(state, response.meta):
            yield item

    def parse_sitemap(self, response: Response) -> Iterator[SpiderOutput]:
        state = self.answering_state(response.meta)
        try:
            entries = list(Sitemap(response.body)) if response.body else []
        except Exception as exc:  # malformed XML is untrusted input, not a crash
            entries = []
            yield LogItem(state.company_id, response.url, "parse_error", response.status, f"sitemap: {exc}")
        pages: list[str] = []
        sitemaps: list[str] = []
        for entry in entries[:50_000]:
            url = entry.get("loc", "")
            if url and host_of(url) in state.hosts:
                (sitemaps if url.endswith(".xml") else pages).append(url)
        yield from self.make_requests(state, [(url, 0, ["sitemap-index"]) for url in sitemaps[:20]], depth=0,
                                      callback=self.parse_sitemap, count_page=False)
        # Policy-like URLs first; other listed pages only within a share of the site's page budget,
        # so a huge sitemap cannot crowd out the links found on the pages themselves.
        scored = sorted(((*score_link(url, rules=self.link_rules), url) for url in pages), key=lambda s: -s[0])
        ordinary_budget = self.max_pages // 3
        chosen = []
        for score, reasons, url in scored:
            if score < self.link_rules.follow_threshold:
                if ordinary_budget <= 0:
                    break
                ordinary_budget -= 1
            chosen.append((url, max(score, 0.0), ["sitemap", *reasons]))
        yield from self.make_requests(state, chosen, depth=1)
        yield from self.budget_note(state)
        yield from self.answered(state, response.meta)

    def on_error(self, failure: Failure) -> Iterator[LogItem | CompanyDoneItem]:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on a failed download's Failure
        state = self.state_for(request.meta)
        if state is None:
            return
        outcome, status, reason = describe_failure(failure, self.settings.getint("DOWNLOAD_MAXSIZE"))
        if outcome in ("dns_error", "error") and (refusal := connect_refusal(host_of(request.url))):
            outcome, status, reason = "refused", None, refusal
        if outcome not in ("robots", "refused") and request.meta.get("link_reasons") != ["sitemap"]:
            state.errors += 1
        if outcome != "http_error":  # responses with an error status are logged by CrawlLogExtension
            yield LogItem(state.company_id, request.url, outcome, status, reason)
        yield from self.answered(state, request.meta)

    # -- discovery and judgement ----------------------------------------------------------

    def follow_links(self, state: CompanyState, response: TextResponse) -> Iterator[scrapy.Request | LogItem]:
        depth = response.meta.get("depth", 0)
        if depth >= self.max_depth:
            return
        try:
            links = page_links(response)
        except Exception as exc:  # malformed markup is untrusted input, not a crash
            yield LogItem(state.company_id, response.url, "parse_error", response.status, f"links: {exc}")
            return
        scored = []
        for url, anchor in links:
            if host_of(url) not in state.hosts or canonical(url) in state.seen:
                continue
            score, reasons = score_link(url, anchor, rules=self.link_rules)
            scored.append((score, url, reasons))
        scored.sort(key=lambda s: -s[0])
        yield from self.make_requests(state, [(url, score, reasons) for score, url, reasons in scored], depth=depth + 1)
        yield from self.budget_note(state)

    def other_version(self, state: CompanyState, response: TextResponse) -> list | None:
        """When this page offers a version in the company's preferred language, that version is crawled and
        judged instead of this one (hreflang alternates and language-switcher links on the company's hosts)."""
        language = page_language(response)
        if state.home_language is None and "homepage" in response.meta.get("link_reasons", ()):
            state.home_language = language
        preferred = state.preferred_language()
        if not preferred or not language or language == preferred:
            return None
        here = canonical(response.url)
        versions = language_links(response.selector.root, response.url, response.urljoin)
        other = next((url for url, code in versions.items()
                      if code == preferred and url != here and host_of(url) in state.hosts), None)
        if other is None:
            return None
        meta = response.meta
        out: list = [LogItem(state.company_id, response.url, "skipped", response.status,
                             f"a {preferred} version of this {language} page is kept instead: {other[:300]}")]
        request = self.make_request(state, other, depth=meta.get("depth", 0), link_score=meta.get("link_score", 0),
                                    reasons=[*meta.get("link_reasons", []), f"language-version-{preferred}"])
        if request is not None:
            out.insert(0, request)
        return out

    def is_promising(self, response: TextResponse) -> bool:
        """Cheap pre-filter so only pages that might be a policy pay for full extraction."""
        if response.meta.get("link_score", 0) >= self.link_rules.policy_threshold:
            return True
        body = response.body[:2_000_000].lower()
        return sum(body.count(word) for word in self.link_rules.promising_words) >= 3

    async def judge_safely(self, state: CompanyState, response: Response, content_type: str, kind: str) -> list:
        """judge() off the reactor thread, with a crash of extraction on hostile input logged as parse_error
        and a document over the work or time bound logged as extract_bounded / extract_timeout."""
        try:
            extracted, score, reasons, audience, guessed = await self.extraction.run(
                self.extract_and_score, response, content_type, kind)
            item = self.judge(state, response, content_type, kind, extracted, score, reasons)
            item.audience = audience
            # the page's own declaration first, then the detected language of its text, then the word guess
            item.language = (page_language(response) if kind == "html" and isinstance(response, TextResponse)
                             else None) or item.language or guessed
        except Exception as exc:  # untrusted bytes must never stop the crawl
            return [LogItem(state.company_id, response.url, "parse_error", response.status,
                            f"{kind} extraction failed: {type(exc).__name__}: {str(exc)[:300]}")]
        if extracted.bounded:
            outcome = "extract_timeout" if extracted.bounded == "timeout" else "extract_bounded"
            return [item, LogItem(state.company_id, response.url, outcome, response.status,
                                  f"{kind}: {extracted.warning}"[:500])]
        if not item.blocks and item.warning:
            return [item, LogItem(state.company_id, response.url, "parse_error", response.status,
                                  f"{kind}: {item.warning}")]
        return [item]

    def extract_and_score(self, response: Response, content_type: str, kind: str
                          ) -> tuple[Extracted, float, list[str], str | None, str | None]:
        """(extracted, score, reasons, audience, guessed language) of a response; runs in an extraction
        thread, the work in a worker process."""
        from policycorpus.extract import extract_bounded

        ctype = content_type or ("application/pdf" if kind == "pdf" else "text/html")
        extracted = extract_bounded(response.body, response.url, ctype, timeout=self.extract_timeout)
        score, reasons = self.classifier.score(extracted, title=extracted.title, url=response.url)
        if not (extracted.blocks and score >= self.threshold):
            return extracted, score, reasons, None, None
        text = "\n".join(b.text for b in extracted.blocks)
        return extracted, score, reasons, self.classifier.audience(extracted), guess_language(text)

    def judge(self, state: CompanyState, response: Response, content_type: str, kind: str, extracted: Extracted,
              score: float, reasons: list[str]) -> CandidateItem:
        accepted = bool(extracted.blocks) and score >= self.threshold
        state.policies += accepted
        return CandidateItem(
            company_id=state.company_id,
            url=response.url,
            depth=response.meta.get("depth", 0),
            link_score=response.meta.get("link_score", 0.0),
            policy_score=score,
            accepted=accepted,
            reasons=list(response.meta.get("link_reasons", [])) + list(reasons),
            title=extracted.title,
            content_type=content_type or ("application/pdf" if kind == "pdf" else "text/html"),
            raw=response.body if accepted else b"",
            blocks=extracted.blocks if accepted else [],
            http_status=response.status,
            extractor=extracted.extractor,
            warning="; ".join(extracted.warnings)[:300] if not extracted.blocks else "",
            rendered=bool(response.meta.get("rendered")),
            language=extracted.language,
            dates=list(extracted.dates) if accepted else [],
            last_modified=_header(response, b"Last-Modified"),
        )


def page_links(response: TextResponse, limit: int = 2000) -> list[tuple[str, str]]:
    """(absolute URL, anchor text) of the page's http(s) links, skipping media and archives.

    A lean replacement for LinkExtractor: this runs on every page, and the
    spider does its own host filtering, canonicalisation and de-duplication.
    """
    out, seen = [], set()
    for anchor in response.selector.root.iter("a", "area"):
        href = (anchor.get("href") or "").strip()
        if not href or href.startswith(("#", "mailto:", "javascript:", "tel:", "data:")):
            continue
        try:
            url = canonical(response.urljoin(href))
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on an out-of-range port
        except ValueError:  # e.g. href="//[::1" (invalid IPv6 host): one bad link, not a bad page
            continue
        if url in seen or not url.startswith(("http://", "https://")):
            continue
        extension = parts.path.rpartition(".")[2].lower()
        if extension in DENY_EXTENSIONS_SET:
            continue
        seen.add(url)
        text = " ".join(anchor.text_content().split()) if anchor.tag == "a" else (anchor.get("alt") or "")
        title = anchor.get("title") or ""
        out.append((url, f"{text} {title}".strip()))
        if len(out) >= limit:
            break
    return out


def page_language(response: TextResponse) -> str | None:
    """The language an HTML page declares (<html lang>, Content-Language, <meta http-equiv>)."""
    header = (response.headers.get(b"Content-Language") or b"").decode("latin-1")
    try:
        return declared_language(response.selector.root, header)
    except (ValueError, AttributeError):  # unparsable markup is untrusted input
        return None


def needs_rendering(response: TextResponse, min_text: int) -> bool:
    """A page whose text scripts build: it has scripts and next to no visible text."""
    body = response.body
    if b"<script" not in body[:2_000_000] and b"<SCRIPT" not in body[:2_000_000]:
        return False
    try:
        texts = response.selector.root.xpath(
            "//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript or ancestor::template)]")
    except ValueError:
        return False
    visible = 0
    for text in texts:
        visible += len(text.strip())
        if visible >= min_text:
            return False
    return True


def _looks_like_file(url: str) -> bool:
    """A URL that names a document or data file rather than a page (never sent to the browser)."""
    path = urlsplit(url).path.lower()
    return path.endswith((".pdf", ".xml", ".txt", ".json", ".doc", ".docx"))


def _header(response: Response, name: bytes) -> str | None:
    """A response header as text (bounded), or None."""
    value = response.headers.get(name)
    return value.decode("latin-1")[:200] if value else None


def looks_binary(body: bytes) -> bool:
    """Clearly not text: over 1% control bytes in the first 8 KB (policycorpus.extract.looks_binary, fast)."""
    sample = body[:8192]
    if not sample or sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return len(sample.translate(None, _NOT_CONTROL)) > len(sample) * 0.01


def is_pdf(response: Response, content_type: str) -> bool:
    return "application/pdf" in content_type or response.body[:5] == b"%PDF-"


def _markup_bound(response: TextResponse) -> str | None:
    from policycorpus.extract import markup_bound

    return markup_bound(response.text)


class ExtractionThreads:
    """A few threads of its own for extraction (not the reactor's pool, which also resolves names).

    Each thread hands its document to a worker process and waits, so the reactor keeps crawling.
    """

    def __init__(self, size: int = 2) -> None:
        from twisted.python.threadpool import ThreadPool

        from policycorpus.extract.bounded import worker_pool

        worker_pool(size, preload=True).prestart()  # as many worker processes as threads, loading while the crawl starts
        self.pool = ThreadPool(minthreads=0, maxthreads=max(1, size), name="policycorpus-extract")
        self.started = False

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet import reactor, threads

        if not self.started:
            self.pool.start()
            self.started = True
        return await maybe_deferred_to_future(threads.deferToThreadPool(reactor, self.pool, function, *args))

    def stop(self, spider: scrapy.Spider | None = None) -> None:
        if self.started:
            self.pool.stop()
            self.started = False


def _load_classifier(settings):
    """Built before the crawl starts, so fitting it never stalls the reactor mid-crawl."""
    import policycorpus.extract  # noqa: F401  (import trafilatura up front too)
    from crawler.classify import PolicyClassifier

    classifier = PolicyClassifier()
    classifier.score("warm-up", title="", url="")
    return classifier
