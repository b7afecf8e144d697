"""Stable keys for documents and clauses, independent of row ids and build order.

A document's key comes from its organization and URL; a clause's key from its
document's key, its normalised text and which occurrence of that text it is
in the snapshot. Two fresh imports of the same files, in any order, and any
re-segmentation that keeps a clause's text give the same keys, so reviews,
diffs and citations can hold on to them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """The text a key depends on: Unicode-normalised, case-folded, whitespace collapsed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text or "")).strip().casefold()


def _digest(*parts: str, length: int) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:length]


def document_key(organization: str, url: str) -> str:
    """12 hex digits naming one policy document of one organization."""
    return _digest(normalise_text(organization), (url or "").strip(), length=12)


def clause_keys(doc_key: str, texts: Iterable[str]) -> list[str]:
    """One 16-hex-digit key per clause text, in order; repeated texts are told apart by occurrence."""
    seen: Counter[str] = Counter()
    keys = []
    for text in texts:
        norm = normalise_text(text)
        keys.append(_digest(doc_key, norm, str(seen[norm]), length=16))
        seen[norm] += 1
    return keys
