"""Datasette's CSV exports made spreadsheet-safe (CSV/formula injection).

Crawled policy text is untrusted: a clause starting ``=HYPERLINK(...)`` would run as a
formula when a researcher opens the exported CSV in a spreadsheet. This ASGI wrapper
rewrites every CSV response (``.csv`` URLs and ``_format=csv``, streamed or not): a cell
starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading apostrophe,
unless it is a plain number. Records are rewritten as they stream through, never
buffered whole, and cells of any size pass whole (no csv.field_size_limit).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from datasette import hookimpl

if TYPE_CHECKING:
    from datasette.app import Datasette

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(cell: str) -> str:
    if cell.startswith(FORMULA_PREFIXES) and not NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


QUOTED_FIELD = re.compile(r'"([^"]*(?:""[^"]*)*)"')
PLAIN_FIELD = re.compile(r"[^,\r\n]*")
QUOTE_OR_NEWLINE = re.compile(r'["\n]')


def parse_records(text: str) -> list[list[str]]:
    """The records of CSV text as Datasette writes it (RFC 4180, minimal quoting), any field size.

    The csv module's reader would stop at a field over csv.field_size_limit()
    (131,072 characters); this has no limit but the text itself.
    """
    records, row, pos, end = [], [], 0, len(text)
    while pos < end:
        quoted = QUOTED_FIELD.match(text, pos)
        if quoted:
            cell, pos = quoted.group(1).replace('""', '"'), quoted.end()
        else:
            cell, pos = "", pos
        plain = PLAIN_FIELD.match(text, pos)  # an unquoted field, or stray text after a closing quote
        assert plain is not None  # the pattern also matches the empty string
        cell, pos = cell + plain.group(0), plain.end()
        row.append(cell)
        if pos < end and text[pos] == ",":
            pos += 1
            if pos == end:
                row.append("")
            continue
        pos += 2 if text.startswith("\r\n", pos) else 1
        records.append(row)
        row = []
    if row:
        records.append(row)
    return records


class CsvRewriter:
    """Feed CSV bytes in chunks; get back neutralised CSV bytes for every complete record.

    Quotes are counted once per chunk as they arrive, and text waiting for the end
    of its record is kept as a list of pieces, so a cell of any size streams in
    linear time.
    """

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pieces: list[str] = []
        self.size = 0  # characters in pieces
        self.in_quotes = False
        self.records_end = 0  # offset in pieces just after the last complete record

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        text = self.decoder.decode(chunk, final=final)
        for match in QUOTE_OR_NEWLINE.finditer(text):
            if match.group(0) == '"':
                self.in_quotes = not self.in_quotes
            elif not self.in_quotes:
                self.records_end = self.size + match.end()
        if text:
            self.pieces.append(text)
            self.size += len(text)
        cut = self.size if final else self.records_end
        if not cut:
            return b""
        buffered = "".join(self.pieces)
        complete, rest = buffered[:cut], buffered[cut:]
        self.pieces, self.size, self.records_end = ([rest] if rest else []), len(rest), 0
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for row in parse_records(complete):
            writer.writerow([neutralise_cell(cell) for cell in row])
        return out.getvalue().encode("utf-8")


def is_csv_request(scope: dict) -> bool:
    path = scope.get("path", "")
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return path.endswith(".csv") or query.get("_format", [""])[0] == "csv"


@hookimpl
def asgi_wrapper(datasette: Datasette) -> Callable[[Callable], Callable]:
    def wrap(app: Callable) -> Callable:
        if datasette.plugin_config("policycorpus") is None:  # another Datasette in the same environment
            return app

        async def neutralising_app(scope: dict, receive, send):
            if scope.get("type") != "http" or not is_csv_request(scope):
                return await app(scope, receive, send)
            rewriter = CsvRewriter()
            state = {"csv": False}

            async def rewriting_send(message):
                if message["type"] == "http.response.start":
                    headers = message.get("headers") or []
                    content_type = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                    state["csv"] = message.get("status") == 200 and (b"csv" in content_type or b"text/plain" in content_type)
                    if state["csv"]:  # the body changes length
                        message = {**message, "headers": [(k, v) for k, v in headers if k.lower() != b"content-length"]}
                elif message["type"] == "http.response.body" and state["csv"]:
                    more = message.get("more_body", False)
                    message = {**message, "body": rewriter.feed(message.get("body", b""), final=not more)}
                await send(message)

            await app(scope, receive, rewriting_send)

        return neutralising_app

    return wrap
