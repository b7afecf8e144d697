"""What every extractor shares: the result type, the input limits, block clean-up and the language guess."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from policycorpus.structure import Block, join_blocks, normalize_space

MAX_BYTES = 10 * 1024 * 1024
HEURISTICS = Path(__file__).with_name("heuristics.yaml")
# Marks text that trafilatura must keep (a word joiner); removed again by clean_blocks.
KEEP = "\u2060"


@dataclass
class Extracted:
    """The outcome of an extraction: title, blocks in reading order, and provenance.

    ``warnings`` says why there are no (or fewer) blocks; ``bounded`` is set when a work
    bound or the time limit cut the extraction short (its reason is among the warnings).
    """

    title: str | None
    blocks: list[Block]
    extractor: str
    language: str | None = None
    warnings: list[str] = field(default_factory=list)
    bounded: str | None = None  # None, "bounded" (a work bound cut it short) or "timeout"

    @property
    def text(self) -> str:
        return join_blocks(self.blocks)[0]

    @property
    def ok(self) -> bool:
        return bool(self.blocks)

    @property
    def warning(self) -> str:
        return "; ".join(self.warnings)


def empty(extractor: str, warning: str, title: str | None = None, bounded: str | None = None) -> Extracted:
    return Extracted(title=title, blocks=[], extractor=extractor, warnings=[warning], bounded=bounded)


@cache
def heuristics() -> dict[str, Any]:
    """The word and pattern lists of heuristics.yaml."""
    with open(HEURISTICS, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


_PILCROW = re.compile(r"\s*[¶§#]\s*$")


def clean_blocks(blocks: list[Block]) -> list[Block]:
    """Normalise whitespace, drop permalink marks and empty or repeated chrome-like blocks."""
    out = []
    for block in blocks:
        text = normalize_space(block.text.replace(KEEP, ""))
        if block.type == "heading":
            text = _PILCROW.sub("", text)
        text = text.replace("\u00b6", "").strip() if block.type == "heading" else text
        if text:
            out.append(Block(block.type, text, block.level))
    return out


@cache
def _stopwords() -> dict[str, frozenset[str]]:
    return {lang: frozenset(words) for lang, words in heuristics()["stopwords"].items()}


def guess_language(blocks: list[Block]) -> str | None:
    """A cheap stop-word vote over the first few thousand characters; None if unsure."""
    sample = ""
    for block in blocks:  # only the first 5,000 characters are needed: do not join a huge document
        sample += block.text + " "
        if len(sample) > 5000:
            break
    sample = sample.rstrip(" ")[:5000].lower()
    if sample and sum(0x3040 <= ord(c) <= 0x9fff for c in sample) > len(sample) / 4:
        return "ja" if any(0x3040 <= ord(c) <= 0x30ff for c in sample) else "zh"
    words = re.findall(r"[^\W\d_]+", sample)
    if len(words) < 20:
        return None
    counts = Counter(words)
    scores = {lang: sum(counts[w] for w in stop) / len(words) for lang, stop in _stopwords().items()}
    lang, score = max(scores.items(), key=lambda kv: kv[1])
    return lang if score > 0.08 else None


class Pending:
    """A block being built line by line; its lines are joined once, so a huge paragraph costs linear time."""

    __slots__ = ("type", "level", "parts")

    def __init__(self, type: str, text: str, level: int = 0) -> None:  # noqa: A002 - the Block field's name
        self.type = type
        self.level = level
        self.parts = [text]

    @property
    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts = [" ".join(self.parts)]
        return self.parts[0]

    @text.setter
    def text(self, value: str) -> None:
        self.parts = [value]

    def add(self, text: str) -> None:
        """Append a line, after a space."""
        self.parts.append(text)

    @property
    def last(self) -> str:
        """The last line added (the text ends with it)."""
        return self.parts[-1]

    @last.setter
    def last(self, value: str) -> None:
        self.parts[-1] = value
