"""Peer comparison: which taxonomy categories each policy covers, how, and how strictly.

``compare_companies`` builds a ``Comparison`` (plain data, JSON-ready) that the
renderers in ``analysis.render`` turn into Markdown, HTML, XLSX, CSV or JSON.
A client's draft policy can be added as one more column
(``analysis.client.read_client_draft``), which also yields a gap list.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import sqlite_utils

from analysis.corpus import (
    RESTRICTIVE,
    CorpusCategory,
    CorpusClause,
    current_clauses,
    groups_in_order,
    load_categories,
    load_quality,
    strongest_modality,
)
from policycorpus.db import utcnow
from policycorpus.errors import CorpusStateError, InputError, NotFoundError
from taxonomy.taxonomy import MODALITIES

T = TypeVar("T")
CLIENT_DOCUMENT_ID = 0  # document_id of a client draft's clauses (analysis.client): never a corpus row
WORD_RE = re.compile(r"\b\w[\w'’-]*\b")


# The fixed rule of cell_state until taxonomy.coverage's calibrated per-category thresholds replace it.
COVERED_AT = 0.6
UNCERTAIN_AT = 0.3
STATES = ("covered", "uncertain", "absent")
STATE_LABELS = {"covered": "covered", "uncertain": "check", "absent": "not found"}
RESTRICTIVENESS_NOTE = ("Restrictiveness is the share of a policy's clauses that are rules (prohibitions and "
                        "obligations: must not, must) rather than advice, permissions or information.")


def cell_state(scored: list[tuple[float, T]], category: str | None = None) -> tuple[str, float, T | None]:
    """(state, score, evidence) of one grid cell from its clauses' scores for the category.

    ``scored`` holds (score, clause) pairs, strongest first or in any order;
    the evidence is the highest-scoring clause (the first of equal scores),
    never a weak one where a strong one exists. The state is 'covered' when
    that score is at least COVERED_AT (0.6), 'uncertain' ("check") when at
    least UNCERTAIN_AT (0.3), else 'absent' (no evidence). This fixed rule
    decides only the columns that have no calibrated cells: a corpus column's
    cells come from the `current_cells` view (taxonomy.coverage's calibrated
    per-category thresholds, stored by `policycorpus tag`), a draft's from
    ``draft_cells``; see ``build_cells``.
    """
    best_score, best = 0.0, None
    for score, clause in scored:
        if score is not None and (best is None or score > best_score):
            best_score, best = float(score), clause
    if best is None or best_score < UNCERTAIN_AT:
        return "absent", round(best_score, 3), None
    return ("covered" if best_score >= COVERED_AT else "uncertain"), round(best_score, 3), best


@dataclass
class Cell:
    category: str
    state: str = "absent"  # covered | uncertain | absent (see cell_state)
    score: float = 0.0  # the evidence clause's score (0..1)
    count: int = 0  # clauses tagged with the category, whatever their score
    modality: str | None = None  # strongest modality of the clauses scoring at least UNCERTAIN_AT
    evidence: dict | None = None  # the highest-scoring clause, with its document (None when absent)

    @property
    def covered(self) -> bool:
        """Whether any clause carries the category, however weakly: the Datasette compare page's notion until it
        shows the three states. Reports decide by ``state``."""
        return self.count > 0

    @property
    def clause(self) -> dict | None:
        return self.evidence

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass
class Profile:
    name: str  # the column's label (the company's display name, or "Company: document" when several)
    is_client: bool = False
    company: str | None = None  # the company's name in the corpus
    documents: list[dict] = field(default_factory=list)  # key, title, url (http(s) or None), source, collected
    choice: str = ""  # why this document stands for the company
    other_documents: list[dict] = field(default_factory=list)  # the company's documents not compared
    clauses: int = 0
    words: int = 0
    readability: float | None = None  # Flesch reading ease
    restrictiveness: float | None = None  # share of prohibitions and obligations
    restrictiveness_by_group: dict[str, float | None] = field(default_factory=dict)
    covered: int = 0
    uncertain: int = 0


@dataclass
class Gap:
    category: str
    name: str
    group: str
    peer_share: float
    peers: list[str]
    examples: list[dict]  # the covering peers' evidence clauses, strongest first (with document and score)
    client_state: str = "absent"  # the draft's own cell: absent, or uncertain (check whether it is really a gap)
    client_score: float = 0.0
    client_evidence: dict | None = None


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
    # columns left out because the tagger cannot read their documents: name -> why ("language ja"); they are
    # in no count of the grid (not "covered by none", not a gap)
    not_tagged: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.companies]

    def category(self, category_id: str) -> dict:
        return next(c for c in self.categories if c["id"] == category_id)

    def to_dict(self) -> dict:
        return asdict(self)


def public_url(url: str | None) -> str | None:
    """The URL when a reader can open it (http or https); None for file:// paths and anything else."""
    try:
        return url if url and urlsplit(url).scheme.lower() in ("http", "https") else None
    except ValueError:
        return None


