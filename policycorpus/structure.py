"""Structured text: the contract between extraction and segmentation.

An extractor returns a list of ``Block`` (heading, paragraph or list item, in
reading order). ``join_blocks`` turns them into the text stored in
``snapshots.text`` and the JSON stored in ``snapshots.structure``, where each
block carries its character span in that text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

BLOCK_TYPES = ("heading", "paragraph", "list_item")
SEPARATOR = "\n\n"


@dataclass
class Block:
    type: str  # heading | paragraph | list_item
    text: str
    level: int = 0  # heading level (1..6) or list nesting depth (1..)
    start: int = -1
    end: int = -1

    def __post_init__(self):
        if self.type not in BLOCK_TYPES:
            raise ValueError(f"unknown block type {self.type!r}")


def normalize_space(text: str) -> str:
    return " ".join(text.split())


def join_blocks(blocks: list[Block]) -> tuple[str, list[Block]]:
    """Join block texts with blank lines and set each block's span in the result."""
    parts: list[str] = []
    out: list[Block] = []
    offset = 0
    for block in blocks:
        text = normalize_space(block.text)
        if not text:
            continue
        if parts:
            offset += len(SEPARATOR)
        out.append(Block(block.type, text, block.level, offset, offset + len(text)))
        parts.append(text)
        offset += len(text)
    return SEPARATOR.join(parts), out


def structure_json(blocks: list[Block]) -> str:
    return json.dumps([asdict(b) for b in blocks], ensure_ascii=False)


def blocks_from_json(value: str | None) -> list[Block]:
    if not value:
        return []
    return [Block(**b) for b in json.loads(value)]


def sha256(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()
