"""PDF -> blocks: pypdf text per page, page furniture dropped, hard-wrapped lines rebuilt into blocks.

The line logic (lines_to_blocks, drop_running_text) serves plain text files too. Work is bounded
by pages and by content-stream tokens: pypdf spends 10-15 microseconds on each, and a small
compressed stream can hold millions of them.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from functools import cache
from typing import TYPE_CHECKING, Any

from policycorpus.extract.base import MAX_BYTES, Extracted, Pending, empty, heuristics
from policycorpus.extract.decode import CONTROL
from policycorpus.extract.metadata import PolicyDate, document_title, pdf_dates, text_dates
from policycorpus.structure import Block, normalize_space

if TYPE_CHECKING:
    from pypdf import PageObject


MAX_PDF_PAGES = 300
# Content-stream tokens (operators and operands; pypdf spends 10-15 microseconds on each): a dense
# page of text has one or two thousand, a page with every glyph positioned some ten thousand.
MAX_PAGE_TOKENS = 60_000
MAX_PDF_TOKENS = 400_000
MAX_SKIPPED_PAGES = 3  # pages over the page limit before the rest of the document is left unread
MAX_STREAM_BYTES = 8 * 1024 * 1024  # decoded content of one page

_PAGE_NUMBER = re.compile(r"^\s*(page\s+)?\d{1,4}(\s*(/|of)\s*\d{1,4})?\s*$|^\s*[-–]\s*\d{1,4}\s*[-–]\s*$", re.I)
_BULLET = re.compile(r"^\s*([•·▪◦‣●○■□\-–*]|\(?[a-z]\)|\(?[ivx]{1,4}\)|\d{1,3}[.)])\s+(?=\S)", re.I)
_NUMBERED_HEADING = re.compile(r"^\s*((\d{1,2}(\.\d{1,2}){0,3})\.?|[A-Z]\.|[IVX]{1,5}\.)\s+(?=[A-Z])")
_CLAUSE_NUMBER = re.compile(r"^\s*\d{1,2}(\.\d{1,2})+\.?\s+\S")
_SENTENCE_END = re.compile(r"[.!?:;)\"”’]$")


def extract_pdf(body: bytes, max_bytes: int = MAX_BYTES, max_pages: int = MAX_PDF_PAGES) -> Extracted:
    """Text of a PDF rebuilt into headings, paragraphs and list items; never raises."""
    if len(body) > max_bytes:
        return empty("pypdf", f"skipped: {len(body)} bytes is over the {max_bytes} byte limit")
    pages, info, warnings, bounded = _pdf_pages(body, max_pages)
    title, dates = info
    if not pages:
        return Extracted(title=document_title(page=[title]), blocks=[], extractor="pypdf",
                         warnings=warnings or ["no text in PDF"], bounded=bounded, dates=dates)
    lines = _strip_page_furniture(pages)
    blocks = lines_to_blocks(lines)
    return Extracted(title=document_title(page=[title], blocks=blocks), blocks=blocks, extractor="pypdf",
                     warnings=warnings, bounded=bounded, dates=dates + text_dates(blocks))


def _open_pdf(body: bytes):
    """(reader, (title, dates) of its document information, None) or (None, (None, []), why not)."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(body), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    return None, (None, []), "encrypted PDF (password required)"
            except Exception as exc:  # noqa: BLE001 - unsupported crypto etc.
                return None, (None, []), f"encrypted PDF ({type(exc).__name__})"
        title, dates = None, []
        try:
            meta = reader.metadata
            title = normalize_space(str(meta.title)) if meta and meta.title else None
            dates = pdf_dates(meta)
        except Exception:  # noqa: BLE001
            pass
        len(reader.pages)  # noqa: B018 - a broken page tree raises here
    except Exception as exc:  # noqa: BLE001 - truncated, garbage, not a PDF
        return None, (None, []), f"unreadable PDF: {type(exc).__name__}"
    return reader, (title, dates), None


