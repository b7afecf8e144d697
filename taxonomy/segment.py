"""Segmentation: a snapshot's structured text becomes clauses.

One clause per paragraph or list item; long paragraphs are split at sentence
boundaries into clause-sized pieces; line fragments of text extracted from PDF
("...as part" / "of your work.") are joined back; a list item keeps the
sentence that introduces it ("You must not:") as its lead-in. Headings,
navigation left-overs and boilerplate become clauses of kind ``heading`` or
``boilerplate`` and are not tagged. Every clause keeps its heading path, its
position and its character span in the snapshot text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from policycorpus.structure import Block, normalize_space

SEGMENTER_VERSION = "seg-3"
RULES_PATH = Path(__file__).with_name("segment_rules.yaml")

TERMINAL = tuple('.!?:;"”’)')
CLAUSE, HEADING, BOILERPLATE, FRAGMENT = "clause", "heading", "boilerplate", "fragment"
LEAD_IN_ITEM_CHARS = 160  # an item this short that ends in ':' opens a nested list
PARAGRAPH_CHARS = 250  # a paragraph this long ends the list before it


@dataclass
class Clause:
    text: str
    kind: str = CLAUSE
    heading_path: list[str] = field(default_factory=list)
    lead_in: str = ""
    start: int = -1
    end: int = -1
    position: int = 0
    block_type: str = "paragraph"
    # Text the tagger reads: the clause, or the whole sentence a line fragment belongs to.
    context: str = ""

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)


@dataclass(frozen=True)
class Rules:
    max_chars: int
    min_piece_chars: int
    abbreviations: frozenset
    nav_max_words: int
    navigation: tuple
    boilerplate_max_words: int
    boilerplate: tuple
    pseudo_heading_max_words: int
    fragment_max_chars: int
    link_only: re.Pattern
    repeated_max_words: int
    sentence_openers: frozenset


@lru_cache(maxsize=1)
def load_rules(path: str | Path = RULES_PATH) -> Rules:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return Rules(
        max_chars=int(data["max_chars"]),
        min_piece_chars=int(data["min_piece_chars"]),
        abbreviations=frozenset(a.lower() for a in data["abbreviations"]),
        nav_max_words=int(data["nav_max_words"]),
        navigation=tuple(re.compile(p, re.I) for p in data["navigation"]),
        boilerplate_max_words=int(data["boilerplate_max_words"]),
        boilerplate=tuple(re.compile(p, re.I) for p in data["boilerplate"]),
        pseudo_heading_max_words=int(data["pseudo_heading_max_words"]),
        fragment_max_chars=int(data["fragment_max_chars"]),
        link_only=re.compile(data["link_only"], re.I),
        repeated_max_words=int(data["repeated_max_words"]),
        sentence_openers=frozenset(w.lower() for w in data["sentence_openers"]),
    )


# ---------------------------------------------------------------- small tests on text

def is_boilerplate(text: str, rules: Rules | None = None) -> bool:
    rules = rules or load_rules()
    words = len(text.split())
    if words <= rules.nav_max_words and any(p.search(text.strip()) for p in rules.navigation):
        return True
    return words <= rules.boilerplate_max_words and any(p.search(text) for p in rules.boilerplate)


_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_SENTENCE_PUNCTUATION = tuple('.!?:;')


def is_whole_sentence(text: str, lead_in: str = "", rules: Rules | None = None) -> bool:
    """Two or more words, one in lower case, and closing punctuation, a lead-in it completes or an imperative."""
    rules = rules or load_rules()
    words = _WORD.findall(text)
    if len(words) < 2 or not any(w[0].islower() and len(w) > 1 for w in words):
        return False
    if text.rstrip().rstrip('"”’)').endswith(_SENTENCE_PUNCTUATION) or lead_in:
        return True
    return words[0].lower().replace("’", "'") in rules.sentence_openers


def is_fragment(text: str, lead_in: str = "", rules: Rules | None = None) -> bool:
    """Too short to tag and not a whole sentence, or nothing but links and handles."""
    rules = rules or load_rules()
    stripped = text.strip()
    if rules.link_only.match(stripped):
        return True
    return len(stripped) < rules.fragment_max_chars and not is_whole_sentence(stripped, lead_in, rules)


def mark_fragments(clauses: list[Clause], rules: Rules | None = None) -> None:
    """Turn the fragments among the clauses of one document into kind FRAGMENT (kept, never tagged).

    A line fragment read with the rest of its sentence (``context``) is not
    one: it is already joined to its neighbours.
    """
    rules = rules or load_rules()
    repeats: dict[str, int] = {}
    for c in clauses:
        key = c.text.strip().lower()
        if len(key.split()) <= rules.repeated_max_words and not key.endswith(TERMINAL):
            repeats[key] = repeats.get(key, 0) + 1
    for c in clauses:
        if c.kind != CLAUSE or (c.context and c.context != c.text):
            continue
        repeated = not c.lead_in and repeats.get(c.text.strip().lower(), 0) > 1
        if repeated or is_fragment(c.text, c.lead_in, rules):
            c.kind = FRAGMENT


def ends_open(text: str) -> bool:
    """True if the text stops mid-sentence (no closing punctuation)."""
    return bool(text) and not text.rstrip().endswith(TERMINAL)


def starts_continuation(text: str) -> bool:
    """True if the text continues a sentence begun before (starts in lower case)."""
    first = text.lstrip()[:1]
    return bool(first) and (first.islower() or first in "(,;&")


def looks_like_heading(text: str, rules: Rules | None = None) -> bool:
    """A short line without closing punctuation that starts with a capital: a heading in plain text."""
    rules = rules or load_rules()
    stripped = text.strip()
    if not stripped or len(stripped.split()) > rules.pseudo_heading_max_words:
        return False
    if stripped.endswith(TERMINAL) or stripped.endswith(",") or rules.link_only.match(stripped):
        return False
    first = stripped[0]
    return first.isupper() or first.isdigit()


_SENTENCE_END = re.compile(r"[.!?][\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")


def sentence_spans(text: str, rules: Rules | None = None) -> list[tuple[int, int]]:
    """Sentence boundaries of a paragraph, as (start, end) offsets into it."""
    rules = rules or load_rules()
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        before = text[start : m.start() + 1].rsplit(None, 1)[-1].rstrip(".").lower()
        if before in rules.abbreviations or (len(before) == 1 and before.isalpha()):
            continue
        end = m.start() + len(m.group(0).rstrip())
        spans.append((start, end))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text.rstrip())))
    return [s for s in spans if s[1] > s[0]]


def split_long(text: str, rules: Rules | None = None) -> list[tuple[int, int]]:
    """Group the sentences of a long paragraph into pieces of at most about max_chars."""
    rules = rules or load_rules()
    if len(text) <= rules.max_chars:
        return [(0, len(text))]
    pieces: list[list[int]] = []
    for s, e in sentence_spans(text, rules):
        if pieces and (e - pieces[-1][0] <= rules.max_chars or s - pieces[-1][0] < rules.min_piece_chars):
            pieces[-1][1] = e
        else:
            pieces.append([s, e])
    if len(pieces) > 1 and pieces[-1][1] - pieces[-1][0] < rules.min_piece_chars:
        last = pieces.pop()
        pieces[-1][1] = last[1]
    return [(s, e) for s, e in pieces]


def lead_in_of(text: str) -> str:
    """The sentence of a paragraph that introduces a list: its last sentence, ending in ':'."""
    spans = sentence_spans(text)
    last = text[spans[-1][0] : spans[-1][1]] if spans else text
    return last.strip()


# ---------------------------------------------------------------- blocks -> clauses

def merge_fragments(blocks: list[Block]) -> list[list[Block]]:
    """Group consecutive blocks that are pieces of one sentence (PDF line breaks)."""
    groups: list[list[Block]] = []
    for block in blocks:
        prev = groups[-1][-1] if groups else None
        if (
            prev is not None
            and block.type == "paragraph"  # list items are separate by markup; only lines of text run on
            and prev.type != "heading"
            and ends_open(prev.text)
            and starts_continuation(block.text)
        ):
            groups[-1].append(block)
        else:
            groups.append([block])
    return groups


class _HeadingStack:
    def __init__(self):
        self.items: list[tuple[int, str]] = []

    def push(self, level: int, text: str) -> None:
        while self.items and self.items[-1][0] >= level:
            self.items.pop()
        self.items.append((level, text))

    def path(self) -> list[str]:
        return [t for _, t in self.items]

    def deepest_level(self) -> int:
        real = [lvl for lvl, _ in self.items if lvl < 7]
        return real[-1] if real else 0


def segment_blocks(blocks: list[Block], text: str | None = None) -> list[Clause]:
    """Split structured text into clauses, headings and boilerplate, in reading order.

    ``blocks`` carry spans into ``text`` (snapshots.text); when they do not
    (start < 0), spans are left at -1.
    """
    rules = load_rules()
    blocks = [b for b in blocks if b.text and b.text.strip()]
    groups = merge_fragments(blocks)
    # short unpunctuated paragraphs are headings only in text that lost its markup (PDF, plain text)
    detect_headings = not any(b.type == "heading" for b in blocks)
    headings = _HeadingStack()
    lead_ins: dict[int, str] = {}  # list depth -> lead-in sentence
    out: list[Clause] = []

    for gi, group in enumerate(groups):
        first, last = group[0], group[-1]
        start, end = first.start, last.end
        if text is not None and start >= 0:
            body = normalize_space(text[start:end])
        else:
            body = normalize_space(" ".join(b.text for b in group))
        has_next = gi + 1 < len(groups)

        if first.type == "heading":
            out.append(Clause(body, HEADING, headings.path(), "", start, end, block_type="heading"))
            headings.push(max(1, first.level or 1), body)
            lead_ins.clear()
            continue
        if is_boilerplate(body, rules):
            out.append(Clause(body, BOILERPLATE, headings.path(), "", start, end, block_type=first.type))
            continue
        if (
            detect_headings
            and first.type == "paragraph"
            and has_next
            and looks_like_heading(body, rules)
            and groups[gi + 1][0].type != "heading"
        ):
            out.append(Clause(body, HEADING, headings.path(), "", start, end, block_type="paragraph"))
            headings.push(7, body)  # below every real heading; replaced by the next pseudo-heading
            lead_ins.clear()
            continue

        if first.type == "list_item":
            depth = max(1, first.level or 1)
            lead_in = lead_ins.get(depth - 1, "")
            for d in [d for d in lead_ins if d >= depth]:
                del lead_ins[d]
            if body.rstrip().endswith(":"):
                lead_ins[depth] = f"{lead_in} {lead_in_of(body)}".strip()
            out.append(Clause(body, CLAUSE, headings.path(), lead_in, start, end, block_type="list_item"))
            continue

        # in text without markup, list items arrive as short paragraphs after the sentence that introduces them
        para_lead = lead_ins.get(0, "") if detect_headings and len(body) <= PARAGRAPH_CHARS else ""
        lead_ins.clear()
        if body.rstrip().endswith(":"):
            sentence = lead_in_of(body)
            lead_ins[0] = f"{para_lead} {sentence}".strip() if para_lead and len(body) <= LEAD_IN_ITEM_CHARS else sentence
        elif para_lead:
            lead_ins[0] = para_lead
        for ps, pe in split_long(body, rules) if len(group) == 1 else [(0, len(body))]:
            piece = body[ps:pe].strip()
            if not piece:
                continue
            if len(group) == 1 and start >= 0:
                offset = body.find(piece, ps)
                s, e = start + offset, start + offset + len(piece)
            else:
                s, e = start, end
            out.append(Clause(piece, CLAUSE, headings.path(), para_lead, s, e, block_type="paragraph"))

    for i, clause in enumerate(out):
        clause.position = i
        clause.context = clause.text
    mark_fragments(out, rules)
    return out


def blocks_from_text(text: str) -> list[Block]:
    """Blocks for a snapshot without structure: one paragraph per blank-line separated chunk."""
    blocks, pos = [], 0
    for chunk in re.split(r"\n\s*\n", text):
        start = text.find(chunk, pos)
        pos = start + len(chunk)
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            blocks.append(Block("paragraph", chunk.strip(), 0, start + lead, start + lead + len(chunk.strip())))
    return blocks


# ---------------------------------------------------------------- ready-made units (classify)

def clauses_from_units(units: list[dict]) -> list[Clause]:
    """One clause per given unit ({text, heading?, type?}), in order, without re-splitting.

    Used to classify labelled sets whose unit boundaries are fixed: headings
    and boilerplate are still recognised, a line fragment is read with the
    rest of its sentence, and units following one that ends in ':' get it as
    lead-in (nested lead-ins are chained: "must not:" + "breach copyright, by:").
    """
    rules = load_rules()
    texts = [normalize_space(u.get("text") or "") for u in units]
    # units that come with heading paths were cut from marked-up text, where headings are not units
    structured = any(u.get("heading") for u in units) or any(u.get("type") == "heading" for u in units)
    pseudo_heading = ""
    out: list[Clause] = []
    for i, (unit, body) in enumerate(zip(units, texts)):
        heading = unit.get("heading") or ""
        path = [h.strip() for h in heading.split(" > ") if h.strip()] if isinstance(heading, str) else list(heading)
        btype = unit.get("type") or "paragraph"
        nxt = texts[i + 1] if i + 1 < len(texts) else ""
        prv = texts[i - 1] if i else ""
        kind = CLAUSE
        if btype == "heading":
            kind = HEADING
        elif not body or is_boilerplate(body, rules):
            kind = BOILERPLATE
        elif (
            not structured
            and btype != "list_item"
            and nxt
            and looks_like_heading(body, rules)
            and not starts_continuation(nxt)
            and not (prv and ends_open(prv) and not looks_like_heading(prv, rules))
        ):
            kind = HEADING
        if not structured and pseudo_heading:
            path = [pseudo_heading]  # plain text: the last heading-like line heads what follows
        out.append(Clause(body, kind, path, "", -1, -1, i, btype))
        if kind == HEADING and not structured:
            pseudo_heading = body
    groups = _fragment_groups(out)
    _attach_lead_ins(groups)
    mark_fragments(out, rules)
    return out


def _fragment_groups(clauses: list[Clause]) -> list[list[Clause]]:
    """Group line fragments into sentences; give each fragment the whole group as context."""
    groups: list[list[Clause]] = []
    for c in clauses:
        prev = groups[-1][-1] if groups else None
        if (
            prev is not None
            and c.kind == CLAUSE
            and prev.kind == CLAUSE
            and ends_open(prev.text)
            and starts_continuation(c.text)
        ):
            groups[-1].append(c)
        else:
            groups.append([c])
    for group in groups:
        if len(group) == 1:
            group[0].context = group[0].text
            continue
        joined = " ".join(c.text for c in group)
        sentences = sentence_spans(joined)
        offset = 0
        for c in group:
            start, end = offset, offset + len(c.text)
            # the fragment is read as the sentence(s) it is part of
            mine = [(s, e) for s, e in sentences if s < end and e > start]
            c.context = joined[mine[0][0]:mine[-1][1]] if mine else c.text
            offset = end + 1
    return groups




def _attach_lead_ins(groups: list[list[Clause]]) -> None:
    lead_in, lead_path = "", None
    for group in groups:
        first = group[0]
        context = " ".join(c.text for c in group)
        if first.kind != CLAUSE or (lead_path is not None and first.heading_path != lead_path):
            lead_in, lead_path = "", None
        if first.kind != CLAUSE:
            continue
        own_lead = lead_in
        for c in group:
            c.lead_in = own_lead
        if context.endswith(":"):
            sentence = lead_in_of(context)
            if own_lead and len(context) <= LEAD_IN_ITEM_CHARS:
                lead_in = f"{own_lead} {sentence}"
            else:
                lead_in = sentence
            lead_path = first.heading_path
        elif len(context) > PARAGRAPH_CHARS and first.block_type != "list_item":
            lead_in, lead_path = "", None