def document_info(doc: dict) -> dict:
    """How a report names a document: title, key, public URL, and a source line that never shows a local path."""
    url = public_url(doc.get("url"))
    if url:
        source = url
    elif doc.get("source_label"):
        source = doc["source_label"]
    else:
        name = doc.get("file_name") or PurePosixPath(unquote(urlsplit(doc.get("url") or "").path)).name
        source = f"imported file {name}" if name else "imported file"
    return {"id": doc.get("id"), "key": doc.get("key"), "title": doc.get("title") or source, "url": url,
            "source": source, "collected": (doc.get("collected") or "")[:10],
            "policy_date": policy_date_label(doc), "policy_date_short": policy_date_label(doc, short=True)}


def policy_date_label(doc: dict, short: bool = False) -> str:
    """'updated 2025-04-02 (front matter: last_updated)' -- the policy's own date with its kind and (unless
    short) where it was read -- or '' when the document states none."""
    if not doc.get("policy_date"):
        return ""
    label = f"{doc.get('policy_date_kind') or 'dated'} {doc['policy_date']}"
    return label + (f" ({doc['policy_date_source']})" if doc.get("policy_date_source") and not short else "")


def clause_summary(clause: CorpusClause, category: str | None = None, documents: dict[int, dict] | None = None) -> dict:
    """A clause as reports quote it: text, modality, score and the document it comes from (title, URL or source)."""
    doc = (documents or {}).get(clause.document_id) or document_info({"url": clause.url, "collected": clause.fetched_at})
    out = {
        "id": clause.id,
        "key": clause.key,
        "company": clause.company,
        "text": clause.text,
        "modality": clause.modality,
        "heading_path": clause.heading_path,
        "document": doc["title"],
        "document_key": doc["key"],
        "url": doc["url"],
        "source": doc["source"],
        "collected": doc["collected"] or clause.snapshot_date,
        "policy_date": doc.get("policy_date_short", ""),
    }
    if category is not None:
        out["score"] = round(float(clause.tags.get(category) or clause.scores.get(category) or 0.0), 3)
    return out


def _strength_order(clause: CorpusClause, category: str):
    order = {m: i for i, m in enumerate(MODALITIES)}
    return (-(clause.tags.get(category) or 0.0), order.get(clause.modality or "", 9), clause.position, clause.id)


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


def restrictiveness(clauses: list[CorpusClause]) -> float | None:
    judged = [c for c in clauses if c.modality]
    if not judged:
        return None
    return round(sum(c.modality in RESTRICTIVE for c in judged) / len(judged), 3)


