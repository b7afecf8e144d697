"""Scoring links and URLs for policy discovery, with weights from link_signals.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

SIGNALS_FILE = Path(__file__).with_name("link_signals.yaml")
_FOLD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class LinkRules:
    follow_threshold: float
    policy_threshold: float
    rules: tuple[tuple[str, float, tuple[str, ...]], ...]
    promising_words: tuple[bytes, ...] = ()  # page words that make it worth judging (UTF-8, lower case)

    def score(self, text: str) -> tuple[float, list[str]]:
        folded = f" {fold(text)} "
        total, reasons = 0.0, []
        for name, weight, terms in self.rules:
            if any(term in folded for term in terms):
                total += weight
                reasons.append(name)
        return total, reasons


def fold(text: str) -> str:
    return _FOLD.sub(" ", text.lower()).strip()


@lru_cache(maxsize=4)
def load_rules(path: str | Path = SIGNALS_FILE) -> LinkRules:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    rules = []
    for rule in data.get("rules", []) + data.get("penalties", []):
        terms = tuple(fold(t) if t != ".pdf" else "pdf" for t in rule["terms"])
        rules.append((rule["name"], float(rule["weight"]), terms))
    words = tuple(w.lower().encode("utf-8") for w in data.get("promising_words", []))
    return LinkRules(float(data["follow_threshold"]), float(data["policy_threshold"]), tuple(rules), words)


def link_text(url: str, anchor: str = "", title: str = "") -> str:
    path = unquote(urlsplit(url).path)
    query = urlsplit(url).query
    return " ".join(part for part in (anchor, title, path, query) if part)


def score_link(url: str, anchor: str = "", title: str = "", rules: LinkRules | None = None) -> tuple[float, list[str]]:
    """Score a link by its anchor text, title attribute and URL."""
    return _score_cached(rules or load_rules(), link_text(url, anchor, title))


@lru_cache(maxsize=65536)
def _score_cached(rules: LinkRules, text: str) -> tuple[float, list[str]]:
    return rules.score(text)
