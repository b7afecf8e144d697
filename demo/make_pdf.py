"""A tiny PDF writer for the demo: text with headings, paragraphs and bullets, no dependency.

Markup of the source text: ``# `` heading, ``## `` sub-heading, ``- `` bullet, blank line between
paragraphs, other lines are joined into paragraphs. The result uses the standard Helvetica fonts
with WinAnsi encoding, so any PDF reader (pypdf included) extracts the text. Each page carries a
running header and a "Page n of N" footer, as real policy PDFs do.

    python -m demo.make_pdf source.txt out.pdf --header "Cedar Valley Credit Union"
"""

from __future__ import annotations

import argparse
from pathlib import Path

PAGE_W, PAGE_H = 612, 792  # US Letter
MARGIN_X, TOP, BOTTOM = 72, 720, 80
STYLES = {"h1": ("F2", 16, 26), "h2": ("F2", 12.5, 20), "p": ("F1", 10.5, 14.5), "li": ("F1", 10.5, 14.5)}
BULLET_INDENT = 18

# Helvetica advance widths (per 1000 em) for the characters that matter; others use the average.
_NARROW = {c: 278 for c in " .,;:!'|/\\()[]-ift"} | {"l": 222, "j": 222, "r": 333}
_WIDE = {c: 833 for c in "mwMW"} | {c: 722 for c in "ABCDEGHKNORSUVXYZ"} | {"I": 278, "J": 500, "F": 611, "L": 556, "P": 667, "T": 611}


def text_width(text: str, size: float, bold: bool = False) -> float:
    units = sum(_NARROW.get(c, _WIDE.get(c, 556)) for c in text)
    return units * size / 1000 * (1.05 if bold else 1.0)


def wrap(text: str, size: float, width: float, bold: bool = False) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and text_width(candidate, size, bold) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def parse(source: str) -> list[tuple[str, str]]:
    """Blocks (style, text) from the markup."""
    blocks: list[tuple[str, str]] = []
    para: list[str] = []

    def flush():
        if para:
            blocks.append(("p", " ".join(para)))
            para.clear()

    for raw in source.splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("## "):
            flush()
            blocks.append(("h2", line[3:]))
        elif line.startswith("# "):
            flush()
            blocks.append(("h1", line[2:]))
        elif line.startswith("- "):
            flush()
            blocks.append(("li", line[2:]))
        elif blocks and blocks[-1][0] == "li" and not para and raw.startswith("  "):
            blocks[-1] = ("li", blocks[-1][1] + " " + line)  # continuation of a bullet
        else:
            para.append(line)
    flush()
    return blocks


def layout(blocks: list[tuple[str, str]]) -> list[list[tuple[str, float, float, float, str]]]:
    """Pages of positioned lines (font, size, x, y, text)."""
    pages: list[list[tuple[str, float, float, float, str]]] = []
    current: list[tuple[str, float, float, float, str]] = []
    y: float = TOP
    width = PAGE_W - 2 * MARGIN_X
    for style, text in blocks:
        font, size, leading = STYLES[style]
        indent = BULLET_INDENT if style == "li" else 0
        lines = wrap(text, size, width - indent, font == "F2")
        needed = leading * len(lines) + (10 if style.startswith("h") else 0)
        if y - needed < BOTTOM and current:
            pages.append(current)
            current, y = [], TOP
        if style.startswith("h") and current:
            y -= 8
        for i, line in enumerate(lines):
            if style == "li" and i == 0:
                current.append((font, size, MARGIN_X + 4, y, "-"))
            current.append((font, size, MARGIN_X + indent, y, line))
            y -= leading
        y -= 5
    if current:
        pages.append(current)
    return pages


def _escape(text: str) -> bytes:
    data = text.encode("cp1252")
    return data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _content_stream(lines, header: str, page_no: int, pages: int) -> bytes:
    ops = []
    chrome = [("F1", 8.5, MARGIN_X, PAGE_H - 40, header), ("F1", 8.5, PAGE_W - MARGIN_X - 60, 40, f"Page {page_no} of {pages}")]
    for font, size, x, y, text in (chrome if header else chrome[1:]) + lines:
        ops.append(b"BT /%s %.1f Tf %.2f %.2f Td (%s) Tj ET" % (font.encode(), size, x, y, _escape(text)))
    return b"\n".join(ops) + b"\n"


def render(source: str, header: str = "", title: str | None = None) -> bytes:
    """A complete PDF file for the marked-up source text."""
    pages = layout(parse(source))
    title = title or next((t for s, t in parse(source) if s == "h1"), "Document")
    objects: list[bytes] = []  # object n is objects[n-1]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"")  # pages tree, filled below
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    objects.append(b"<< /Title (%s) /Producer (demo/make_pdf.py) /CreationDate (D:20250115090000Z) >>" % _escape(title))
    kids = []
    for n, lines in enumerate(pages, start=1):
        stream = _content_stream(lines, header, n, len(pages))
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> >>" % (PAGE_W, PAGE_H, content_id)
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.make_pdf", description="Render marked-up text as a PDF.")
    parser.add_argument("source")
    parser.add_argument("output")
    parser.add_argument("--header", default="", help="running header printed on every page")
    args = parser.parse_args(argv)
    Path(args.output).write_bytes(render(Path(args.source).read_text(encoding="utf-8"), header=args.header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
