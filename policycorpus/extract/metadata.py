"""What a document says about itself: its title, its own dates (with where each was read) and its language.

The one title rule of the project (``document_title``): the title given in front matter, else the page's
``og:title`` / ``<title>`` (a site name after a separator dropped when the rest is the page's top heading),
else a title field of a document-control table ("Policy title: ..."), else the document's first top-level
heading -- never a section heading ("Introduction", "1. Scope"). Placeholders ("untitled-page") are no title.

Dates (``PolicyDate``) come from front matter and AsciiDoc attributes, page metadata (``<meta>`` tags and
schema.org JSON-LD), PDF document information, HTTP ``Last-Modified`` and statements in the text ("Last
updated: 2 April 2025", a revision-history table); each keeps its kind (published, updated, reviewed,
effective) and its source. ``policy_date`` picks the one a citation shows. The word lists and patterns are
data, in document_metadata.yaml; python-dateutil parses the dates, py3langid (its model ships in the
package; nothing is downloaded) detects the language.

Every input is untrusted: sizes are bounded, nothing here raises on bad input.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from policycorpus.structure import Block, normalize_space

DATA = Path(__file__).with_name("document_metadata.yaml")
MAX_TITLE = 300
MAX_FRONT_MATTER = 64 * 1024  # characters of front matter parsed (a bigger block is not front matter)
MAX_DATE_TEXT = 2_000  # characters of one block searched for dates
MAX_JSON_LD = 256 * 1024  # characters of JSON-LD parsed per page
MAX_JSON_LD_VALUES = 5_000  # scalars of JSON-LD read per page
MAX_HISTORY_BLOCKS = 1_000  # blocks of revision-history sections read per document
LANGUAGE_SAMPLE = 5_000  # characters the language is detected from
MIN_LANGUAGE_LETTERS = 20  # fewer letters than this: too little text to tell
MIN_LANGUAGE_PROBABILITY = 0.9  # below it the detection is unsure and a declared language (lang=) is used
KINDS = ("published", "updated", "reviewed", "effective")


@dataclass(frozen=True)
class PolicyDate:
    """A date a document gives for itself: when it was published, updated, reviewed or takes effect.

    ``date`` is ISO 8601 as precise as stated (2025-04-02, 2019-03 or 2019); ``source`` is where it was
    read (front matter, page metadata, text, PDF metadata or HTTP Last-Modified) and ``evidence`` what
    exactly: the key, the meta tag or the words of the text.
    """

    date: str
    kind: str
    source: str
    evidence: str

    @property
    def label(self) -> str:
        """'updated 2025-04-02 (text: "Last updated: 2 April 2025")'."""
        return f"{self.kind} {self.date} ({self.source}: {self.evidence})"


@cache
def rules() -> dict[str, Any]:
    with open(DATA, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _key(name: str) -> str:
    return re.sub(r"[-\s]+", "_", str(name).strip().lower())


# --------------------------------------------------------------------------- front matter


_FRONT_MATTER = re.compile(r"\A\ufeff?\s*(---|\+\+\+)[ \t]*\n(.*?)\n\1[ \t]*(?:\n|\Z)", re.S)
_ADOC_ATTRIBUTE = re.compile(r"^:([\w-]+):[ \t]*(.*)$")


def front_matter(text: str) -> dict[str, Any]:
    """The YAML front matter at the head of a text (--- ... ---), keys normalised; {} when there is none.

    TOML front matter (+++) is read as key = "value" lines. Never raises.
    """
    match = _FRONT_MATTER.match(text[: MAX_FRONT_MATTER + 16])
    if not match:
        return {}
    body = match.group(2)
    if match.group(1) == "+++":
        pairs = re.findall(r'^\s*([\w-]+)\s*=\s*"?([^"\n]*)"?\s*$', body, re.M)
        return {_key(k): v for k, v in pairs}
    try:
        data = yaml.safe_load(body)
    except (yaml.YAMLError, ValueError, RecursionError):
        return {}
    # only text keys: a YAML key can be a structure whose aliases make str() of it explode
    return {_key(k): v for k, v in data.items() if isinstance(k, str)} if isinstance(data, dict) else {}


def asciidoc_attributes(text: str) -> dict[str, str]:
    """The header attributes of an AsciiDoc document (:revdate: 2024-01-02), keys normalised."""
    out: dict[str, str] = {}
    for line in text[:MAX_FRONT_MATTER].splitlines()[:200]:
        if (match := _ADOC_ATTRIBUTE.match(line.strip())):
            out.setdefault(_key(match.group(1)), match.group(2).strip())
    return out


# --------------------------------------------------------------------------- titles


@cache
def _placeholder() -> re.Pattern:
    return re.compile(r"^(?:" + "|".join(rules()["titles"]["placeholders"]) + r")$", re.I)


@cache
def _section_heading() -> re.Pattern:
    return re.compile(r"^(?:" + "|".join(rules()["titles"]["section_headings"]) + r")\W*$", re.I)


_SECTION_NUMBER = re.compile(r"^\s*(?:(?:section|part|article|chapter)\s+)?(?:\d{1,3}(?:\.\d{1,3})*\.?|[IVX]{1,5}\.|[A-Z]\.)(?:\s|$)",
                             re.I)


def is_section_heading(text: str) -> bool:
    """A heading that names a section of a document (numbered, or a generic name such as 'Introduction')."""
    text = normalize_space(text)
    return bool(_SECTION_NUMBER.match(text)) or bool(_section_heading().match(text.strip(" .:")))


_TITLE_EDGE = " -|·#*¶§:>"


def _trim_title(text: str) -> str:
    """Spaces normalised; edge decoration (emoji, permalink marks, separators) and a final full stop removed."""
    text = normalize_space(text)
    while text and (text[0] in _TITLE_EDGE or unicodedata.category(text[0]) == "So"):
        text = text[1:]
    while text and (text[-1] in _TITLE_EDGE or unicodedata.category(text[-1]) == "So"):
        text = text[:-1]
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    return text.strip()


def usable_title(text: Any) -> str | None:
    """The title trimmed, or None for an empty one or a placeholder."""
    if not isinstance(text, str):
        return None
    text = _trim_title(text)
    if not text or _placeholder().match(text) or not any(ch.isalnum() for ch in text):
        return None
    return text[:MAX_TITLE]


def front_matter_title(meta: dict[str, Any]) -> str | None:
    for key in rules()["titles"]["front_matter_keys"]:
        if (title := usable_title(meta.get(key))):
            return title
    return None


_TITLE_SEPARATORS = re.compile(r"\s+(?:\||-|–|—|·|::|»|•|/)\s+")


def page_title(candidates: list[str | None], headings: Sequence[str] = (), site_name: str | None = None) -> str | None:
    """The first usable page title (og:title, then <title>) without the site's name beside it: of the parts
    between separators, the one that is the page's top heading ('Social Media Guidelines | News' with that h1),
    else the only one that starts with it ('Social Media Guidelines — Acme Advisers' with the h1 'Social
    Media'), else the title less a part that is the og:site_name; else the whole title."""
    wanted = [_trim_title(h).casefold() for h in headings if h and _trim_title(h)]
    site = _trim_title(site_name or "").casefold()
    for candidate in candidates:
        title = usable_title(candidate)
        if not title:
            continue
        parts = _TITLE_SEPARATORS.split(title)
        if len(parts) > 1:
            exact = [p for p in parts if p.casefold() in wanted]
            prefixed = [p for p in parts if any(re.match(re.escape(h) + r"\b", p.casefold()) for h in wanted)]
            rest = [p for p in parts if site and p.casefold() != site]
            for choice in (exact, prefixed):
                if len(choice) == 1:
                    return choice[0]
            if site and rest and len(rest) < len(parts):
                return " - ".join(rest) if len(rest) > 1 else rest[0]
        return title
    return None


@cache
def _title_label() -> re.Pattern:
    labels = "|".join(re.escape(label) for label in sorted(rules()["titles"]["labels"], key=len, reverse=True))
    return re.compile(r"^\s*(?:" + labels + r")\s*[:|]\s*(?:[:|]\s*)?([^|]{2,200}?)\s*(?:\||$)", re.I)


def labelled_title(blocks: list[Block]) -> str | None:
    """A title stated in a document-control field: 'Policy title: X' or a table row 'Document title: | X'."""
    for block in blocks[:2000]:
        if block.type != "heading" and (match := _title_label().match(block.text[:400])):
            if (title := usable_title(match.group(1))):
                return title
    return None


def heading_title(blocks: list[Block]) -> str | None:
    """The first heading of the document's top level, unless it names a section (then the document has none)."""
    headings = [b for b in blocks if b.type == "heading" and b.text.strip()]
    if not headings:
        return None
    top = min(h.level or 1 for h in headings)
    first = next(h for h in headings if (h.level or 1) == top)
    if is_section_heading(first.text):
        return None
    return usable_title(first.text)


def document_title(*, front: dict[str, Any] | None = None, page: Sequence[str | None] = (),
                   page_headings: Sequence[str] = (), site_name: str | None = None,
                   blocks: Sequence[Block] = ()) -> str | None:
    """The project's title rule: front matter, then the page's og:title/<title>, then a document-control
    title field, then the first top-level heading (never a section heading); None when the document states none."""
    return (front_matter_title(front or {}) or page_title(list(page), list(page_headings), site_name)
            or labelled_title(list(blocks)) or heading_title(list(blocks)))


# --------------------------------------------------------------------------- dates


def _today() -> dt.date:
    return dt.date.today()


def _plausible(year: int) -> bool:
    return rules()["dates"]["earliest_year"] <= year <= _today().year + 1


def _iso(value: dt.date, precision: str = "day") -> str | None:
    if not _plausible(value.year):
        return None
    return {"year": f"{value.year:04d}", "month": f"{value.year:04d}-{value.month:02d}"}.get(
        precision, f"{value.year:04d}-{value.month:02d}-{value.day:02d}")


_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})")
_CJK_DATE = re.compile(r"(\d{4})年\s*(\d{1,2})月(?:\s*(\d{1,2})日)?")
_DOTTED = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}$")


