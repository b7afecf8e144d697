"""What every extractor shares: the result type, the input limits and block clean-up."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from policycorpus.extract.metadata import PolicyDate
from policycorpus.structure import Block, join_blocks, normalize_space

MAX_BYTES = 10 * 1024 * 1024
HEURISTICS = Path(__file__).with_name("heuristics.yaml")
# Marks text that trafilatura must keep (a word joiner); removed again by clean_blocks.
KEEP = "\u2060"


@dataclass
class Extracted:
    """The outcome of an extraction: title, blocks in reading order, and provenance.

    ``title`` follows the one rule of ``metadata.document_title``; ``dates`` are the dates the document
    gives for itself (front matter, page metadata, PDF metadata, its text), ``language`` the detected
    language of its text (ISO 639-1; an extractor sets only a declared one, such as a page's lang
    attribute, and ``dispatch.extract`` detects it from the blocks). ``warnings`` says why there are no (or fewer) blocks; ``bounded`` is set when a work
    bound or the time limit cut the extraction short (its reason is among the warnings).
    """

    title: str | None
    blocks: list[Block]
    extractor: str
    language: str | None = None
    warnings: list[str] = field(default_factory=list)
    bounded: str | None = None  # None, "bounded" (a work bound cut it short) or "timeout"
    dates: list[PolicyDate] = field(default_factory=list)

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
