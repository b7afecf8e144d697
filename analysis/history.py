"""Policies over time: clause-level changes between versions, and the version in force each year.

Two versions of one document are aligned clause by clause: first by exact text (the stable clause key, which
depends on the normalised text and its occurrence), then the rest by fuzzy similarity. Exactly matched clauses
in the same relative order are *unchanged*, the others *moved*; fuzzy pairs are *modified* (with a word-level
diff); what is left is *added* or *removed*.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlite_utils

from analysis.corpus import RESTRICTIVE
from policycorpus.keys import normalise_text

if TYPE_CHECKING:
    import pandas as pd

# what the version functions read from: corpus.db opened with sqlite-utils, or a plain connection (the site)
Queryable = sqlite_utils.Database | sqlite3.Connection

MODIFIED_MIN_SIMILARITY = 60.0  # rapidfuzz ratio (0..100) for two clauses to be one modified clause
_WORD = re.compile(r"\s+|[^\s\w]|\w+")


@dataclass(frozen=True)
class ClauseRef:
    text: str
    position: int
    key: str | None = None
    categories: frozenset[str] = frozenset()
    modality: str | None = None
    clause_id: int | None = None

    @property
    def match_key(self) -> str:
        return normalise_text(self.text)


@dataclass
class ClauseChange:
    kind: str  # unchanged, moved, modified, added, removed
    old: ClauseRef | None = None
    new: ClauseRef | None = None
    similarity: float | None = None
    diff: list[tuple[str, str]] = field(default_factory=list)  # (equal|insert|delete, text) for modified

    @property
    def categories_added(self) -> set[str]:
        return set((self.new.categories if self.new else frozenset()) - (self.old.categories if self.old else frozenset()))

    @property
    def categories_removed(self) -> set[str]:
        return set((self.old.categories if self.old else frozenset()) - (self.new.categories if self.new else frozenset()))


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Word-level diff as (op, text) runs; op is equal, insert or delete."""
    a, b = _WORD.findall(old), _WORD.findall(new)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("equal", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                out.append(("delete", "".join(a[i1:i2])))
            if j2 > j1:
                out.append(("insert", "".join(b[j1:j2])))
    return out


def align(old: list[ClauseRef], new: list[ClauseRef], min_similarity: float = MODIFIED_MIN_SIMILARITY
          ) -> list[ClauseChange]:
    """Every clause of both versions in one change, in the new version's order (removed ones after)."""
    from rapidfuzz import fuzz

    exact = _exact_pairs(old, new)
    stay = _in_order(exact)
    changes = [ClauseChange("unchanged" if (o, n) in stay else "moved", old[o], new[n], 100.0) for o, n in exact]
    left_old = [i for i in range(len(old)) if i not in {o for o, _ in exact}]
    left_new = [j for j in range(len(new)) if j not in {n for _, n in exact}]
    scored = sorted(((fuzz.ratio(old[i].match_key, new[j].match_key), i, j) for i in left_old for j in left_new),
                    reverse=True)
    used_old, used_new = set(), set()
    for score, i, j in scored:
        if score < min_similarity:
            break
        if i in used_old or j in used_new:
            continue
        used_old.add(i)
        used_new.add(j)
        changes.append(ClauseChange("modified", old[i], new[j], round(score, 1), word_diff(old[i].text, new[j].text)))
    changes += [ClauseChange("added", None, new[j]) for j in left_new if j not in used_new]
    changes += [ClauseChange("removed", old[i], None) for i in left_old if i not in used_old]
    return sorted(changes, key=lambda c: (c.new is None, c.new.position if c.new else c.old.position if c.old else 0))


def _exact_pairs(old: list[ClauseRef], new: list[ClauseRef]) -> list[tuple[int, int]]:
    """Pairs of equal texts, the n-th occurrence in one version with the n-th in the other."""
    by_text: dict[str, list[int]] = {}
    for i, c in enumerate(old):
        by_text.setdefault(c.match_key, []).append(i)
    pairs = []
    for j, c in enumerate(new):
        waiting = by_text.get(c.match_key)
        if waiting:
            pairs.append((waiting.pop(0), j))
    return pairs


def _in_order(pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The longest run of pairs whose old positions increase with the new ones (the rest moved)."""
    pairs = sorted(pairs, key=lambda p: p[1])
    best: list[list[tuple[int, int]]] = []
    for p in pairs:
        chain = max((c for c in best if c[-1][0] < p[0]), key=len, default=[])
        best.append(chain + [p])
    longest: list[tuple[int, int]] = max(best, key=len, default=[])
    return set(longest)


@dataclass
class ChangeSummary:
    counts: dict[str, int]
    categories_added: list[str]
    categories_removed: list[str]
    restrictiveness_old: float | None
    restrictiveness_new: float | None

    @property
    def restrictiveness_change(self) -> float | None:
        if self.restrictiveness_old is None or self.restrictiveness_new is None:
            return None
        return round(self.restrictiveness_new - self.restrictiveness_old, 3)


def summarise(old: list[ClauseRef], new: list[ClauseRef], changes: list[ClauseChange]) -> ChangeSummary:
    counts = {k: 0 for k in ("unchanged", "moved", "modified", "added", "removed")}
    for c in changes:
        counts[c.kind] += 1
    before = set().union(*(c.categories for c in old)) if old else set()
    after = set().union(*(c.categories for c in new)) if new else set()
    return ChangeSummary(counts, sorted(after - before), sorted(before - after), _restrictiveness(old),
                         _restrictiveness(new))


def _restrictiveness(clauses: list[ClauseRef]) -> float | None:
    judged = [c for c in clauses if c.modality]
    return round(sum(c.modality in RESTRICTIVE for c in judged) / len(judged), 3) if judged else None


# --------------------------------------------------------------------------- from the corpus

def snapshot_clauses(db: Queryable, snapshot_id: int) -> list[ClauseRef]:
    """The clauses of one version (its latest segmentation), with the categories they carry now."""
    rows = db.execute("select clause_id, clause_key, position, text, modality from snapshot_segments "
                      "where snapshot_id = ? and kind = 'clause' order by position", [snapshot_id]).fetchall()
    tags: dict[int, set[str]] = {}
    if rows:
        ids = [r[0] for r in rows]
        for cid, cat in db.execute("select clause_id, category from effective_tags where clause_id in (%s)"
                                   % ",".join("?" * len(ids)), ids):
            tags.setdefault(cid, set()).add(cat)
    return [ClauseRef(text, pos, key, frozenset(tags.get(cid, ())), modality, cid)
            for cid, key, pos, text, modality in rows]


def diff_snapshots(db: Queryable, old_id: int, new_id: int) -> tuple[list[ClauseChange], ChangeSummary]:
    old, new = snapshot_clauses(db, old_id), snapshot_clauses(db, new_id)
    changes = align(old, new)
    return changes, summarise(old, new, changes)


def timeline(db: Queryable, document_id: int) -> list[dict]:
    """The document's versions in time order: since, source, snapshot (id, title, capture_url, fetched_at)."""
    rows = db.execute(
        "select v.since, v.source, s.id, s.title, s.capture_url, s.fetched_at, s.source "
        "from document_versions v join snapshots s on s.id = v.snapshot_id where v.document_id = ? "
        "order by v.since, v.id", [document_id]).fetchall()
    return [{"since": r[0], "source": r[1], "snapshot_id": r[2], "title": r[3], "capture_url": r[4],
             "fetched_at": r[5], "snapshot_source": r[6]} for r in rows]


def version_changes(db: Queryable, document_id: int) -> list[dict]:
    """One summary per change of version: from which snapshot to which, when, and what changed."""
    out, previous = [], None
    for v in timeline(db, document_id):
        if previous is not None and previous != v["snapshot_id"]:
            _, summary = diff_snapshots(db, previous, v["snapshot_id"])
            out.append({"since": v["since"], "source": v["source"], "old_snapshot_id": previous,
                        "new_snapshot_id": v["snapshot_id"], **summary.counts,
                        "categories_added": summary.categories_added,
                        "categories_removed": summary.categories_removed,
                        "restrictiveness_change": summary.restrictiveness_change})
        previous = v["snapshot_id"]
    return out


def in_force_by_year(db: sqlite_utils.Database, since: int | None = None, until: int | None = None) -> pd.DataFrame:
    """pandas DataFrame: per organization, document and year, the version in force at the end of that year and
    its categories (columns company_id, company, document_id, document_key, year, snapshot_id, since, source,
    categories)."""
    import pandas as pd

    rows = db.execute(
        "select d.company_id, coalesce(c.display_name, c.name), d.id, d.key, v.since, v.snapshot_id, v.source "
        "from document_versions v join documents d on d.id = v.document_id join companies c on c.id = d.company_id "
        "order by d.id, v.since, v.id").fetchall()
    columns = ["company_id", "company", "document_id", "document_key", "year", "snapshot_id", "since", "source",
               "categories"]
    if not rows:
        return pd.DataFrame(columns=columns)
    first = since or min(int(r[4][:4]) for r in rows)
    last = until or max(int(r[4][:4]) for r in rows)
    categories: dict[int, list[str]] = {}
    out = []
    by_doc: dict[int, list] = {}
    for r in rows:
        by_doc.setdefault(r[2], []).append(r)
    for versions in by_doc.values():
        for year in range(first, last + 1):
            end = f"{year}-12-31T23:59:59+00:00"
            in_force = [v for v in versions if v[4] <= end]
            if not in_force:
                continue
            v = in_force[-1]
            if v[5] not in categories:
                categories[v[5]] = sorted({c for ref in snapshot_clauses(db, v[5]) for c in ref.categories})
            out.append([v[0], v[1], v[2], v[3], year, v[5], v[4], v[6], categories[v[5]]])
    return pd.DataFrame(out, columns=columns)


def coverage_by_year(db: sqlite_utils.Database, since: int | None = None, until: int | None = None) -> pd.DataFrame:
    """pandas DataFrame (year, category, organizations): how many organizations' versions in force that year
    cover each category; each organization counts once per year, however many documents it has."""
    import pandas as pd

    frame = in_force_by_year(db, since, until)
    if frame.empty:
        return pd.DataFrame(columns=["year", "category", "organizations"])
    exploded = frame.explode("categories").dropna(subset=["categories"])
    counted = (exploded.drop_duplicates(["year", "company_id", "categories"])
               .groupby(["year", "categories"]).size().reset_index(name="organizations"))
    return counted.rename(columns={"categories": "category"})
