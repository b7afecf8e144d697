"""Text extraction: HTML pages, PDFs and local text files -> structured blocks.

Every input here is untrusted (crawled bytes, arbitrary files). The public
functions never raise on bad input: they return an ``Extracted`` with no
blocks and a note in ``warnings``. Work is bounded by an input size limit,
a page limit for PDFs and depth limits when walking trees.

The block lists follow the contract of ``policycorpus.structure``: headings
(with level 1..6), paragraphs and list items (with nesting depth 1..).
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from policycorpus.structure import Block, join_blocks, normalize_space

MAX_BYTES = 10 * 1024 * 1024
MAX_PDF_PAGES = 300
MAX_DEPTH = 120  # deeper HTML is flattened into text rather than walked
# Policy pages have a few thousand elements; far more means a generated or hostile page whose
# extraction would hold the crawl's event loop for seconds.
MAX_ELEMENTS = 30_000

log = logging.getLogger(__name__)


@dataclass
class Extracted:
    """The outcome of an extraction: title, blocks in reading order, and provenance."""

    title: str | None
    blocks: list[Block]
    extractor: str
    language: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return join_blocks(self.blocks)[0]

    @property
    def ok(self) -> bool:
        return bool(self.blocks)


def _empty(extractor: str, warning: str, title: str | None = None) -> Extracted:
    return Extracted(title=title, blocks=[], extractor=extractor, warnings=[warning])


# --------------------------------------------------------------------------- dispatch

TEXT_FORMATS = {
    ".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text", ".rst": "rst",
    ".adoc": "asciidoc", ".asciidoc": "asciidoc", ".html": "html", ".htm": "html", ".xhtml": "html",
    ".php": "php", ".pdf": "pdf",
}


PLAIN_TEXT_TYPES = {
    "text/plain": "text", "text/markdown": "markdown", "text/x-markdown": "markdown", "text/x-rst": "rst",
    "text/asciidoc": "asciidoc",
}


def sniff_format(body: bytes, url: str = "", content_type: str | None = None) -> str:
    """Guess 'pdf', 'html' or a text format from magic bytes, media type and URL suffix."""
    head = body[:1024].lstrip()
    if head.startswith(b"%PDF"):
        return "pdf"
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/pdf":
        return "pdf"
    if ctype in ("text/html", "application/xhtml+xml"):
        return "html"
    if ctype in ("text/markdown", "text/x-markdown"):
        return "markdown"
    suffix = Path(url.split("?")[0].split("#")[0]).suffix.lower()
    if suffix in TEXT_FORMATS:
        return TEXT_FORMATS[suffix]
    if re.match(rb"(?i)(<!doctype html|<html|<head|<body|<\?xml)", head):
        return "html"
    return "html" if ctype.startswith("text/html") or not ctype else "text"


def extract(body: bytes, url: str = "", content_type: str | None = None, max_bytes: int = MAX_BYTES) -> Extracted:
    """Extract any supported document, choosing the extractor by content."""
    fmt = sniff_format(body, url, content_type)
    if fmt == "pdf":
        return extract_pdf(body, max_bytes=max_bytes)
    if fmt == "html":
        return extract_html(body, url, content_type, max_bytes=max_bytes)
    return extract_text_file(body, fmt, max_bytes=max_bytes)


# --------------------------------------------------------------------------- decoding

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _detect_encoding(body: bytes) -> str | None:
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:65536]).best()
        return best.encoding if best else None
    except Exception:  # noqa: BLE001 - detection is best effort
        return None


_CONTROL_BYTES = bytes(b for b in range(32) if not 9 <= b <= 13)


def looks_binary(body: bytes) -> bool:
    """True for bytes that are clearly not text (many control bytes in the first 8 KB)."""
    sample = body[:8192]
    if not sample or sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > len(sample) * 0.01


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Bytes -> str using BOM, the HTTP charset, <meta charset>, then detection; never raises."""
    from w3lib.encoding import html_to_unicode

    if not body.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Valid UTF-8 with non-ASCII bytes is UTF-8 whatever the server declares
        # (a wrong "charset=iso-8859-1" header is common; the reverse is vanishingly rare).
        try:
            text = body.decode("utf-8")
            if not body[:65536].isascii():
                return _CONTROL.sub("", text.lstrip("\ufeff"))
        except UnicodeDecodeError:
            pass
    try:
        _, text = html_to_unicode(content_type, body, default_encoding="cp1252", auto_detect_fun=_detect_encoding)
    except Exception:  # noqa: BLE001 - unknown codec names in headers etc.
        text = body.decode("utf-8", errors="replace")
    return _CONTROL.sub("", text)