def profile(name: str, clauses: list[CorpusClause], categories: list[CorpusCategory], *, is_client: bool = False,
            documents: dict[int, dict] | None = None) -> Profile:
    text = "\n".join(c.text for c in clauses)
    by_group: dict[str, float | None] = {}
    for group in groups_in_order(categories):
        ids = {c.id for c in categories if c.group == group}
        by_group[group] = restrictiveness([c for c in clauses if ids & c.tags.keys()])
    docs: dict = {}
    for c in clauses:
        if c.document_id not in docs:
            docs[c.document_id] = (documents or {}).get(c.document_id) or document_info(
                {"url": c.url, "collected": c.fetched_at})
    return Profile(
        name=name,
        is_client=is_client,
        company=clauses[0].company if clauses and not is_client else None,
        documents=list(docs.values()),
        clauses=len(clauses),
        words=len(WORD_RE.findall(text)),
        readability=readability([c.text for c in clauses]),
        restrictiveness=restrictiveness(clauses),
        restrictiveness_by_group=by_group,
    )


CalibratedCells = dict[str, tuple[str, float, "int | None"]]  # category -> (state, score, evidence clause id)


def build_cells(clauses: list[CorpusClause], categories: list[CorpusCategory], documents: dict[int, dict] | None = None,
                calibrated: CalibratedCells | None = None) -> dict[str, Cell]:
    """The grid cells of one column. With ``calibrated`` (from current_cells or draft_cells) the state, score
    and evidence are the calibrated ones; otherwise ``cell_state``'s fixed rule decides."""
    cells = {}
    by_id = {c.id: c for c in clauses}
    for cat in categories:
        members = sorted((c for c in clauses if cat.id in c.tags), key=lambda c: _strength_order(c, cat.id))
        if calibrated is not None and cat.id in calibrated:
            state, score, evidence_id = calibrated[cat.id]
            best = by_id.get(evidence_id) if state != "absent" and evidence_id is not None else None
        else:
            state, score, best = cell_state([(c.tags[cat.id] or 0.0, c) for c in members], cat.id)
        cells[cat.id] = Cell(
            cat.id,
            state,
            score,
            count=len(members),
            modality=strongest_modality(c.modality for c in members if (c.tags[cat.id] or 0.0) >= UNCERTAIN_AT),
            evidence=clause_summary(best, cat.id, documents) if best is not None else None,
        )
    return cells


def compare_clauses(
    by_company: dict[str, list[CorpusClause]],
    categories: list[CorpusCategory],
    *,
    client: tuple[str, list[CorpusClause]] | None = None,
    gap_share: float = 0.5,
    max_examples: int = 3,
    documents: dict[int, dict] | None = None,
    calibrated: dict[str, CalibratedCells] | None = None,
) -> Comparison:
    """Compare already loaded clauses of several columns (companies or documents; optionally a client draft).

    ``documents`` maps document ids to ``document_info`` dicts, so that every
    quoted clause names its document.
    """
    columns = dict(by_company)
    if client is not None:
        columns[client[0]] = client[1]
        documents = {**(documents or {}), CLIENT_DOCUMENT_ID: {
            "id": None, "key": None, "title": client[0], "url": None, "source": "client draft (not in the corpus)",
            "collected": "", "policy_date": "", "policy_date_short": ""}}
    profiles, cells, uncategorised = [], {}, {}
    side_by_side: dict[str, dict[str, list[dict]]] = {c.id: {} for c in categories}
    known = {cat.id for cat in categories}
    for name, clauses in columns.items():
        is_client = client is not None and name == client[0]
        cells[name] = build_cells(clauses, categories, documents, (calibrated or {}).get(name))
        p = profile(name, clauses, categories, is_client=is_client, documents=documents)
        p.covered = sum(cell.state == "covered" for cell in cells[name].values())
        p.uncertain = sum(cell.state == "uncertain" for cell in cells[name].values())
        profiles.append(p)
        for cat in categories:
            members = sorted((c for c in clauses if cat.id in c.tags), key=lambda c: _strength_order(c, cat.id))
            side_by_side[cat.id][name] = [clause_summary(c, cat.id, documents) for c in members]
        uncategorised[name] = [clause_summary(c, None, documents) for c in clauses if not known & c.tags.keys()]

    peers = list(by_company)
    coverage = {cat.id: [n for n in peers if cells[n][cat.id].state == "covered"] for cat in categories}
    common = [cid for cid, who in coverage.items() if peers and len(who) == len(peers)]
    unique = {cid: who[0] for cid, who in coverage.items() if len(who) == 1 and len(peers) > 1}
    partial = [cid for cid, who in coverage.items() if 1 < len(who) < len(peers)]
    absent = [cid for cid, who in coverage.items() if not who]

    gaps = []
    if client is not None and peers:
        for cat in categories:
            who = coverage[cat.id]
            share = len(who) / len(peers)
            own = cells[client[0]][cat.id]
            if own.state == "covered" or share < gap_share or not who:
                continue
            evidence = [e for n in who if (e := cells[n][cat.id].evidence) is not None]
            examples = sorted(evidence, key=lambda e: -e["score"])[:max_examples]
            gaps.append(Gap(cat.id, cat.name, cat.group, round(share, 3), who, examples,
                            own.state, own.score, own.evidence))
        gaps.sort(key=lambda g: (-g.peer_share, g.client_state == "uncertain"))

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


