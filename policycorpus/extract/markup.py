"""Markdown, reStructuredText, AsciiDoc and plain text -> blocks, by small line-based readers.

Work is bounded: at most MAX_LINES lines are read, list nesting deeper than MAX_LIST_DEPTH is
flattened, and every pattern is linear in the length of a line (possessive quantifiers where
leading or trailing whitespace could otherwise be tried in every split).
"""

from __future__ import annotations

import html as _html
import logging
import re

from policycorpus.extract.base import Extracted, Pending, clean_blocks, empty
from policycorpus.extract.decode import decode_text
from policycorpus.extract.metadata import (
    asciidoc_attributes,
    document_title,
    front_matter,
    front_matter_dates,
    text_dates,
)
from policycorpus.extract.pdf import drop_running_text, lines_to_blocks
from policycorpus.structure import Block, normalize_space

MAX_LINES = 250_000  # a 10 MB file of ordinary 40-character lines
MAX_LIST_DEPTH = 50
MAX_INDENT = 400  # columns of indentation read; deeper is the same level

log = logging.getLogger(__name__)
MARKUP_FORMATS = ("markdown", "rst", "asciidoc", "text")


def extract_markup(body: bytes, fmt: str = "text", name: str = "") -> Extracted:
    """Blocks of a Markdown, reST, AsciiDoc or plain text document; never raises."""
    try:
        text = decode_text(body)
        lines = text.count("\n") + 1
        warnings, bounded = [], None
        if lines > MAX_LINES:
            text = "\n".join(text.split("\n", MAX_LINES)[:MAX_LINES])
            warnings.append(f"bounded: only the first {MAX_LINES} of {lines} lines read")
            bounded = "bounded"
        meta = front_matter(text) if fmt in ("markdown", "text", "asciidoc") else {}
        if meta and fmt == "text":
            text = _FRONT_MATTER.sub("", text, count=1)
        attributes = asciidoc_attributes(text) if fmt == "asciidoc" else {}
        parse = {"markdown": markdown_blocks, "rst": rst_blocks, "asciidoc": asciidoc_blocks}.get(fmt, text_blocks)
        blocks = drop_running_text(clean_blocks(parse(text)))
        if any(b.type == "list_item" and b.level >= MAX_LIST_DEPTH for b in blocks):
            warnings.append(f"bounded: list nesting deeper than {MAX_LIST_DEPTH} levels read as level {MAX_LIST_DEPTH}")
            bounded = "bounded"
    except RecursionError:
        return empty(fmt, "document too deeply nested")
    except Exception as exc:  # noqa: BLE001
        log.debug("text extraction failed for %s: %r", name, exc)
        return empty(fmt, f"extraction failed: {type(exc).__name__}")
    dates = front_matter_dates(meta) + front_matter_dates(attributes) + text_dates(blocks)
    return Extracted(title=document_title(front=meta, blocks=blocks), blocks=blocks, extractor=fmt,
                     warnings=warnings, bounded=bounded, dates=dates)


# --------------------------------------------------------------------------- text files

_FRONT_MATTER = re.compile(r"\A\s*(---|\+\+\+)\s*\n.*?\n\1\s*(\n|\Z)", re.S)

def text_blocks(text: str) -> list[Block]:
    return lines_to_blocks(text.splitlines())


_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _strip_comments(text: str, replacement: str) -> str:
    """HTML comments removed; only up to the last '-->', so an unclosed '<!--' is not searched to the end each time."""
    end = text.rfind("-->")
    if end < 0:
        return text
    return _COMMENT.sub(replacement, text[: end + 3]) + text[end + 3 :]


# Inline markup shared by the lightweight markup languages.
_MD_INLINE = [
    (_COMMENT, " "),
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
    text = _strip_comments(text, " ")
    for pattern, repl in _MD_INLINE[1:]:
        text = pattern.sub(repl, text)
    return _html.unescape(text)


class _ListLevels:
    """Nesting depth of list items from their indentation (1 = top level)."""

    def __init__(self):
        self.indents: list[int] = []

    def level(self, indent: int) -> int:
        indent = min(indent, MAX_INDENT)
        while self.indents and indent < self.indents[-1]:
            self.indents.pop()
        if not self.indents or indent > self.indents[-1] + 1:
            self.indents.append(indent)
        return min(len(self.indents), MAX_LIST_DEPTH)

    def reset(self) -> None:
        self.indents = []


_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_ITEM = re.compile(r"^(\s*)([-*+•]|\d{1,3}[.)])\s+(\[[ xX]\]\s+)?(.*)$")
_MD_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_MD_FENCE = re.compile(r"^\s*(```|~~~)")
_MD_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_MD_TABLE_SEP = re.compile(r"^\s*+\|?\s*+:?-{2,}:?\s*+(\|\s*+:?-{2,}:?\s*+)*+\|?\s*+$")


def markdown_blocks(text: str) -> list[Block]:
    """Line-based Markdown reader: ATX/setext headings, nested lists, paragraphs, tables as rows."""
    text = _FRONT_MATTER.sub("", text, count=1)
    text = _strip_comments(text, "\n")
    lines = text.splitlines()
    blocks: list[Block] = []
    current: Pending | None = None
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
            current = Pending("heading", current.text, 1 if stripped.startswith("=") else 2)
            close()
            continue
        if _MD_TABLE_SEP.match(line) and "|" in line:
            continue
        if stripped.startswith("|") or (stripped.count("|") >= 2 and _MD_TABLE_SEP.match(next_line or "")):
            close()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            current = Pending("paragraph", " | ".join(c for c in cells if c))
            close()
            continue
        stripped_quote = re.sub(r"^(\s*>)+\s?", "", line) if stripped.startswith(">") else line
        if (item := _MD_ITEM.match(stripped_quote)) and not _MD_RULE.match(stripped_quote):
            close()
            current = Pending("list_item", item.group(4), levels.level(len(item.group(1).expandtabs(4))))
            continue
        if current is None:
            if len(line) - len(line.lstrip()) < 2:
                levels.reset()
            current = Pending("paragraph", stripped_quote.strip())
        else:
            current.add(stripped_quote.strip())
        if line.endswith("  ") or line.endswith("\\"):
            current.last = current.last.rstrip("\\")
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
    current: Pending | None = None
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
            current = Pending("list_item", item.group(3), levels.level(len(item.group(1).expandtabs(4))))
        elif current is None:
            if indent == 0:
                levels.reset()
            current = Pending("paragraph", stripped)
        else:
            current.add(stripped)
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
    current: Pending | None = None
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
            current = Pending("list_item", item.group(2), level)
            continue
        if stripped == "+" and current is not None:
            continue  # list continuation
        if current is None:
            current = Pending("paragraph", stripped)
        else:
            current.add(stripped)
    close()
    return blocks
