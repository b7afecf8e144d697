"""Datasette's CSV exports made spreadsheet-safe (CSV/formula injection).

Crawled policy text is untrusted: a clause starting ``=HYPERLINK(...)`` would run as a
formula when a researcher opens the exported CSV in a spreadsheet. This ASGI wrapper
rewrites every CSV response (``.csv`` URLs and ``_format=csv``, streamed or not): a cell
starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading apostrophe,
unless it is a plain number. Records are rewritten as they stream through, never
buffered whole.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from urllib.parse import parse_qs

from datasette import hookimpl

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(cell: str) -> str:
    if cell.startswith(FORMULA_PREFIXES) and not NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def complete_records_end(text: str) -> int:
    """Offset just after the last line break that is outside quotes (0 if none)."""
    end = len(text)
    while True:
        newline = text.rfind("\n", 0, end)
        if newline < 0:
            return 0
        if text.count('"', 0, newline) % 2 == 0:
            return newline + 1
        end = newline


class CsvRewriter:
    """Feed CSV bytes in chunks; get back neutralised CSV bytes for every complete record."""

    def __init__(self):
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pending = ""

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        self.pending += self.decoder.decode(chunk, final=final)
        cut = len(self.pending) if final else complete_records_end(self.pending)
        complete, self.pending = self.pending[:cut], self.pending[cut:]
        if not complete:
            return b""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for row in csv.reader(io.StringIO(complete, newline="")):
            writer.writerow([neutralise_cell(cell) for cell in row])
        return out.getvalue().encode("utf-8")


def is_csv_request(scope) -> bool:
    path = scope.get("path", "")
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return path.endswith(".csv") or query.get("_format", [""])[0] == "csv"


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def neutralising_app(scope, receive, send):
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