@dataclass
class Column:
    """What one column of a comparison stands for: one or more documents of a company."""

    label: str
    company: dict  # the companies row
    document_ids: list[int]
    choice: str = ""
    other_documents: list[dict] = field(default_factory=list)


def company_documents(db: sqlite_utils.Database, company_ids: list[int]) -> list[dict]:
    """The documents of these companies with their current clause count, policy score and how to name them."""
    if not company_ids:
        return []
    marks = ", ".join("?" * len(company_ids))
    counts = dict(db.execute(f"select document_id, count(*) from current_clauses where company_id in ({marks}) "
                             "group by document_id", company_ids).fetchall())
    docs = []
    for r in db.query(f"""select d.id, d.key, d.company_id, d.title, d.url, d.file_name, d.policy_score,
                                 s.fetched_at as collected, s.policy_date, s.policy_date_kind, s.policy_date_source,
                                 ds.counted, ds.status
                          from documents d left join snapshots s on s.id = d.latest_snapshot_id
                          join document_status ds on ds.document_id = d.id
                          where d.company_id in ({marks}) order by d.company_id, d.id""", company_ids):
        info = document_info(r)
        docs.append({**r, "clauses": counts.get(r["id"], 0), "title": info["title"], "source": info["source"],
                     "source_label": info["source"], "public_url": info["url"]})
    return docs


def not_tagged_companies(db: sqlite_utils.Database, company_ids: list[int]) -> dict[int, str]:
    """Companies none of whose documents count because the tagger cannot read their language:
    company id -> 'language ja' (from the document_status view)."""
    if not company_ids:
        return {}
    marks = ", ".join("?" * len(company_ids))
    found = db.execute(
        f"""select company_id, group_concat(distinct language) from document_status
            where company_id in ({marks}) and duplicate_of is null group by company_id
            having sum(counted) = 0 and sum(status like 'not tagged%') > 0""", list(company_ids)).fetchall()
    return {company_id: "language " + ", ".join(sorted((languages or "").split(","))) for company_id, languages in found}


def main_document(docs: list[dict]) -> dict:
    """A company's main employee policy among its documents: the highest policy score, then the most clauses."""
    return max(docs, key=lambda d: (d["clauses"] > 0, round(d.get("policy_score") or 0.0, 2), d["clauses"], -d["id"]))


