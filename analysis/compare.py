"""Peer comparison: which taxonomy categories each policy covers, how, and how strictly.

``compare_companies`` builds a ``Comparison`` (plain data, JSON-ready) that the
renderers in ``analysis.render`` turn into Markdown, HTML, XLSX, CSV or JSON.
A client's draft policy can be added as one more column
(``analysis.client.read_client_draft``), which also yields a gap list.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import asdict, dataclass, field

import sqlite_utils

from analysis.corpus import (
    RESTRICTIVE,
    Category,
    Clause,
    current_clauses,
    groups_in_order,
    load_categories,
    load_quality,
    strongest_modality,
)
from policycorpus.db import utcnow
from policycorpus.errors import CorpusStateError, InputError

WORD_RE = re.compile(r"\b\w[\w'’-]*\b")


@dataclass
class Cell:
    category: str
    covered: bool
    count: int = 0
    modality: str | None = None
    clause: dict | None = None  # the most representative clause: id, text, url, snapshot_date, modality


@dataclass
class Profile:
    name: str
    is_client: bool = False
    documents: list[dict] = field(default_factory=list)  # url, snapshot_date
    clauses: int = 0
    words: int = 0
    readability: float | None = None  # Flesch reading ease
    restrictiveness: float | None = None  # share of prohibitions and obligations
    restrictiveness_by_group: dict[str, float | None] = field(default_factory=dict)
    covered: int = 0


@dataclass
class Gap:
    category: str
    name: str
    group: str
    peer_share: float
    peers: list[str]
    examples: list[dict]  # company, text, url, snapshot_date


# A grid cell says whether a document covers a category; below this document-level F1 on hand-labelled
# policies, a category's cells are flagged for checking by hand.
TRUSTED_COVERAGE_F1 = 0.75
# The labelled set whose figures decide the flags when a quality card has several (gold is never trained on).
REFERENCE_DATASETS = ("gold", "realdev")


@dataclass
class Quality:
    """How far the grid can be trusted: the tagger model's measured agreement with hand-labelled policies."""

    model_version: str
    reference: str  # the dataset that decides the flags
    datasets: dict[str, dict]  # dataset -> {description, units, documents, categories: {id: figures}}
    doubtful: list[str] = field(default_factory=list)  # category ids with coverage F1 below TRUSTED_COVERAGE_F1


@dataclass
class Comparison:
    generated_at: str
    categories: list[dict]
    groups: list[str]
    companies: list[Profile]
    cells: dict[str, dict[str, Cell]]  # company name -> category id -> cell
    common: list[str]  # covered by every compared company
    partial: list[str]  # covered by several but not all
    unique: dict[str, str]  # category id -> the only company covering it
    absent: list[str]  # covered by none
    clauses: dict[str, dict[str, list[dict]]]  # category id -> company -> every clause (for side-by-side sheets)
    client: str | None = None
    gaps: list[Gap] = field(default_factory=list)
    uncategorised: dict[str, list[dict]] = field(default_factory=dict)  # company -> clauses in no category
    quality: Quality | None = None  # the tagger's measured quality, when its model has a quality card
    taggers: list[str] = field(default_factory=list)  # model versions of the tags (backend, model, prompt for llm)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.companies]

    def category(self, category_id: str) -> dict:
        return next(c for c in self.categories if c["id"] == category_id)

    def to_dict(self) -> dict:
        return asdict(self)


def clause_summary(clause: Clause, category: str | None = None) -> dict:
    out = {
        "id": clause.id,
        "company": clause.company,
        "text": clause.text,
        "url": clause.url,
        "snapshot_date": clause.snapshot_date,
        "modality": clause.modality,
        "heading_path": clause.heading_path,
    }
    if category is not None:
        out["score"] = clause.tags.get(category)
    return out


def representative(clauses: list[Clause], category: str) -> Clause:
    """The clause that best stands for a category: highest tag score, then the stronger modality, then the earlier one."""
    order = {m: i for i, m in enumerate(("prohibition", "obligation", "recommendation", "permission", "information"))}
    return min(clauses, key=lambda c: (-(c.tags.get(category) or 0.0), order.get(c.modality, 9), c.position, c.id))


def readability(texts: list[str]) -> float | None:
    """Flesch reading ease of a policy's clauses (higher = easier; 60-70 is plain English).

    Sentences are counted by textstat within each clause (a list item without
    a full stop is still one sentence); syllables come from pyphen's
    hyphenation dictionary, which textstat also uses, because textstat's
    preferred CMU dictionary would have to be downloaded at run time.
    """
    import textstat

    words = [w for t in texts for w in WORD_RE.findall(t.lower()) if any(ch.isalpha() for ch in w)]
    if not words:
        return None
    sentences = sum(max(1, textstat.sentence_count(t)) for t in texts if WORD_RE.search(t))
    syllables = sum(max(1, len(_hyphenator().positions(w)) + 1) for w in words)
    score = 206.835 - 1.015 * (len(words) / sentences) - 84.6 * (syllables / len(words))
    return round(score, 1)


@functools.lru_cache(maxsize=1)
def _hyphenator():
    import pyphen

    return pyphen.Pyphen(lang="en_US")


def restrictiveness(clauses: list[Clause]) -> float | None:
    judged = [c for c in clauses if c.modality]
    if not judged:
        return None
    return round(sum(c.modality in RESTRICTIVE for c in judged) / len(judged), 3)