def _pdf_pages(body: bytes, max_pages: int
               ) -> tuple[list[list[str]], tuple[str | None, list[PolicyDate]], list[str], str | None]:
    """(lines of each page, (title, dates) of the document information, warnings, "bounded" if a work bound
    left pages unread)."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader, info, why = _open_pdf(body)
    if reader is None:
        return [], info, [why], None
    warnings: list[str] = []
    bounded = None
    page_count = len(reader.pages)
    if page_count > max_pages:
        warnings.append(f"only the first {max_pages} of {page_count} pages read")
    pages = []
    budget = MAX_PDF_TOKENS
    skipped = 0
    for index in range(min(page_count, max_pages)):
        try:
            page = reader.pages[index]
            tokens = page_tokens(page)
            if tokens > MAX_PAGE_TOKENS:
                warnings.append(f"bounded: page {index + 1} skipped, its content stream of about {tokens} tokens "
                                f"is over the {MAX_PAGE_TOKENS} token limit of a page")
                bounded = "bounded"
                skipped += 1
                if skipped >= MAX_SKIPPED_PAGES and index + 1 < page_count:
                    warnings.append(f"bounded: pages {index + 2}-{page_count} not read after {skipped} pages over "
                                    "the limit")
                    break
                continue
            budget -= tokens
            if budget < 0:
                warnings.append(f"bounded: only the first {index} of {page_count} pages read, the document is over "
                                f"the {MAX_PDF_TOKENS} content-stream token limit")
                bounded = "bounded"
                break
            text = page.extract_text() or ""
        except Exception as exc:  # noqa: BLE001 - one broken page must not lose the rest
            warnings.append(f"page {index + 1} unreadable: {type(exc).__name__}")
            continue
        pages.append(CONTROL.sub("", text).splitlines())
    if not any(line.strip() for page in pages for line in page):
        return [], info, warnings + ["no text in PDF (scanned?)"], bounded
    return pages, info, warnings, bounded


# Every content-stream token (operand or operator) is preceded by whitespace or a delimiter, so
# counting those bytes bounds the tokens pypdf parses from above, at C speed.
_SEPARATORS = (b" ", b"\n", b"\r", b"\t", b"\f", b"(", b"[", b"<", b"/")


def page_tokens(page: PageObject) -> int:
    """About how many content-stream tokens pypdf would parse for this page (its streams and form XObjects)."""
    streams: list[Any] = [page.get_contents()]
    try:
        resources: Any = page["/Resources"].get_object()  # untrusted structure: any type, or missing
        xobjects = resources.get("/XObject")
        for ref in (xobjects.get_object().values() if xobjects is not None else []):
            xobject = ref.get_object()
            if xobject.get("/Subtype") == "/Form":
                streams.append(xobject)
    except Exception:  # noqa: BLE001 - no or odd resources: the page's own streams still count
        pass
    total = 0
    for stream in streams:
        if stream is None:
            continue
        data = stream.get_data()
        if len(data) > MAX_STREAM_BYTES:
            return max(MAX_PAGE_TOKENS + 1, len(data) // 8)
        total += sum(data.count(separator) for separator in _SEPARATORS)
    return total


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


@cache
def _small_words() -> frozenset[str]:
    return frozenset(heuristics()["heading_small_words"])


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
    small = _small_words()
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
    current: Pending | None = None
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
        next_line = next(iter(lines[i + 1 : i + 2]), None)
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
            current = Pending("paragraph", line.strip(), 0)
        elif bullet:
            close()
            current = Pending("list_item", line[bullet.end():].strip(), 1 + min(indent // 2, 4))
        elif current is None or starts_block:
            close()
            current = Pending("paragraph", line.strip(), 0)
        elif current.last.endswith("-") and line.strip()[:1].islower():
            current.last = current.last[:-1] + line.strip()
        else:
            current.add(line.strip())
        previous = line
    close()
    return blocks




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