def columns_for(db: sqlite_utils.Database, companies: list[dict], documents: list[dict] | None = None, *,
                all_documents: bool = False) -> list[Column]:
    """Columns for companies (each by its main document, or all merged) and for single documents."""
    from policycorpus.names import display_name

    docs = company_documents(db, sorted({c["id"] for c in companies} | {d["company_id"] for d in documents or []}))
    by_company: dict[int, list[dict]] = {}
    for d in docs:
        by_company.setdefault(d["company_id"], []).append(d)
    columns = []
    for company in companies:
        counted = [d for d in by_company.get(company["id"], []) if d["counted"]]
        mine = [d for d in counted if d["clauses"]] or counted or by_company.get(company["id"], [])
        label = display_name(company)
        if all_documents or len(mine) <= 1:
            note = "all documents" if len(mine) > 1 else ""
            columns.append(Column(label, company, [d["id"] for d in mine], note))
            continue
        main = main_document(mine)
        others = [_doc_ref(d) for d in mine if d["id"] != main["id"]]
        note = (f"main employee policy of {len(mine)} documents: {main['title']} "
                f"(policy score {main.get('policy_score') or 0:.2f}, {main['clauses']} clauses)")
        columns.append(Column(label, company, [main["id"]], note, others))
    for doc in documents or []:
        company = db.table("companies").get(doc["company_id"])
        full = next(d for d in docs if d["id"] == doc["id"])
        columns.append(Column(f"{display_name(company)}: {full['title']}", company, [doc["id"]], "document named on the command line"))
    seen: dict[str, int] = {}
    for col in columns:  # labels are column keys: make repeats distinct
        seen[col.label] = seen.get(col.label, 0) + 1
        if seen[col.label] > 1:
            col.label = f"{col.label} ({seen[col.label]})"
    return columns


def _doc_ref(d: dict) -> dict:
    return {"key": d["key"], "title": d["title"], "url": d["public_url"], "source": d["source"], "clauses": d["clauses"],
            "policy_score": d.get("policy_score")}


def find_document(db: sqlite_utils.Database, query: str) -> dict:
    """A document by its key (documents.key) or as 'Company:title' (names and titles as people type them)."""
    from policycorpus.names import find_company, resolve

    query = (query or "").strip()
    if len(query) > 400:
        raise InputError("document name too long")
    row = next(db["documents"].rows_where("key = ?", [query], limit=1), None)
    if row is not None:
        return row
    if ":" not in query:
        raise NotFoundError(f"no document with key {query!r} (give a documents.key or 'Company:title')")
    company_part, title_part = (p.strip() for p in query.split(":", 1))
    company = find_company(db, company_part)
    rows = [dict(r, name=r["title"] or r["url"], slug=r["key"],
                 aliases=json.dumps([_url_name(r["url"]), PurePosixPath(r.get("file_name") or "").stem]))
            for r in db["documents"].rows_where("company_id = ?", [company["id"]], order_by="id")]
    if not rows:
        raise NotFoundError(f"{company['name']} has no documents")
    if not title_part and len(rows) == 1:
        return rows[0]
    try:
        return resolve(rows, title_part or "?", what="document")
    except (NotFoundError, InputError):
        listing = "; ".join(f"{r['name']!r} (key {r['key']})" for r in rows[:10])
        raise NotFoundError(f"{company['name']} has no document matching {title_part!r}; its documents: {listing}") from None


def _url_name(url: str | None) -> str:
    """The last path segment of a URL without its extension: 'gitlab-developer-advocacy-social-media'."""
    try:
        return PurePosixPath(unquote(urlsplit(url or "").path)).stem
    except ValueError:
        return ""