def decode_text(body: bytes) -> str:
    """Bytes of a text file -> str (BOM, UTF-8, detection, cp1252 as the last resort)."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if body.startswith(bom):
            return _CONTROL.sub("", body.decode(codec, errors="replace").lstrip("\ufeff"))
    encoding = _detect_encoding(body) or "cp1252"
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:
        text = body.decode("cp1252", errors="replace")
    return _CONTROL.sub("", text)


# --------------------------------------------------------------------------- HTML

# Site chrome removed before extraction. Class/id tokens are matched at their start.
CHROME_TAGS = ("nav", "aside", "script", "style", "noscript", "template", "svg", "iframe", "button", "select")
CHROME_OUTSIDE_CONTENT = ("header", "footer", "form")
CHROME_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog")
CHROME_TOKENS = re.compile(
    r"^(cookie|consent|gdpr|onetrust|cc-window|cc-banner|truste|breadcrumb|skip-?link|skip-?to|sidebar|"
    r"site-?header|site-?footer|global-?header|global-?footer|navbar|nav-|menu|mega-?menu|toc$|"
    r"table-of-contents|social-?share|share-?buttons|newsletter|subscribe|back-?to-?top)",
    re.I,
)
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
# media policy a list of platforms is content. A word joiner after the name keeps it.
_SHARE_WORD = re.compile(r"^\W*(facebook|flipboard|google|instagram|linkedin|pinterest|pocket|qq|reddit|twitter|wechat|weibo|whatsapp|xing|e-?mail|mail|pdf|print)\W*$", re.I)
_KEEP = "\u2060"


def _protect_platform_names(root) -> None:
    for el in root.iter("li", "td", "th", "dd", "dt", "p"):
        text = el.text_content()
        if len(text) < 30 and _SHARE_WORD.match(text) and not el.xpath(".//a|.//button"):
            if len(el):
                last = el[-1]
                last.tail = (last.tail or "") + _KEEP
            else:
                el.text = (el.text or "") + _KEEP


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


def _html_title(root) -> str | None:
    for xpath in ("//meta[@property='og:title']/@content", "//head/title//text()", "//title//text()", "//h1//text()"):
        found = " ".join(t for t in root.xpath(xpath) if isinstance(t, str))
        title = normalize_space(found)
        if title:
            return title[:300]
    return None


def _html_language(root) -> str | None:
    lang = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    if lang:
        return lang.split("-")[0].strip().lower()[:8] or None
    return None


def extract_html(body: bytes, url: str = "", content_type: str | None = None, max_bytes: int = MAX_BYTES) -> Extracted:
    """Main text of an HTML page as blocks, without navigation, header, footer, sidebars or cookie banners."""
    if len(body) > max_bytes:
        return _empty("html", f"skipped: {len(body)} bytes is over the {max_bytes} byte limit")
    if looks_binary(body):
        return _empty("html", "binary content, not HTML")
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype in PLAIN_TEXT_TYPES:
        # a .txt/.md/.rst file served as such: read it as text, by URL suffix when it has one
        suffix = Path(url.split("?")[0].split("#")[0]).suffix.lower()
        fmt = TEXT_FORMATS.get(suffix) if TEXT_FORMATS.get(suffix) not in (None, "html", "php", "pdf") else None
        return extract_text_file(body, fmt or PLAIN_TEXT_TYPES[ctype], max_bytes=max_bytes)
    try:
        text = decode_html(body, content_type)
        root = _parse_html(text)
        if root is None:
            return _empty("html", "no parsable HTML")
        elements = sum(1 for _ in root.iter())
        if elements > MAX_ELEMENTS:
            return _empty("html", f"skipped: {elements} elements is over the {MAX_ELEMENTS} element limit",
                          title=_html_title(root))
        title = _html_title(root)
        language = _html_language(root)
        _strip_chrome(root)
        _protect_platform_names(root)
        walked = _clean_blocks(html_blocks(_content_region(root)))
        blocks = _clean_blocks(_trafilatura_blocks(root, url))
        extractor = "trafilatura"
        if blocks:
            blocks = restore_headings(blocks, walked)
        else:
            blocks, extractor = walked, "html-fallback"
        language = language or guess_language(blocks)
        return Extracted(title=title, blocks=blocks, extractor=extractor, language=language)
    except RecursionError:
        return _empty("html", "document too deeply nested")
    except Exception as exc:  # noqa: BLE001 - garbage in must not crash a crawl
        log.debug("HTML extraction failed for %s: %r", url, exc)
        return _empty("html", f"extraction failed: {type(exc).__name__}")


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
    if doc is None or getattr(doc, "body", None) is None:
        return []
    return html_blocks(doc.body, vocabulary="tei")


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


def html_blocks(root, vocabulary: str = "html") -> list[Block]:
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


_PILCROW = re.compile(r"\s*[¶§#]\s*$")


def _clean_blocks(blocks: list[Block]) -> list[Block]:
    """Normalise whitespace, drop permalink marks and empty or repeated chrome-like blocks."""
    out = []
    for block in blocks:
        text = normalize_space(block.text.replace(_KEEP, ""))
        if block.type == "heading":
            text = _PILCROW.sub("", text)
        text = text.replace("\u00b6", "").strip() if block.type == "heading" else text
        if text:
            out.append(Block(block.type, text, block.level))
    return out


# --------------------------------------------------------------------------- language

_STOPWORDS = {
    "en": {"the", "and", "of", "to", "you", "is", "in", "for", "that", "be", "on", "with", "not", "are", "or", "your"},
    "de": {"der", "die", "und", "das", "nicht", "sie", "ist", "zu", "mit", "den", "von", "für", "auf", "ein", "eine"},
    "fr": {"le", "la", "les", "et", "des", "de", "vous", "est", "pas", "pour", "une", "du", "que", "dans", "sur"},
    "es": {"el", "la", "los", "las", "y", "de", "que", "en", "no", "para", "una", "por", "con", "del", "se"},
    "nl": {"de", "het", "een", "en", "van", "niet", "je", "is", "op", "te", "voor", "met", "dat", "zijn", "u"},
}


def guess_language(blocks: list[Block]) -> str | None:
    """A cheap stop-word vote over the first few thousand characters; None if unsure."""
    sample = " ".join(b.text for b in blocks)[:5000].lower()
    if sample and sum(0x3040 <= ord(c) <= 0x9fff for c in sample) > len(sample) / 4:
        return "ja" if any(0x3040 <= ord(c) <= 0x30ff for c in sample) else "zh"
    words = re.findall(r"[^\W\d_]+", sample)
    if len(words) < 20:
        return None
    counts = Counter(words)
    scores = {lang: sum(counts[w] for w in stop) / len(words) for lang, stop in _STOPWORDS.items()}
    lang, score = max(scores.items(), key=lambda kv: kv[1])
    return lang if score > 0.08 else None


# --------------------------------------------------------------------------- PDF

_PAGE_NUMBER = re.compile(r"^\s*(page\s+)?\d{1,4}(\s*(/|of)\s*\d{1,4})?\s*$|^\s*[-–]\s*\d{1,4}\s*[-–]\s*$", re.I)
_BULLET = re.compile(r"^\s*([•·▪◦‣●○■□\-–*]|\(?[a-z]\)|\(?[ivx]{1,4}\)|\d{1,3}[.)])\s+(?=\S)", re.I)
_NUMBERED_HEADING = re.compile(r"^\s*((\d{1,2}(\.\d{1,2}){0,3})\.?|[A-Z]\.|[IVX]{1,5}\.)\s+(?=[A-Z])")
_CLAUSE_NUMBER = re.compile(r"^\s*\d{1,2}(\.\d{1,2})+\.?\s+\S")
_SENTENCE_END = re.compile(r"[.!?:;)\"”’]$")


def extract_pdf(body: bytes, max_bytes: int = MAX_BYTES, max_pages: int = MAX_PDF_PAGES) -> Extracted:
    """Text of a PDF rebuilt into headings, paragraphs and list items; never raises."""
    if len(body) > max_bytes:
        return _empty("pypdf", f"skipped: {len(body)} bytes is over the {max_bytes} byte limit")
    pages, title, warnings = _pdf_pages(body, max_pages)
    if not pages:
        return Extracted(title=title, blocks=[], extractor="pypdf", warnings=warnings or ["no text in PDF"])
    lines = _strip_page_furniture(pages)
    blocks = lines_to_blocks(lines)
    if not title:
        title = next((b.text for b in blocks if b.type == "heading"), None)
    return Extracted(title=title, blocks=blocks, extractor="pypdf", language=guess_language(blocks), warnings=warnings)


def _pdf_pages(body: bytes, max_pages: int) -> tuple[list[list[str]], str | None, list[str]]:
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    warnings: list[str] = []
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(body), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    return [], None, ["encrypted PDF (password required)"]
            except Exception as exc:  # noqa: BLE001 - unsupported crypto etc.
                return [], None, [f"encrypted PDF ({type(exc).__name__})"]
        title = None
        try:
            meta = reader.metadata
            title = normalize_space(str(meta.title)) if meta and meta.title else None
        except Exception:  # noqa: BLE001
            pass
        page_count = len(reader.pages)
    except Exception as exc:  # noqa: BLE001 - truncated, garbage, not a PDF
        return [], None, [f"unreadable PDF: {type(exc).__name__}"]
    if page_count > max_pages:
        warnings.append(f"only the first {max_pages} of {page_count} pages read")
    pages = []
    for index in range(min(page_count, max_pages)):
        try:
            text = reader.pages[index].extract_text() or ""
        except Exception as exc:  # noqa: BLE001 - one broken page must not lose the rest
            warnings.append(f"page {index + 1} unreadable: {type(exc).__name__}")
            continue
        pages.append(_CONTROL.sub("", text).splitlines())
    if not any(line.strip() for page in pages for line in page):
        return [], title, warnings + ["no text in PDF (scanned?)"]
    return pages, title or None, warnings


def _furniture_key(line: str) -> str:
    return re.sub(r"\d+", "#", normalize_space(line).lower())


def _strip_page_furniture(pages: list[list[str]]) -> list[str]:
    """Drop page numbers and lines repeated at the top or bottom of most pages; pages end with a blank line."""
    edge = 3
    counts: Counter[str] = Counter()
    for page in pages:
        nonblank = [line for line in page if line.strip()]
        counts.update({_furniture_key(line) for line in nonblank[:edge] + nonblank[-edge:]})
    repeated = {key for key, n in counts.items() if len(pages) >= 3 and n >= max(3, len(pages) * 0.5)}
    lines: list[str] = []
    for page in pages:
        nonblank_idx = [i for i, line in enumerate(page) if line.strip()]
        edges = set(nonblank_idx[:edge] + nonblank_idx[-edge:])
        for i, line in enumerate(page):
            if _PAGE_NUMBER.match(line) and line.strip():
                continue
            if i in edges and _furniture_key(line) in repeated:
                continue
            lines.append(line)
        lines.append("")
    return _join_across_pages(lines)


def _join_across_pages(lines: list[str]) -> list[str]:
    # A page break in the middle of a sentence is not a paragraph break.
    out: list[str] = []
    for i, line in enumerate(lines):
        if not line.strip() and out and out[-1].strip() and i + 1 < len(lines):
            following = lines[i + 1].strip()
            if following and following[0].islower() and not _SENTENCE_END.search(out[-1].strip()):
                continue
        out.append(line)
    return out


def _looks_like_heading(line: str, next_line: str | None) -> int:
    """Heading level (1..4) for a short title-like line, 0 otherwise."""
    text = line.strip()
    if not text or len(text) > 90 or _SENTENCE_END.search(text) and not text.endswith(":"):
        return 0
    if text.endswith(":") and len(text.split()) > 6:
        return 0
    words = re.findall(r"[^\W\d_][\w'’-]*", text)
    if not words or len(words) > 12:
        return 0
    numbered = _NUMBERED_HEADING.match(text)
    small = {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with", "from", "your", "our"}
    capitalised = sum(w[0].isupper() for w in words if w.lower() not in small)
    significant = sum(1 for w in words if w.lower() not in small) or 1
    title_like = text.isupper() or capitalised / significant >= 0.75
    if numbered:
        depth = numbered.group(1).rstrip(".").count(".")
        return min(2 + depth, 4) if (title_like or len(words) <= 6) else 0
    if not title_like:
        return 0
    if next_line is not None and next_line.strip() and next_line.strip()[0].islower():
        return 0
    return 1 if text.isupper() and len(words) <= 8 else 2


def lines_to_blocks(lines: list[str]) -> list[Block]:
    """Rebuild blocks from hard-wrapped lines (PDF text, plain text files).

    A blank line ends a block; a bullet or number starts a list item; a short
    title-like line is a heading; other lines are joined to the block before
    them (wrapped lines), de-hyphenating words split at line ends.
    """
    widths = sorted(len(line.rstrip()) for line in lines if line.strip())
    full_width = widths[int(len(widths) * 0.9)] if widths else 80
    blocks: list[Block] = []
    current: Block | None = None
    previous = ""

    def close():
        nonlocal current
        if current is not None and current.text.strip():
            blocks.append(Block(current.type, normalize_space(current.text), current.level))
        current = None

    for i, raw in enumerate(lines):
        line = raw.rstrip()
        if not line.strip():
            close()
            previous = ""
            continue
        next_line = next((l for l in lines[i + 1 : i + 2]), None)
        indent = len(line) - len(line.lstrip())
        bullet = _BULLET.match(line)
        starts_block = current is None or (
            _SENTENCE_END.search(previous.strip()) and len(previous.rstrip()) < 0.7 * full_width
        )
        level = _looks_like_heading(line, next_line) if (starts_block or len(line.strip()) < 60) else 0
        # a symbol bullet is a list item even when short and capitalised; a numbered title is a heading
        symbol_bullet = bullet and not bullet.group(1)[0].isalnum() and bullet.group(1)[0] != "("
        if level and not symbol_bullet:
            if current is None or starts_block or _SENTENCE_END.search(previous.strip()):
                close()
                blocks.append(Block("heading", normalize_space(line), level))
                previous = ""
                continue
        if _CLAUSE_NUMBER.match(line):
            close()  # "2.3 Employees must ..." starts a numbered clause of its own
            current = Block("paragraph", line.strip(), 0)
        elif bullet:
            close()
            current = Block("list_item", line[bullet.end():].strip(), 1 + min(indent // 2, 4))
        elif current is None or starts_block:
            close()
            current = Block("paragraph", line.strip(), 0)
        elif current.text.endswith("-") and line.strip()[:1].islower():
            current.text = current.text[:-1] + line.strip()
        else:
            current.text += " " + line.strip()
        previous = line
    close()
    return blocks


# --------------------------------------------------------------------------- text files

_FRONT_MATTER = re.compile(r"\A\s*(---|\+\+\+)\s*\n.*?\n\1\s*(\n|\Z)", re.S)


def extract_text_file(source: str | Path | bytes, fmt: str | None = None, max_bytes: int = MAX_BYTES) -> Extracted:
    """Blocks of a local document: markdown, text, rst, asciidoc, html (fragment) or php; never raises.

    ``source`` is a path or the file's bytes; ``fmt`` defaults to the path's suffix.
    """
    name = ""
    try:
        if isinstance(source, (str, Path)):
            path = Path(source)
            name = path.name
            if path.stat().st_size > max_bytes:
                return _empty(fmt or "text", f"skipped: {path} is over the {max_bytes} byte limit")
            body = path.read_bytes()
        else:
            body = bytes(source)
    except OSError as exc:
        return _empty(fmt or "text", f"unreadable file: {exc.strerror or exc}")
    fmt = (fmt or TEXT_FORMATS.get(Path(name).suffix.lower(), "text")).lower().lstrip(".")
    fmt = TEXT_FORMATS.get("." + fmt, fmt)
    if len(body) > max_bytes:
        return _empty(fmt, f"skipped: {len(body)} bytes is over the {max_bytes} byte limit")
    if fmt == "pdf" or body[:5] == b"%PDF-":
        return extract_pdf(body, max_bytes=max_bytes)
    if looks_binary(body):
        return _empty(fmt, "binary content, not text")
    try:
        if fmt in ("html", "php"):
            return _extract_fragment(body, fmt, name)
        text = decode_text(body)
        parse = {"markdown": markdown_blocks, "rst": rst_blocks, "asciidoc": asciidoc_blocks}.get(fmt, text_blocks)
        blocks = drop_running_text(_clean_blocks(parse(text)))
    except RecursionError:
        return _empty(fmt, "document too deeply nested")
    except Exception as exc:  # noqa: BLE001
        log.debug("text extraction failed for %s: %r", name, exc)
        return _empty(fmt, f"extraction failed: {type(exc).__name__}")
    title = next((b.text for b in blocks if b.type == "heading"), None)
    return Extracted(title=title, blocks=blocks, extractor=fmt, language=guess_language(blocks))


def drop_running_text(blocks: list[Block], repeats: int = 3) -> list[Block]:
    """Drop page numbers, and repeats of short lines that recur on every page of a converted PDF.

    The first occurrence of a repeated short block is kept (it is often the document title).
    """
    short = [b.text for b in blocks if len(b.text.split()) <= 12]
    exact = Counter(short)
    numbered = Counter(_furniture_key(t) for t in short)  # "Page 3 of 11" and "Page 4 of 11" count together
    seen: set[str] = set()
    out = []
    for block in blocks:
        if block.type != "heading" and _PAGE_NUMBER.match(block.text):
            continue
        key = _furniture_key(block.text)
        if numbered.get(key, 0) >= repeats and re.search(r"\bpage #", key):
            continue
        if exact.get(block.text, 0) >= repeats:
            if block.text in seen:
                continue
            seen.add(block.text)
        out.append(block)
    return out


def _extract_fragment(body: bytes, fmt: str, name: str) -> Extracted:
    text = decode_html(body)
    if fmt == "php":
        text = re.sub(r"<\?(php|=)?.*?(\?>|\Z)", " ", text, flags=re.S)
    is_page = re.search(r"(?i)<html|<body", text[:4096]) is not None
    if is_page:
        result = extract_html(text.encode("utf-8"), name, "text/html; charset=utf-8")
        result.extractor = f"{fmt}:{result.extractor}"
        return result
    root = _parse_html(f"<html><body>{text}</body></html>")
    if root is None:
        return _empty(fmt, "no parsable HTML")
    title = _html_title(root)
    _strip_chrome(root)
    blocks = _clean_blocks(html_blocks(root.find("body") if root.find("body") is not None else root))
    if not title:
        title = next((b.text for b in blocks if b.type == "heading"), None)
    return Extracted(title=title, blocks=blocks, extractor=fmt, language=guess_language(blocks))


def text_blocks(text: str) -> list[Block]:
    return lines_to_blocks(text.splitlines())


# Inline markup shared by the lightweight markup languages.
_MD_INLINE = [
    (re.compile(r"<!--.*?-->", re.S), " "),
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), " "),  # images
    (re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\([^)]*\)"), r"\1"),  # links, one level of nested brackets
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # reference links
    (re.compile(r"\{\{[<%].*?[%>]\}\}|\{%.*?%\}|\{\{.*?\}\}"), " "),  # hugo/jekyll shortcodes
    (re.compile(r"</?[a-zA-Z][^>]*>"), " "),  # inline HTML tags
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)"), r"\1"),
    (re.compile(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?!\w)"), r"\1"),
    (re.compile(r"`+([^`]*)`+"), r"\1"),
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|])"), r"\1"),
]


def _md_inline(text: str) -> str:
    for pattern, repl in _MD_INLINE:
        text = pattern.sub(repl, text)
    import html as _html

    return _html.unescape(text)


class _ListLevels:
    """Nesting depth of list items from their indentation (1 = top level)."""

    def __init__(self):
        self.indents: list[int] = []

    def level(self, indent: int) -> int:
        while self.indents and indent < self.indents[-1]:
            self.indents.pop()
        if not self.indents or indent > self.indents[-1] + 1:
            self.indents.append(indent)
        return len(self.indents)

    def reset(self) -> None:
        self.indents = []


_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_ITEM = re.compile(r"^(\s*)([-*+•]|\d{1,3}[.)])\s+(\[[ xX]\]\s+)?(.*)$")
_MD_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_MD_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_MD_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def markdown_blocks(text: str) -> list[Block]:
    """Line-based Markdown reader: ATX/setext headings, nested lists, paragraphs, tables as rows."""
    text = _FRONT_MATTER.sub("", text, count=1)
    text = re.sub(r"<!--.*?-->", "\n", text, flags=re.S)
    lines = text.splitlines()
    blocks: list[Block] = []
    current: Block | None = None
    levels = _ListLevels()
    in_fence = False

    def close():
        nonlocal current
        if current is not None:
            content = _md_inline(current.text).strip()
            if content:
                blocks.append(Block(current.type, content, current.level))
        current = None

    for i, line in enumerate(lines):
        if _MD_FENCE.match(line):
            close()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        stripped = line.strip()
        next_line = lines[i + 1] if i + 1 < len(lines) else ""
        if not stripped:
            close()
            continue
        if _MD_RULE.match(line) and not (current is not None and current.type == "paragraph" and set(stripped) == {"-"}):
            close()
            continue
        if (heading := _MD_HEADING.match(line)):
            close()
            levels.reset()
            blocks.append(Block("heading", _md_inline(heading.group(2)), len(heading.group(1))))
            continue
        if current is not None and current.type == "paragraph" and _MD_SETEXT.match(line):
            current = Block("heading", current.text, 1 if stripped.startswith("=") else 2)
            close()
            continue
        if _MD_TABLE_SEP.match(line) and "|" in line:
            continue
        if stripped.startswith("|") or (stripped.count("|") >= 2 and _MD_TABLE_SEP.match(next_line or "")):
            close()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            row = Block("paragraph", " | ".join(c for c in cells if c))
            current = row
            close()
            continue
        stripped_quote = re.sub(r"^(\s*>)+\s?", "", line) if stripped.startswith(">") else line
        if (item := _MD_ITEM.match(stripped_quote)) and not _MD_RULE.match(stripped_quote):
            close()
            current = Block("list_item", item.group(4), levels.level(len(item.group(1).expandtabs(4))))
            continue
        if current is None:
            if len(line) - len(line.lstrip()) < 2:
                levels.reset()
            current = Block("paragraph", stripped_quote.strip())
        else:
            current.text += " " + stripped_quote.strip()
        if line.endswith("  ") or line.endswith("\\"):
            current.text = current.text.rstrip("\\")
    close()
    return blocks


_RST_ADORN = re.compile(r"^([=\-~^\"'`#*+:._])\1{2,}\s*$")
_RST_INLINE = [
    (re.compile(r"`([^`<]+?)\s*<[^>]+>`_{1,2}"), r"\1"),
    (re.compile(r":[\w:-]+:`([^`]+)`"), r"\1"),
    (re.compile(r"``([^`]+)``"), r"\1"),
    (re.compile(r"`([^`]+)`_{0,2}"), r"\1"),
    (re.compile(r"\*\*(.+?)\*\*"), r"\1"),
    (re.compile(r"(?<!\w)\*(.+?)\*(?!\w)"), r"\1"),
    (re.compile(r"\|([\w -]+)\|"), r"\1"),
]


def _rst_inline(text: str) -> str:
    for pattern, repl in _RST_INLINE:
        text = pattern.sub(repl, text)
    return text


def rst_blocks(text: str) -> list[Block]:
    """reStructuredText: underlined/overlined section titles (level by order of style), lists, paragraphs."""
    lines = text.splitlines()
    styles: list[str] = []
    blocks: list[Block] = []
    current: Block | None = None
    skip_indent: int | None = None
    levels = _ListLevels()

    def close():
        nonlocal current
        if current is not None and current.text.strip():
            blocks.append(Block(current.type, _rst_inline(normalize_space(current.text)), current.level))
        current = None

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if skip_indent is not None:
            if stripped and indent <= skip_indent:
                skip_indent = None
            else:
                i += 1
                continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if not stripped:
            close()
            i += 1
            continue
        if _RST_ADORN.match(stripped) and i + 2 < len(lines) and _RST_ADORN.match(lines[i + 2].strip()) and lines[i + 1].strip():
            close()
            style = "over" + stripped[0]
            styles.append(style) if style not in styles else None
            blocks.append(Block("heading", _rst_inline(lines[i + 1].strip()), min(styles.index(style) + 1, 6)))
            i += 3
            continue
        if _RST_ADORN.match(nxt.strip()) and len(nxt.strip()) >= len(stripped) * 0.8 and not _RST_ADORN.match(stripped):
            close()
            style = nxt.strip()[0]
            styles.append(style) if style not in styles else None
            blocks.append(Block("heading", _rst_inline(stripped), min(styles.index(style) + 1, 6)))
            i += 2
            continue
        if stripped.startswith(".. "):
            close()
            # comments, targets, and code/raw/image directives have no prose; others keep their body
            if re.match(r"\.\.\s+(code|code-block|sourcecode|raw|image|figure|toctree|_|\|)|\.\.\s+[^:]*$", stripped):
                skip_indent = indent
            i += 1
            continue
        if stripped.startswith(":") and re.match(r"^:[\w -]+:", stripped) and current is None:
            i += 1  # field lists of metadata (:author: ...)
            continue
        item = re.match(r"^(\s*)([-*+•]|#\.|\d{1,3}[.)]|\(?[a-z]\))\s+(.*)$", line)
        if item:
            close()
            current = Block("list_item", item.group(3), levels.level(len(item.group(1).expandtabs(4))))
        elif current is None:
            if indent == 0:
                levels.reset()
            current = Block("paragraph", stripped)
        else:
            current.text += " " + stripped
        if stripped.endswith("::"):
            current.text = current.text[:-1]
            close()
            skip_indent = indent
        i += 1
    close()
    return blocks


_ADOC_MACRO = re.compile(r"(?:\b(?:link|xref|mailto|image|kbd|footnote):|(?=https?://))(\S*?)\[([^\]]*)\]")


def _adoc_macro_text(match: re.Match) -> str:
    # link text comes first; attributes such as role=resource follow after commas
    text = match.group(2).split(",")[0] if "=" in match.group(2) else match.group(2)
    text = text.strip().strip('"')
    return text or re.sub(r"\.adoc$", "", match.group(1).split(":")[-1].split("/")[-1])


def asciidoc_blocks(text: str) -> list[Block]:
    """AsciiDoc: '=' section titles, '*'/'-'/'.' lists with nesting, delimited blocks skipped, attributes dropped."""
    blocks: list[Block] = []
    current: Block | None = None
    delimiter: str | None = None

    def close():
        nonlocal current
        if current is not None and current.text.strip():
            content = _ADOC_MACRO.sub(_adoc_macro_text, current.text)
            content = re.sub(r"<<(?:[^,>]*,\s*)?([^>]+)>>", r"\1", content)
            content = re.sub(r"[*_`#]{1,2}([^*_`#]+)[*_`#]{1,2}", r"\1", content)
            content = normalize_space(content)
            if content:
                blocks.append(Block(current.type, content, current.level))
        current = None

    for line in text.splitlines():
        stripped = line.strip()
        if delimiter:
            if stripped == delimiter:
                delimiter = None
            continue
        if re.match(r"^(-{4,}|\.{4,}|\+{4,}|/{4,}|```)$", stripped):
            close()
            delimiter = stripped
            continue
        if re.match(r"^(={4,}|\*{4,}|_{4,})$", stripped):
            close()
            continue  # example/sidebar/quote delimiters around prose: keep the prose
        if not stripped:
            close()
            continue
        if stripped.startswith("//") or re.match(r"^:[\w!-]+:", stripped) or re.match(r"^\[[^\]]*\]$", stripped):
            continue
        if (heading := re.match(r"^(={1,6}|#{1,6})\s+(.*)$", stripped)):
            close()
            blocks.append(Block("heading", heading.group(2).strip(), len(heading.group(1))))
            continue
        if re.match(r"^(image|video|audio|include|toc)::", stripped):
            continue
        if re.match(r"^\.[^\s.]", stripped):
            close()
            blocks.append(Block("heading", stripped[1:], 6))  # block title
            continue
        if (item := re.match(r"^(\*{1,5}|-|\.{1,5}|\d{1,3}\.)\s+(.*)$", stripped)):
            close()
            marker = item.group(1)
            level = len(marker) if set(marker) <= {"*", "."} else 1
            current = Block("list_item", item.group(2), level)
            continue
        if stripped == "+" and current is not None:
            continue  # list continuation
        if current is None:
            current = Block("paragraph", stripped)
        else:
            current.text += " " + stripped
    close()
    return blocks