def parse_date(value: Any) -> str | None:
    """An ISO 8601 date (2025-04-02, 2019-03 or 2019, as precise as given) from a date, datetime or date
    text; None for anything that is not a plausible date. Never raises."""
    if isinstance(value, dt.datetime):
        return _iso(value.date())
    if isinstance(value, dt.date):
        return _iso(value)
    if not isinstance(value, str):
        return None
    text = normalize_space(value)[:80]
    if not text:
        return None
    try:
        if (m := _ISO_DATE.match(text)):
            return _iso(dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
        if (m := _CJK_DATE.search(text)):
            day = int(m.group(3)) if m.group(3) else 1
            return _iso(dt.date(int(m.group(1)), int(m.group(2)), day), "day" if m.group(3) else "month")
        return _dateutil(text)
    except (ValueError, OverflowError):
        return None


def _dateutil(text: str) -> str | None:
    from dateutil import parser

    if not re.search(r"\d{4}", text):
        return None  # a date without a year ('March 3') is no policy date
    dayfirst = bool(_DOTTED.match(text))
    try:
        # two defaults tell which parts the text gave: a part it lacks takes each default's value
        first = parser.parse(text, default=dt.datetime(2000, 1, 1), dayfirst=dayfirst)
        second = parser.parse(text, default=dt.datetime(2000, 2, 2), dayfirst=dayfirst)
    except (ValueError, OverflowError, parser.ParserError):
        return None
    precision = "year" if first.month != second.month else "month" if first.day != second.day else "day"
    return _iso(first.date(), precision)


def http_date(value: str | None) -> str | None:
    """The date of an HTTP date header (Last-Modified: Tue, 02 Apr 2024 10:00:00 GMT)."""
    if not value:
        return None
    try:
        return _iso(parsedate_to_datetime(value[:100]).date())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _kind_of(key: str, table: dict[str, list[str]]) -> str | None:
    key = _key(key)
    for kind, names in table.items():
        if key in {_key(n) for n in names}:
            return kind
    return None


def front_matter_dates(meta: dict[str, Any], source: str = "front matter") -> list[PolicyDate]:
    """Dates of front matter (or AsciiDoc attributes) under the keys of document_metadata.yaml."""
    table = rules()["dates"]["front_matter_keys"]
    out = []
    for key, value in meta.items():
        kind = _kind_of(key, table)
        if kind and (date := parse_date(value)):
            out.append(PolicyDate(date, kind, source, str(key)))
    return out


def meta_tag_dates(root: Any) -> list[PolicyDate]:
    """Dates of a page's <meta> tags (name, property, http-equiv or itemprop) and <time itemprop>, from an lxml tree."""
    table = rules()["dates"]["meta_names"]
    out = []
    for el in root.xpath("//meta[@content]")[:500]:
        name = el.get("name") or el.get("property") or el.get("http-equiv") or el.get("itemprop") or ""
        kind = _kind_of(name, table)
        if kind and (date := parse_date(el.get("content"))):
            out.append(PolicyDate(date, kind, "page metadata", f"meta {name.strip()[:60]}"))
    json_kinds = rules()["dates"]["json_ld_keys"]
    for el in root.xpath("//*[@itemprop][@datetime]")[:100]:
        kind = _kind_of(el.get("itemprop"), json_kinds)
        if kind and (date := parse_date(el.get("datetime"))):
            out.append(PolicyDate(date, kind, "page metadata", f"itemprop {el.get('itemprop')[:60]}"))
    return out + json_ld_dates(root)


def json_ld_dates(root: Any) -> list[PolicyDate]:
    """datePublished / dateModified / dateCreated of the page's schema.org JSON-LD."""
    table = rules()["dates"]["json_ld_keys"]
    wanted = {_key(n): kind for kind, names in table.items() for n in names}
    out: list[PolicyDate] = []
    budget = MAX_JSON_LD
    for script in root.xpath("//script[@type='application/ld+json']")[:20]:
        text = script.text or ""
        budget -= len(text)
        if budget < 0:
            break
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            continue
        for key, value in itertools.islice(_walk(data), MAX_JSON_LD_VALUES):
            kind = wanted.get(_key(key))
            if kind and (date := parse_date(value)):
                out.append(PolicyDate(date, kind, "page metadata", f"JSON-LD {key}"))
    return out


def _walk(data, depth: int = 0):
    """(key, value) of every scalar of nested JSON, breadth limited."""
    if depth > 8:
        return
    if isinstance(data, dict):
        for key, value in list(data.items())[:200]:
            if isinstance(value, (dict, list)):
                yield from _walk(value, depth + 1)
            else:
                yield key, value
    elif isinstance(data, list):
        for item in data[:200]:
            yield from _walk(item, depth + 1)


def pdf_dates(info: Any) -> list[PolicyDate]:
    """/CreationDate and /ModDate of a PDF's document information (a pypdf DocumentInformation)."""
    table = rules()["dates"]["pdf_keys"]
    out = []
    for kind, keys in table.items():
        for key in keys:
            try:
                raw = info.get(key) if info is not None else None
            except Exception:  # noqa: BLE001 - a broken information dictionary
                raw = None
            if raw is None:
                continue
            date = _pdf_date(str(raw))
            if date:
                out.append(PolicyDate(date, kind, "PDF metadata", key.lstrip("/")))
    return out


def _pdf_date(raw: str) -> str | None:
    """D:20240102103000+01'00' -> 2024-01-02."""
    match = re.match(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?", raw.strip())
    if not match:
        return None
    year, month, day = match.group(1), match.group(2), match.group(3)
    try:
        return _iso(dt.date(int(year), int(month or 1), int(day or 1)), "day" if day else "month" if month else "year")
    except ValueError:
        return None


@cache
def _date_expression() -> str:
    months = "|".join(sorted(rules()["dates"]["months"], key=len, reverse=True))
    return "(?:" + "|".join(e.replace("{month}", rf"(?:{months})\.?") for e in rules()["dates"]["expressions"]) + ")"


def _labels(kind_table: dict[str, list[str]]) -> list[tuple[str, str]]:
    return sorted(((label, kind) for kind, labels in kind_table.items() for label in labels),
                  key=lambda lk: len(lk[0]), reverse=True)


@cache
def _label_before() -> tuple[re.Pattern, dict[str, str]]:
    pairs = _labels(rules()["dates"]["text_labels"])
    alternatives = "|".join(re.escape(label).replace(r"\ ", r"\s+") for label, _ in pairs)
    pattern = re.compile(
        rf"(?<![\w-])({alternatives})(?![\w-])[\s:|\-–—,]*(?:(?:on|as\s+of|at|in|from|date)\b[\s:|]*)?"
        rf"({_date_expression()})(?!\d)", re.I)
    return pattern, {normalize_space(label).casefold(): kind for label, kind in pairs}


@cache
def _label_after() -> tuple[re.Pattern, dict[str, str]]:
    pairs = _labels(rules()["dates"]["text_labels_after"])
    alternatives = "|".join(re.escape(label) for label, _ in pairs)
    pattern = re.compile(rf"({_date_expression()})\s*(?:に)?\s*({alternatives})", re.I)
    return pattern, {label.casefold(): kind for label, kind in pairs}


@cache
def _not_after() -> re.Pattern:
    words = "|".join(re.escape(w) for w in rules()["dates"]["not_after_words"])
    return re.compile(rf"(?:^|\W)(?:{words})\W*$", re.I)


@cache
def _history_heading() -> re.Pattern:
    return re.compile(r"^(?:" + "|".join(rules()["dates"]["history_headings"]) + r")\W*$", re.I)


def _snippet(text: str, start: int, end: int) -> str:
    return normalize_space(text[max(0, start):end])[:120]


def block_dates(text: str) -> list[PolicyDate]:
    """Labelled dates in one block of text: 'Last updated: 2 April 2025', '2021年8月31日改訂'."""
    text = text[:MAX_DATE_TEXT]
    out = []
    before, kinds = _label_before()
    for match in before.finditer(text):
        if _not_after().search(text[max(0, match.start() - 20):match.start()]):
            continue  # "Next review date: March 2020" is a plan
        kind = kinds.get(normalize_space(match.group(1)).casefold())
        if kind and (date := parse_date(match.group(2))):
            out.append(PolicyDate(date, kind, "text", _snippet(text, match.start(), match.end())))
    after, after_kinds = _label_after()
    for match in after.finditer(text):
        kind = after_kinds.get(match.group(2).casefold())
        if kind and (date := parse_date(match.group(1))):
            out.append(PolicyDate(date, kind, "text", _snippet(text, match.start(), match.end())))
    return out


def _history_sections(blocks: list[Block]) -> list[list[Block]]:
    """The blocks under each revision-history heading (up to the next heading of the same or a higher level)."""
    sections: list[list[Block]] = []
    current: list[Block] | None = None
    level = 0
    for block in blocks:
        if block.type == "heading":
            if current is not None and (block.level or 1) <= level:
                sections.append(current)
                current = None
            if current is None and _history_heading().match(normalize_space(block.text).strip(" .:")):
                current, level = [], block.level or 1
            continue
        if current is not None:
            current.append(block)
    if current is not None:
        sections.append(current)
    return sections


def text_dates(blocks: list[Block]) -> list[PolicyDate]:
    """Dates a document's text gives for itself: labelled dates at its start and end, and the latest date of
    a revision-history section (wherever it is). A section's own 'last updated' further in is not read."""
    settings = rules()["dates"]
    head, tail = settings["head_blocks"], settings["tail_blocks"]
    ends = blocks[:head] + (blocks[max(head, len(blocks) - tail):] if len(blocks) > head else [])
    out: list[PolicyDate] = []
    for block in ends:
        out += block_dates(block.text)
    expression = re.compile(_date_expression(), re.I)
    budget = MAX_HISTORY_BLOCKS
    for section in _history_sections(blocks):
        section, budget = section[:budget], budget - len(section[:budget])
        found = []
        for block in section:
            out += [d for d in block_dates(block.text) if d not in out]
            for match in expression.finditer(block.text[:MAX_DATE_TEXT]):
                if (date := parse_date(match.group(0))):
                    found.append((date, _snippet(block.text, match.start(), match.end())))
        if found:
            date, evidence = max(found)
            out.append(PolicyDate(date, "updated", "text", f"revision history: {evidence}"))
    return _unique(out)


def _unique(dates: list[PolicyDate]) -> list[PolicyDate]:
    seen, out = set(), []
    for d in dates:
        if (d.date, d.kind, d.source) not in seen:
            seen.add((d.date, d.kind, d.source))
            out.append(d)
    return out


def policy_date(dates: list[PolicyDate]) -> PolicyDate | None:
    """The date a citation shows: the latest date of the most trusted source that states one
    (front matter, page metadata, text, PDF metadata, then HTTP Last-Modified)."""
    if not dates:
        return None
    order = {s: i for i, s in enumerate(rules()["dates"]["source_order"])}
    best = min(order.get(d.source, len(order)) for d in dates)
    candidates = [d for d in dates if order.get(d.source, len(order)) == best]
    kind_rank = {k: i for i, k in enumerate(("updated", "reviewed", "effective", "published"))}
    # the latest date; among equal dates the most telling kind
    return max(candidates, key=lambda d: (d.date, -kind_rank.get(d.kind, 9)))


def dates_to_json(dates: list[PolicyDate]) -> list[dict]:
    return [{"date": d.date, "kind": d.kind, "source": d.source, "evidence": d.evidence} for d in dates]


# --------------------------------------------------------------------------- language


@cache
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(blocks: list[Block], declared: str | None = None) -> str | None:
    """The language of a document's text (ISO 639-1 code such as 'en' or 'ja'), detected offline by py3langid
    from its first few thousand characters; the declared language (an HTML lang attribute) when the text is
    too short or the detection unsure; None when neither tells."""
    sample = ""
    for block in blocks:
        sample += block.text + "\n"
        if len(sample) > LANGUAGE_SAMPLE:
            break
    sample = sample[:LANGUAGE_SAMPLE]
    if sum(ch.isalpha() for ch in sample) >= MIN_LANGUAGE_LETTERS:
        language, probability = _identifier().classify(sample)
        if probability >= MIN_LANGUAGE_PROBABILITY:
            return language
    return language_code(declared)


def language_code(value: str | None) -> str | None:
    """'en-GB' -> 'en'; None for an empty or malformed tag."""
    if not value:
        return None
    code = value.strip().split("-")[0].split("_")[0].lower()
    return code if re.fullmatch(r"[a-z]{2,3}", code) else None