def compare_columns(
    db: sqlite_utils.Database,
    columns: list[Column],
    *,
    client: tuple[str, list[CorpusClause]] | None = None,
    gap_share: float = 0.5,
) -> Comparison:
    """Compare columns (companies or single documents) on their current, tagged clauses."""
    if not columns:
        raise InputError("nothing to compare: name companies or documents, or give --peer-group")
    not_tagged = not_tagged_companies(db, sorted({c.company["id"] for c in columns}))
    skipped = {c.label: not_tagged[c.company["id"]] for c in columns if c.company["id"] in not_tagged}
    columns = [c for c in columns if c.label not in skipped]
    if not columns:
        raise CorpusStateError("nothing to compare: " + "; ".join(f"{n} is not tagged ({why}: the tagger reads "
                                                                 "English)" for n, why in skipped.items()))
    categories = load_categories(db)
    clauses = current_clauses(db, sorted({c.company["id"] for c in columns}))
    documents = {d["id"]: document_info(d) for d in company_documents(db, sorted({c.company["id"] for c in columns}))}
    by_column: dict[str, list[CorpusClause]] = {c.label: [] for c in columns}
    for col in columns:
        wanted = set(col.document_ids)
        by_column[col.label] = [cl for cl in clauses if cl.company_id == col.company["id"] and cl.document_id in wanted]
    empty = [n for n, cl in by_column.items() if not cl]
    if len(empty) == len(by_column):
        raise CorpusStateError(
            f"no segmented clauses for {', '.join(empty)} (run 'policycorpus segment' and 'policycorpus tag' first)"
        )
    if client is not None and client[0] in by_column:
        raise InputError(f"the draft's column name {client[0]!r} is also a compared column; give --client-name")
    calibrated = {col.label: column_cells(db, col.document_ids) for col in columns}
    calibrated = {label: cells for label, cells in calibrated.items() if cells}
    if client is not None:
        draft = draft_cells(client[1], [c.id for c in categories])
        if draft:
            calibrated[client[0]] = draft
    comparison = compare_clauses(by_column, categories, client=client, gap_share=gap_share, documents=documents,
                                 calibrated=calibrated)
    meta = {c.label: c for c in columns}
    for p in comparison.companies:
        column = meta.get(p.name)
        if column is None:
            continue
        p.company = column.company["name"]
        p.choice = column.choice
        p.other_documents = column.other_documents
        if not p.documents:
            p.documents = [documents[i] for i in column.document_ids if i in documents]
    comparison.not_tagged = skipped
    compared = [cl for cols in by_column.values() for cl in cols]
    comparison.quality = measured_quality(db, compared)
    comparison.taggers = sorted({c.model_version for c in compared if c.model_version})
    return comparison


STATE_RANK = {"absent": 0, "uncertain": 1, "covered": 2}


def column_cells(db: sqlite_utils.Database, document_ids: list[int]) -> CalibratedCells:
    """A column's calibrated cells from the current_cells view; a column of several documents takes, per
    category, the document with the strongest state, then the highest score."""
    if not document_ids:
        return {}
    marks = ", ".join("?" * len(document_ids))
    best: dict[str, tuple] = {}
    for r in db.query(f"select category, state, score, evidence_clause_id from current_cells "
                      f"where document_id in ({marks})", document_ids):
        candidate = (STATE_RANK.get(r["state"], 0), r["score"] or 0.0, r["state"], r["evidence_clause_id"])
        if r["category"] not in best or candidate[:2] > best[r["category"]][:2]:
            best[r["category"]] = candidate
    return {cat: (state, round(score, 3), evidence) for cat, (_, score, state, evidence) in best.items()}


def draft_cells(clauses: list[CorpusClause], categories: list[str]) -> CalibratedCells:
    """A client draft's cells from the default model's calibrated thresholds (empty when there are none)."""
    from policycorpus.errors import PolicyCorpusError

    try:
        from taxonomy.coverage import cell_states
        from taxonomy.pipeline import get_calibration, get_model

        calibration = get_calibration(get_model())
    except (PolicyCorpusError, FileNotFoundError, ImportError):
        return {}
    scored = [{"idx": c.id, "kind": "clause", "scores": c.scores or c.tags} for c in clauses]
    known = [c for c in categories if c in calibration.hi]
    return {cell["category"]: (cell["state"], cell["score"], cell["evidence_idx"])
            for cell in cell_states(scored, calibration, known)}


def compare_companies(
    db: sqlite_utils.Database,
    companies: list[dict],
    *,
    client: tuple[str, list[CorpusClause]] | None = None,
    gap_share: float = 0.5,
    all_documents: bool = False,
) -> Comparison:
    """Compare companies (rows of the companies table), each by its main employee policy unless all_documents."""
    if not companies:
        raise InputError("no companies to compare: name some or give --peer-group")
    return compare_columns(db, columns_for(db, companies, all_documents=all_documents), client=client,
                           gap_share=gap_share)


def measured_quality(db: sqlite_utils.Database, clauses: list[CorpusClause]) -> Quality | None:
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
    counts: Counter[str] = Counter()
    for p in comparison.companies:
        if p.is_client:
            continue
        for cid, cell in comparison.cells[p.name].items():
            counts[cid] += cell.state == "covered"
    return counts