def profile(name: str, clauses: list[Clause], categories: list[Category], *, is_client: bool = False) -> Profile:
    text = "\n".join(c.text for c in clauses)
    by_group: dict[str, float | None] = {}
    for group in groups_in_order(categories):
        ids = {c.id for c in categories if c.group == group}
        by_group[group] = restrictiveness([c for c in clauses if ids & c.tags.keys()])
    documents = {}
    for c in clauses:
        documents.setdefault(c.url, c.snapshot_date)
    return Profile(
        name=name,
        is_client=is_client,
        documents=[{"url": u, "snapshot_date": d} for u, d in documents.items()],
        clauses=len(clauses),
        words=len(WORD_RE.findall(text)),
        readability=readability([c.text for c in clauses]),
        restrictiveness=restrictiveness(clauses),
        restrictiveness_by_group=by_group,
    )


def build_cells(clauses: list[Clause], categories: list[Category]) -> dict[str, Cell]:
    cells = {}
    for cat in categories:
        members = [c for c in clauses if cat.id in c.tags]
        if not members:
            cells[cat.id] = Cell(cat.id, False)
            continue
        best = representative(members, cat.id)
        cells[cat.id] = Cell(
            cat.id,
            True,
            count=len(members),
            modality=strongest_modality(c.modality for c in members),
            clause=clause_summary(best, cat.id),
        )
    return cells


def compare_clauses(
    by_company: dict[str, list[Clause]],
    categories: list[Category],
    *,
    client: tuple[str, list[Clause]] | None = None,
    gap_share: float = 0.5,
    max_examples: int = 3,
) -> Comparison:
    """Compare already loaded clauses of several companies (and optionally a client draft)."""
    columns = dict(by_company)
    if client is not None:
        columns[client[0]] = client[1]
    profiles, cells, side_by_side, uncategorised = [], {}, {c.id: {} for c in categories}, {}
    for name, clauses in columns.items():
        is_client = client is not None and name == client[0]
        cells[name] = build_cells(clauses, categories)
        p = profile(name, clauses, categories, is_client=is_client)
        p.covered = sum(cell.covered for cell in cells[name].values())
        profiles.append(p)
        for cat in categories:
            side_by_side[cat.id][name] = [clause_summary(c, cat.id) for c in clauses if cat.id in c.tags]
        known = {cat.id for cat in categories}
        uncategorised[name] = [clause_summary(c) for c in clauses if not known & c.tags.keys()]

    peers = list(by_company)
    coverage = {cat.id: [n for n in peers if cells[n][cat.id].covered] for cat in categories}
    common = [cid for cid, who in coverage.items() if peers and len(who) == len(peers)]
    unique = {cid: who[0] for cid, who in coverage.items() if len(who) == 1 and len(peers) > 1}
    partial = [cid for cid, who in coverage.items() if 1 < len(who) < len(peers)]
    absent = [cid for cid, who in coverage.items() if not who]

    gaps = []
    if client is not None and peers:
        for cat in categories:
            who = coverage[cat.id]
            share = len(who) / len(peers)
            if cells[client[0]][cat.id].covered or share < gap_share or not who:
                continue
            examples = [cells[n][cat.id].clause for n in who][:max_examples]
            gaps.append(Gap(cat.id, cat.name, cat.group, round(share, 3), who, examples))
        gaps.sort(key=lambda g: -g.peer_share)

    return Comparison(
        generated_at=utcnow(),
        categories=[asdict(c) for c in categories],
        groups=groups_in_order(categories),
        companies=profiles,
        cells=cells,
        common=common,
        partial=partial,
        unique=unique,
        absent=absent,
        clauses=side_by_side,
        client=client[0] if client else None,
        gaps=gaps,
        uncategorised=uncategorised,
    )


def compare_companies(
    db: sqlite_utils.Database,
    companies: list[dict],
    *,
    client: tuple[str, list[Clause]] | None = None,
    gap_share: float = 0.5,
) -> Comparison:
    """Compare companies (rows of the companies table) on their current, tagged clauses."""
    if not companies:
        raise InputError("no companies to compare: name some or give --peer-group")
    categories = load_categories(db)
    ids = [c["id"] for c in companies]
    clauses = current_clauses(db, ids)
    by_company = {c["name"]: [] for c in companies}
    for clause in clauses:
        by_company[clause.company].append(clause)
    empty = [n for n, cl in by_company.items() if not cl]
    if len(empty) == len(by_company):
        raise CorpusStateError(
            f"no segmented clauses for {', '.join(empty)} (run 'policycorpus segment' and 'policycorpus tag' first)"
        )
    comparison = compare_clauses(by_company, categories, client=client, gap_share=gap_share)
    comparison.quality = measured_quality(db, clauses)
    comparison.taggers = sorted({c.model_version for c in clauses if c.model_version})
    return comparison


def measured_quality(db: sqlite_utils.Database, clauses) -> Quality | None:
    """The quality card of the model that tagged these clauses (None if several models did, or it has none)."""
    versions = {c.model_version for c in clauses if c.model_version}
    if len(versions) != 1:
        return None
    version = versions.pop()
    datasets = load_quality(db, version)
    if not datasets:
        return None
    reference = next((d for d in REFERENCE_DATASETS if d in datasets),
                     max(datasets, key=lambda d: datasets[d]["documents"] or 0))
    doubtful = [cid for cid, figures in datasets[reference]["categories"].items()
                if figures["coverage_support"] and (figures["coverage_f1"] or 0) < TRUSTED_COVERAGE_F1]
    return Quality(version, reference, datasets, doubtful)


def category_counts(comparison: Comparison) -> Counter:
    """How many compared companies (client excluded) cover each category."""
    counts = Counter()
    for p in comparison.companies:
        if p.is_client:
            continue
        for cid, cell in comparison.cells[p.name].items():
            counts[cid] += cell.covered
    return counts
