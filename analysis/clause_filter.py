"""Which clauses are worth clustering: taggable clauses that read as clauses, one copy of each policy.

The rules (analysis/clause_filter.yaml) drop fragments, table debris, URLs, citations,
metric lines and version stamps; documents of one organization that are the same policy
imported twice keep one copy; ``max_per_org`` caps how many clauses one organization
contributes so one large handbook cannot dominate the clusters.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from analysis.corpus import CorpusClause

RULES_FILE = Path(__file__).with_name("clause_filter.yaml")
URL = re.compile(r"(https?://|www\.)\S+", re.I)


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> dict:
    data = yaml.safe_load(Path(path or RULES_FILE).read_text(encoding="utf-8"))
    data["compiled"] = {name: re.compile(rx, re.I) for name, rx in (data.get("patterns") or {}).items()}
    return data


def rejection(text: str, rules: dict | None = None, min_words: int | None = None) -> str | None:
    """Why a clause is not worth clustering (a rule name), or None when it is."""
    rules = rules or load_rules()
    words = text.split()
    if len(words) < (min_words if min_words is not None else rules["min_words"]):
        return "short"
    chars = [ch for ch in text if not ch.isspace()]
    if not chars:
        return "short"
    url_chars = sum(len(m.group(0)) for m in URL.finditer(text))
    if url_chars / len(chars) > rules["max_url_share"]:
        return "url"
    if sum(ch.isdigit() for ch in chars) / len(chars) > rules["max_digit_share"]:
        return "digits"
    if sum(ch.isalpha() for ch in chars) / len(chars) < rules["min_letter_share"]:
        return "non_letters"
    for name, pattern in rules["compiled"].items():
        if pattern.search(text):
            return name
    return None


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def duplicate_documents(clauses: list[CorpusClause], overlap: float) -> dict[int, int]:
    """{document dropped: document kept} for documents of one organization that are the same policy."""
    texts: dict[int, set[str]] = defaultdict(set)
    company: dict[int, int] = {}
    for c in clauses:
        texts[c.document_id].add(_norm(c.text))
        company[c.document_id] = c.company_id
    by_company: dict[int, list[int]] = defaultdict(list)
    for doc, co in company.items():
        by_company[co].append(doc)
    dropped: dict[int, int] = {}
    for docs in by_company.values():
        docs.sort(key=lambda d: (-len(texts[d]), d))  # the fullest copy first
        for i, doc in enumerate(docs):
            if doc in dropped:
                continue
            for other in docs[i + 1:]:
                if other in dropped:
                    continue
                a, b = texts[doc], texts[other]
                if a and b and len(a & b) / len(a | b) >= overlap:
                    dropped[other] = doc
    return dropped


@dataclass
class Selection:
    clauses: list[CorpusClause]
    removed: Counter = field(default_factory=Counter)  # reason -> clauses removed
    duplicate_documents: dict[int, int] = field(default_factory=dict)  # dropped doc -> kept doc
    capped: dict[str, int] = field(default_factory=dict)  # organization -> clauses left out by max_per_org

    def report(self) -> dict:
        return {"kept": len(self.clauses), "removed": dict(self.removed),
                "duplicate_documents": {str(k): v for k, v in self.duplicate_documents.items()},
                "capped": self.capped}


def select_clauses(clauses: list[CorpusClause], *, min_words: int | None = None, max_per_org: int | None = None,
                   dedupe_documents: bool = True, filter_text: bool = True, random_state: int = 0,
                   rules_path: str | None = None) -> Selection:
    """The clauses worth clustering, and why the others were left out."""
    rules = load_rules(rules_path)
    removed: Counter = Counter()
    dropped = duplicate_documents(clauses, rules["duplicate_document_overlap"]) if dedupe_documents else {}
    kept = []
    for c in clauses:
        if c.document_id in dropped:
            removed["duplicate_document"] += 1
            continue
        reason = rejection(c.text, rules, min_words) if filter_text else (
            "short" if len(c.text.split()) < (min_words or 1) else None)
        if reason:
            removed[reason] += 1
            continue
        kept.append(c)
    capped: dict[str, int] = {}
    if max_per_org:
        by_org: dict[int, list[CorpusClause]] = defaultdict(list)
        for c in kept:
            by_org[c.company_id].append(c)
        rng = random.Random(random_state)
        keep_ids: set[int] = set()
        for members in by_org.values():
            if len(members) > max_per_org:
                capped[members[0].company] = len(members) - max_per_org
                members = rng.sample(members, max_per_org)
            keep_ids.update(id(c) for c in members)
        kept = [c for c in kept if id(c) in keep_ids]
        removed["max_per_org"] += sum(capped.values())
    return Selection(kept, removed, dropped, capped)
