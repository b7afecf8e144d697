"""Text extraction: web pages, PDFs and local documents -> structured blocks.

One dispatcher: ``extract(body, url, content_type)`` for fetched bytes (the format is sniffed
from magic bytes, media type and URL) or ``extract(body, fmt=...)`` for the bytes of a local file
of a known format, and ``extract_file(path)`` for a local file. One module per format:
``html`` (pages and fragments), ``pdf``, ``markup`` (Markdown, reST, AsciiDoc, plain text),
with ``decode`` for charsets. Word and pattern lists are in ``heuristics.yaml``.

Every input here is untrusted (crawled bytes, arbitrary files). Nothing raises on bad input:
the result has no blocks and a note in ``warnings``. Work is bounded by size, pages, elements,
attributes, operators, lines and nesting (a cut-short result has ``bounded`` set), and
``extract_bounded`` adds a time limit by running the extraction in a worker process.

The block lists follow the contract of ``policycorpus.structure``: headings (with level 1..6),
paragraphs and list items (with nesting depth 1..).
"""

from __future__ import annotations

from policycorpus.extract.base import MAX_BYTES, Extracted
from policycorpus.extract.bounded import DEFAULT_TIMEOUT, extract_bounded, shutdown_worker
from policycorpus.extract.decode import looks_binary
from policycorpus.extract.dispatch import extract, extract_file, file_format, sniff_format
from policycorpus.extract.html import markup_bound
from policycorpus.extract.markup import markdown_blocks

__all__ = [
    "DEFAULT_TIMEOUT", "MAX_BYTES", "Extracted", "extract", "extract_bounded", "extract_file", "looks_binary",
    "file_format", "markdown_blocks", "markup_bound", "shutdown_worker", "sniff_format",
]
