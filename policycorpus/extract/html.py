"""HTML pages and fragments -> blocks: site chrome removed, trafilatura for the main content, a tree walk for structure.

Work is bounded before anything expensive runs: attributes and nesting are counted on the
raw markup (libxml2 checks each attribute of an element against all earlier ones, so one
element with 200,000 attributes takes minutes to parse), elements after parsing.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from policycorpus.extract.base import KEEP, MAX_BYTES, Extracted, clean_blocks, empty, heuristics
from policycorpus.extract.decode import decode_html, looks_binary
from policycorpus.extract.metadata import (
    PolicyDate,
    document_title,
    front_matter,
    front_matter_dates,
    meta_tag_dates,
    text_dates,
)
from policycorpus.structure import Block, normalize_space

if TYPE_CHECKING:
    from lxml.etree import _Element


MAX_DEPTH = 120  # deeper HTML is flattened into text rather than walked
# Policy pages have a few thousand elements; far more means a generated or hostile page whose
# extraction would hold a worker for seconds.
MAX_ELEMENTS = 30_000
MAX_ELEMENT_ATTRIBUTES = 1_000  # on one element

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- HTML

def _chrome() -> dict:
    return heuristics()["html"]


CHROME_TAGS = tuple(_chrome()["chrome_tags"])
CHROME_OUTSIDE_CONTENT = tuple(_chrome()["chrome_outside_content"])
CHROME_ROLES = tuple(_chrome()["chrome_roles"])
# Class/id tokens are matched at their start.
CHROME_TOKENS = re.compile("^(" + "|".join(_chrome()["chrome_tokens"]) + ")", re.I)
CONTENT_XPATH = ".//main|.//article|.//*[@role='main']"


def _is_chrome(el) -> bool:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in ("html", "body", "main", "article"):
        return False
    if tag in CHROME_TAGS:
        return True
    if (el.get("role") or "").lower() in CHROME_ROLES:
        return True
    if el.get("aria-hidden") == "true" or el.get("hidden") is not None:
        return True
    tokens = (el.get("class") or "").split() + (el.get("id") or "").split()
    return any(CHROME_TOKENS.match(t) for t in tokens)


def _strip_chrome(root) -> None:
    """Remove navigation, banners, cookie notices and page header/footer (unless they hold the content)."""
    has_content_region = bool(root.xpath(CONTENT_XPATH))
    doomed = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            doomed.append(el)  # comments, processing instructions
            continue
        chrome = _is_chrome(el)
        if not chrome and el.tag in ("header", "footer"):
            # a page's own header/footer, not the header of an article or section
            chrome = not any(a.tag in ("main", "article", "section") for a in el.iterancestors())
        elif not chrome and el.tag in CHROME_OUTSIDE_CONTENT and has_content_region:
            chrome = not any(a.tag in ("main", "article") for a in el.iterancestors())
        if chrome and not el.xpath(CONTENT_XPATH):
            doomed.append(el)
    for el in doomed:
        _drop(el)


def _drop(el) -> None:
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail and tail.strip():
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + " " + tail
        else:
            parent.text = (parent.text or "") + " " + tail
    parent.remove(el)


# trafilatura drops lines that are only a share-button word ("Facebook", "Print"); in a social
# media policy a list of platforms is content. A word joiner (KEEP) after the name keeps it.
_SHARE_WORD = re.compile(r"^\W*(" + "|".join(_chrome()["share_words"]) + r")\W*$", re.I)


def _protect_platform_names(root) -> None:
    for el in root.iter("li", "td", "th", "dd", "dt", "p"):
        text = el.text_content()
        if len(text) < 30 and _SHARE_WORD.match(text) and not el.xpath(".//a|.//button"):
            if len(el):
                last = el[-1]
                last.tail = (last.tail or "") + KEEP
            else:
                el.text = (el.text or "") + KEEP


def _parse_html(text: str):
    import lxml.html

    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    if not text.strip():
        return None
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, recover=True)
    try:
        root = lxml.html.document_fromstring(text, parser=parser)
    except Exception:  # noqa: BLE001 - lxml raises ParserError on empty/odd documents
        return None
    return root


def _page_titles(root) -> dict:
    """What the title rule reads from a page: og:title and <title>, the texts of its h1 headings, og:site_name."""
    candidates = []
    for xpath in ("//meta[@property='og:title']/@content", "//head/title//text()", "//title//text()"):
        found = normalize_space(" ".join(t for t in root.xpath(xpath) if isinstance(t, str)))
        if found:
            candidates.append(found)
    headings = [normalize_space(h.text_content()) for h in root.xpath("//h1")[:20]]
    site = root.xpath("//meta[@property='og:site_name']/@content")
    return {"page": candidates, "page_headings": [h for h in headings if h],
            "site_name": normalize_space(str(site[0])) if site else None}


def _html_title(root, blocks: list[Block], front: dict | None = None) -> str | None:
    return document_title(front=front, blocks=blocks, **_page_titles(root))


def _html_language(root) -> str | None:
    """The language the page declares (lang attribute), the fallback of the detected one."""
    lang = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    if lang:
        return lang.split("-")[0].strip().lower()[:8] or None
    return None


# A start tag with its attributes, quoted values read whole (they may hold '>'). Possessive
# quantifiers and stopping at '<' keep the scan linear on any input.
_START_TAG = re.compile(r"""<[A-Za-z](?:[^>"'<]++|"[^"]*+"|'[^']*+')*+""")
_QUOTED = re.compile(r""""[^"]*+"|'[^']*+'""")
_SMALL_PAGE = 16_384  # characters: too few for one element to hold MAX_ELEMENT_ATTRIBUTES


def markup_bound(text: str) -> str | None:
    """Why this markup is too costly to parse (an element with too many attributes), or None.

    libxml2 compares each attribute of an element with all earlier ones, so parsing one
    element of 200,000 attributes takes minutes; this scan takes milliseconds.
    """
    if len(text) < _SMALL_PAGE:
        return None
    shortest = 2 * MAX_ELEMENT_ATTRIBUTES  # " a" per attribute at least
    for match in _START_TAG.finditer(text):
        if match.end() - match.start() < shortest:
            continue
        # one word per attribute (name=value, name="value" or a bare name) after the tag name
        attributes = len(_QUOTED.sub("", match.group()).split()) - 1
        if attributes > MAX_ELEMENT_ATTRIBUTES:
            return (f"bounded: an element with about {attributes} attributes is over the "
                    f"{MAX_ELEMENT_ATTRIBUTES} attribute limit")
    return None


def extract_html(body: bytes, url: str = "", content_type: str | None = None, max_bytes: int = MAX_BYTES) -> Extracted:
    """Main text of an HTML page as blocks, without navigation, header, footer, sidebars or cookie banners."""
    if len(body) > max_bytes:
        return empty("html", f"skipped: {len(body)} bytes is over the {max_bytes} byte limit")
    if looks_binary(body):
        return empty("html", "binary content, not HTML")
    try:
        return _extract_page(decode_html(body, content_type), url)
    except RecursionError:
        return empty("html", "document too deeply nested")
    except Exception as exc:  # noqa: BLE001 - garbage in must not crash a crawl
        log.debug("HTML extraction failed for %s: %r", url, exc)
        return empty("html", f"extraction failed: {type(exc).__name__}")


def _extract_page(text: str, url: str) -> Extracted:
    if (why := markup_bound(text)):
        return empty("html", why, bounded="bounded")
    root = _parse_html(text)
    if root is None:
        return empty("html", "no parsable HTML")
    elements = sum(1 for _ in root.iter())
    if elements > MAX_ELEMENTS:
        return empty("html", f"skipped: {elements} elements is over the {MAX_ELEMENTS} element limit",
                     title=_html_title(root, []), bounded="bounded")
    page = _page_titles(root)
    declared = _html_language(root)
    page_dates = meta_tag_dates(root)  # before the chrome (scripts with JSON-LD) is stripped
    _strip_chrome(root)
    _protect_platform_names(root)
    walked = clean_blocks(html_blocks(_content_region(root)))
    blocks = clean_blocks(_trafilatura_blocks(root, url))
    extractor = "trafilatura"
    if blocks:
        blocks = restore_headings(blocks, walked)
    else:
        blocks, extractor = walked, "html-fallback"
    return Extracted(title=document_title(blocks=blocks, **page), blocks=blocks,
                     extractor=extractor, language=declared,
                     dates=page_dates + text_dates(blocks))


def extract_html_file(body: bytes, fmt: str = "html", name: str = "") -> Extracted:
    """A local HTML or PHP file: a whole page (as extract_html) or a fragment of one; never raises."""
    try:
        text = decode_html(body)
        if fmt == "php":
            text = re.sub(r"<\?(php|=)?.*?(\?>|\Z)", " ", text, flags=re.S)
        front = front_matter(text)  # a static site's source page (Jekyll, Hugo) starts with front matter
        if front:
            text = re.sub(r"\A\ufeff?\s*(---|\+\+\+)[ \t]*\n.*?\n\1[ \t]*(\n|\Z)", "", text, count=1, flags=re.S)
        is_page = re.search(r"(?i)<html|<body", text[:4096]) is not None
        if is_page:
            result = extract_html(text.encode("utf-8"), name, "text/html; charset=utf-8")
            result.extractor = f"{fmt}:{result.extractor}"
            return _with_front_matter(result, front)
        if (why := markup_bound(text)):
            return empty(fmt, why, bounded="bounded")
        root = _parse_html(f"<html><body>{text}</body></html>")
        if root is None:
            return empty(fmt, "no parsable HTML")
        page = _page_titles(root)
        page_dates = meta_tag_dates(root)
        _strip_chrome(root)
        blocks = clean_blocks(html_blocks(root.find("body") if root.find("body") is not None else root))
        return Extracted(title=document_title(front=front, blocks=blocks, **page),
                         blocks=blocks, extractor=fmt,
                         dates=front_matter_dates(front) + page_dates + text_dates(blocks))
    except RecursionError:
        return empty(fmt, "document too deeply nested")
    except Exception as exc:  # noqa: BLE001
        log.debug("HTML file extraction failed for %s: %r", name, exc)
        return empty(fmt, f"extraction failed: {type(exc).__name__}")


def _with_front_matter(result: Extracted, front: dict) -> Extracted:
    """A page read from a static site's source file: its front matter's title and dates come first."""
    if not front:
        return result
    result.title = document_title(front=front) or result.title
    dates: list[PolicyDate] = front_matter_dates(front)
    result.dates = dates + result.dates
    return result


def _trafilatura_blocks(root, url: str) -> list[Block]:
    from trafilatura import bare_extraction

    try:
        doc = bare_extraction(
            root, url=url or None, fast=True, favor_recall=True, include_comments=False, include_tables=True,
            include_images=False, include_links=False, include_formatting=False, with_metadata=False,
            deduplicate=False,
        )
    except Exception as exc:  # noqa: BLE001
        log.debug("trafilatura failed on %s: %r", url, exc)
        return []
    body = getattr(doc, "body", None)  # None when trafilatura found no document
    if body is None:
        return []
    return html_blocks(body, vocabulary="tei")


def _content_region(root):
    regions = root.xpath(CONTENT_XPATH)
    if regions:
        return max(regions, key=lambda el: len(el.text_content()))
    body = root.find("body")
    return body if body is not None else root


# Tag roles for the two vocabularies the walker reads: HTML, and trafilatura's TEI-like XML.
HTML_ROLES = {
    **{f"h{i}": "heading" for i in range(1, 7)},
    "p": "para", "pre": "para", "blockquote": "container", "dd": "para", "dt": "para", "figcaption": "para",
    "address": "para", "summary": "para", "caption": "para",
    "ul": "list", "ol": "list", "menu": "list", "dl": "container",
    "li": "item",
    "table": "table", "tr": "row", "br": "break", "hr": "break",
    "div": "container", "section": "container", "article": "container", "main": "container", "body": "container",
    "header": "container", "footer": "container", "details": "container", "figure": "container", "center": "container",
    "form": "container", "fieldset": "container", "html": "container", "span": "inline", "td": "inline", "th": "inline",
    "script": "skip", "style": "skip", "head": "skip", "img": "skip", "noscript": "skip", "svg": "skip",
    "title": "skip", "meta": "skip", "link": "skip", "nav": "skip", "aside": "skip", "template": "skip",
}
TEI_ROLES = {
    "head": "heading", "p": "para", "code": "para", "quote": "container", "list": "list", "item": "item",
    "table": "table", "row": "row", "cell": "inline", "lb": "break", "graphic": "skip", "body": "container",
    "doc": "container", "main": "container", "comments": "skip", "div": "container", "fw": "skip", "note": "para",
}
BLOCK_ROLES = {"heading", "para", "container", "list", "item", "table", "row", "break"}


def html_blocks(root: _Element | None, vocabulary: str = "html") -> list[Block]:
    """Walk an lxml element and emit heading / paragraph / list_item blocks in reading order."""
    if root is None:
        return []
    walker = _BlockWalker(TEI_ROLES if vocabulary == "tei" else HTML_ROLES, vocabulary)
    walker.walk(root, depth=0, list_depth=0)
    walker.flush()
    return walker.blocks


class _BlockWalker:
    def __init__(self, roles: dict[str, str], vocabulary: str):
        self.roles = roles
        self.vocabulary = vocabulary
        self.blocks: list[Block] = []
        self.buffer: list[str] = []  # inline text waiting to become a paragraph or list item
        self.item_levels: list[int] = []  # nesting depth of the list items we are inside

    def role(self, el) -> str:
        if not isinstance(el.tag, str):
            return "skip"
        tag = el.tag.lower()
        if tag == "code" and self.vocabulary == "tei":
            parent = el.getparent()
            if parent is not None and parent.tag in ("p", "item", "cell", "head", "hi", "ref"):
                return "inline"  # code inside a sentence, not a code block
        return self.roles.get(tag, "inline")

    def flush(self, block_type: str | None = None, level: int = 0) -> None:
        text = normalize_space("".join(self.buffer))
        self.buffer = []
        if block_type is None:
            block_type, level = ("list_item", self.item_levels[-1]) if self.item_levels else ("paragraph", 0)
        if text:
            self.blocks.append(Block(block_type, text, level))

    def heading_level(self, el) -> int:
        tag = el.tag.lower()
        if self.vocabulary == "tei":
            match = re.match(r"h([1-6])", el.get("rend") or "")
            return int(match.group(1)) if match else 2
        return int(tag[1])

    def has_block_child(self, el, depth: int) -> bool:
        if depth >= MAX_DEPTH:
            return False
        for child in el:
            role = self.role(child)
            if role in BLOCK_ROLES - {"break"}:
                return True
            if role == "inline" and self.has_block_child(child, depth + 1):
                return True
        return False

    def walk(self, el, depth: int, list_depth: int) -> None:
        role = self.role(el)
        if role == "skip":
            return
        if depth >= MAX_DEPTH:
            self.buffer.append(el.text_content() if hasattr(el, "text_content") else "".join(el.itertext()))
            return
        if role == "heading" and not self.has_block_child(el, depth):
            self.flush()
            self.buffer.append("".join(el.itertext()))
            self.flush("heading", self.heading_level(el))
            return
        if role == "item":
            self.flush()
            self.item_levels.append(max(list_depth, 1))
            self.walk_children(el, depth, list_depth)
            self.flush()
            self.item_levels.pop()
            return
        if role == "row":
            self.flush()
            cells = [normalize_space("".join(c.itertext())) for c in el if self.role(c) != "skip"]
            self.buffer.append(" | ".join(c for c in cells if c))
            self.flush()
            return
        if role == "break":
            self.buffer.append("\n")
            return
        if role == "inline" and not self.has_block_child(el, depth):
            self.buffer.append(el.text or "")
            for child in el:
                self.walk(child, depth + 1, list_depth)
                self.buffer.append(child.tail or "")
            return
        # block containers (and headings or inline elements that wrap blocks)
        if role in ("para", "heading", "container", "list", "table"):
            self.flush()
        self.walk_children(el, depth, list_depth + (role == "list"))
        if role in ("para", "heading", "container", "list", "table"):
            self.flush()

    def walk_children(self, el, depth: int, list_depth: int) -> None:
        self.buffer.append(el.text or "")
        for child in el:
            self.walk(child, depth + 1, list_depth)
            self.buffer.append(child.tail or "")


def restore_headings(kept: list[Block], walked: list[Block]) -> list[Block]:
    """Put back headings that trafilatura dropped in front of content it kept.

    ``walked`` is the plain walk of the page's content region, in reading
    order. A heading of it that trafilatura lacks is inserted before the
    kept block that follows it there, so sections keep their titles while
    trafilatura still decides what content is boilerplate.
    """
    def key(text: str) -> str:
        return text.casefold()

    kept_keys = {key(b.text) for b in kept}
    insert_before: dict[str, list[Block]] = {}
    pending: list[Block] = []
    for block in walked:
        k = key(block.text)
        if k in kept_keys:
            if pending and k not in insert_before:
                insert_before[k] = pending
            pending = []
        elif block.type == "heading":
            pending.append(block)
        else:
            pending = []  # the heading belonged to content trafilatura dropped
    out: list[Block] = []
    for block in kept:
        out.extend(insert_before.pop(key(block.text), []))
        out.append(block)
    return out

