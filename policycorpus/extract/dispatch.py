"""Which extractor reads a document (by magic bytes, media type and URL) and running it in this process.

``extract`` and ``extract_file`` run here without a time limit (their work bounds still hold);
``policycorpus.extract.bounded.extract_bounded`` adds one by running ``extract`` in a worker process.
"""

from __future__ import annotations

import re
from pathlib import Path

from policycorpus.extract.base import MAX_BYTES, Extracted, empty
from policycorpus.extract.decode import looks_binary
from policycorpus.extract.html import extract_html, extract_html_file
from policycorpus.extract.markup import extract_markup
from policycorpus.extract.metadata import detect_language
from policycorpus.extract.pdf import extract_pdf

# File suffixes and the format each one names.
TEXT_FORMATS = {
    ".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text", ".rst": "rst",
    ".adoc": "asciidoc", ".asciidoc": "asciidoc", ".html": "html", ".htm": "html", ".xhtml": "html",
    ".php": "php", ".pdf": "pdf",
}
# Media types of text served as text (read as text, by URL suffix when it names a text format).
PLAIN_TEXT_TYPES = {
    "text/plain": "text", "text/markdown": "markdown", "text/x-markdown": "markdown", "text/x-rst": "rst",
    "text/asciidoc": "asciidoc",
}


def _suffix(url: str) -> str:
    return Path(url.split("?")[0].split("#")[0]).suffix.lower()


def sniff_format(body: bytes, url: str = "", content_type: str | None = None) -> str:
    """The format of fetched bytes: 'pdf', 'html' or a text format, from magic bytes, media type and URL suffix."""
    head = body[:1024].lstrip()
    if head.startswith(b"%PDF"):
        return "pdf"
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/pdf":
        return "pdf"
    if "html" in ctype:  # text/html, application/xhtml+xml
        return "html"
    if ctype in PLAIN_TEXT_TYPES:
        named = TEXT_FORMATS.get(_suffix(url))
        return named if named not in (None, "html", "php", "pdf") else PLAIN_TEXT_TYPES[ctype]
    if _suffix(url) in TEXT_FORMATS:
        return TEXT_FORMATS[_suffix(url)]
    if re.match(rb"(?i)(<!doctype html|<html|<head|<body|<\?xml)", head):
        return "html"
    return "html" if ctype.startswith("text/html") or not ctype else "text"


def file_format(fmt: str) -> str:
    """A format name or file suffix ('md', '.md', 'markdown') -> the format's name ('markdown')."""
    fmt = fmt.lower().lstrip(".")
    return TEXT_FORMATS.get("." + fmt, fmt)


def extract(body: bytes, url: str = "", content_type: str | None = None, *, fmt: str | None = None,
            max_bytes: int = MAX_BYTES, detect: bool = True) -> Extracted:
    """Extract any supported document; never raises.

    Fetched bytes (no ``fmt``) are sniffed: a web page goes through the page extractor. With
    ``fmt`` (a local file's suffix or format name: 'md', 'rst', 'adoc', 'txt', 'html', 'php',
    'pdf') the bytes are read as such a file: an HTML or PHP file may be a fragment of a page.
    ``detect`` adds the language of the text (``with_language``); an extraction worker leaves it to
    its caller, so that no worker loads the language model.
    """
    result = _extract(body, url, content_type, fmt=fmt, max_bytes=max_bytes)
    return with_language(result) if detect else result


def with_language(result: Extracted) -> Extracted:
    """The result with the language detected from its text (the declared one when the text cannot tell).

    Detection reads a bounded sample of the text in linear time, so it needs no worker's time limit.
    """
    if result.blocks:
        result.language = detect_language(result.blocks, declared=result.language)
    return result


def _extract(body: bytes, url: str, content_type: str | None, *, fmt: str | None, max_bytes: int) -> Extracted:
    local = fmt is not None
    fmt = file_format(fmt) if fmt is not None else sniff_format(body, url, content_type)
    if fmt == "pdf" or body[:5] == b"%PDF-":
        return extract_pdf(body, max_bytes=max_bytes)
    if fmt == "html" and not local:
        return extract_html(body, url, content_type, max_bytes=max_bytes)
    if len(body) > max_bytes:
        return empty(fmt, f"skipped: {len(body)} bytes is over the {max_bytes} byte limit")
    if looks_binary(body):
        return empty(fmt, "binary content, not text")
    if fmt in ("html", "php"):
        return extract_html_file(body, fmt, url)
    return extract_markup(body, fmt, url)


def extract_file(path: str | Path, fmt: str | None = None, max_bytes: int = MAX_BYTES) -> Extracted:
    """Blocks of a local document (.md .txt .rst .adoc .html .htm .php .pdf); the format defaults to the suffix."""
    path = Path(path)
    fmt = fmt or TEXT_FORMATS.get(path.suffix.lower(), "text")
    try:
        if path.stat().st_size > max_bytes:
            return empty(file_format(fmt), f"skipped: {path} is over the {max_bytes} byte limit")
        body = path.read_bytes()
    except OSError as exc:
        return empty(file_format(fmt), f"unreadable file: {exc.strerror or exc}")
    return extract(body, path.name, fmt=fmt, max_bytes=max_bytes)
