"""Templates: clauses shared almost word for word across organizations, and whole-policy similarity.

Each clause becomes a set of word shingles (k consecutive words, the
organization's own name masked so "CNCF will..." and "CDF will..." match);
MinHash signatures estimate the Jaccard similarity of those sets, and LSH
banding finds candidate pairs without comparing every pair, so the pass
scales to hundreds of thousands of clauses. Pairs whose estimated Jaccard
reaches the threshold are linked; connected groups spanning at least
``min_companies`` organizations are template families.

Everything is plain numpy: hashing is deterministic (no Python ``hash``), so
a pass with the same parameters and data gives the same families.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlite_utils
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from analysis.corpus import CorpusClause, current_clauses
from policycorpus.db import inserted_id, transaction, utcnow
from policycorpus.errors import CorpusStateError

MERSENNE = np.uint64((1 << 31) - 1)
TOKEN_RE = re.compile(r"\w+")
ORG_TOKEN = "\x00org"
# Words of an organization's name that are too common to mask.
NAME_STOPWORDS = frozenset(
    "the a an of and for in on at to inc ltd llc co corp company group foundation project university college "
    "social media policy guidelines guide community council team".split()
)


def _log(message: str, verbose: bool) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def name_tokens(name: str) -> set[str]:
    """Words that stand for the organization itself: its distinctive name words and its initials
    ("Cloud Native Computing Foundation (LF)" -> cloud, native, computing, lf, cncf)."""
    words = TOKEN_RE.findall((name or "").lower())
    tokens = {t for t in words if t not in NAME_STOPWORDS and len(t) > 1}
    main = TOKEN_RE.findall(re.sub(r"\(.*?\)", " ", (name or "").lower()))
    for seq in (main, [w for w in main if w not in ("the", "of", "and", "for")]):
        initials = "".join(w[0] for w in seq if w[0].isalpha())
        if len(initials) >= 3:
            tokens.add(initials)
    return tokens


@dataclass
class Family:
    members: list[int]  # indices into the clauses given to fit
    example: int  # index of the representative member
    similarity: list[float]  # estimated Jaccard of each member to the example
    companies: list[str] = field(default_factory=list)


class TemplateFinder:
    """Near-duplicate clause families by MinHash + LSH.

    Learned attributes: ``signatures_`` (n x num_perm MinHash), ``eligible_``
    (texts long enough to compare), ``pairs_`` (verified pairs with their
    estimated Jaccard), ``families_`` (list of ``Family``).
    """

    def __init__(
        self,
        shingle_size: int = 3,
        num_perm: int = 128,
        bands: int = 32,
        threshold: float = 0.5,
        min_words: int = 6,
        min_companies: int = 2,
        mask_names: bool = True,
        random_state: int = 0,
        verbose: bool = False,
    ) -> None:
        self.shingle_size = shingle_size
        self.num_perm = num_perm
        self.bands = bands
        self.threshold = threshold
        self.min_words = min_words
        self.min_companies = min_companies
        self.mask_names = mask_names
        self.random_state = random_state
        self.verbose = verbose

    def get_params(self) -> dict:
        code = type(self).__init__.__code__
        names = code.co_varnames[1 : code.co_argcount]
        return {k: getattr(self, k) for k in names if k != "verbose"}

    def fit(self, texts: list[str], companies: list[str]) -> "TemplateFinder":
        if self.num_perm % self.bands:
            raise ValueError("num_perm must be a multiple of bands")
        if len(texts) != len(companies):
            raise ValueError("one company per text")
        tokens, offsets = self._tokenize(texts, companies)
        shingles, owner = self._shingles(tokens, offsets)
        self.eligible_ = np.flatnonzero(np.diff(offsets) >= max(self.min_words, self.shingle_size))
        _log(f"templates: {len(self.eligible_)} of {len(texts)} clauses long enough, {len(shingles)} shingles", self.verbose)
        self.signatures_ = self._minhash(shingles, owner, len(texts))
        candidates = self._candidates()
        self.pairs_ = self._verify(candidates)
        _log(f"templates: {len(candidates)} candidate pairs, {len(self.pairs_[0])} above {self.threshold}", self.verbose)
        self.families_ = self._families(len(texts), companies)
        return self

    # --------------------------------------------------------------- steps

    def _tokenize(self, texts, companies):
        """Token ids of every text, concatenated, with per-text offsets."""
        vocab: dict[str, int] = {ORG_TOKEN: 0}
        masks: dict[str, set[str]] = {}
        ids: list[int] = []
        offsets = [0]
        for text, company in zip(texts, companies):
            words = TOKEN_RE.findall(text)
            if self.mask_names:
                mask = masks.get(company)
                if mask is None:
                    mask = masks[company] = name_tokens(company)
                # Only capitalised uses are the name: "Open Mainframe" is, "open to the public" is not.
                words = [ORG_TOKEN if w[0].isupper() and w.lower() in mask else w.lower() for w in words]
            else:
                words = [w.lower() for w in words]
            ids.extend(vocab.setdefault(w, len(vocab)) for w in words)
            offsets.append(len(ids))
        return np.asarray(ids, dtype=np.uint64), np.asarray(offsets, dtype=np.int64)

    def _shingles(self, tokens, offsets):
        """A 32-bit hash of every k-word shingle and the index of the text it belongs to."""
        k = self.shingle_size
        lengths = np.diff(offsets)
        owner_of_token = np.repeat(np.arange(len(lengths)), lengths)
        if len(tokens) < k:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        starts = np.arange(len(tokens) - k + 1)
        valid = owner_of_token[starts] == owner_of_token[starts + k - 1]
        starts = starts[valid]
        h = np.zeros(len(starts), dtype=np.uint64)
        multipliers = np.random.default_rng(12345).integers(1, 2**61, size=k, dtype=np.uint64) | np.uint64(1)
        with np.errstate(over="ignore"):
            for j in range(k):
                h = h * np.uint64(1_000_003) + tokens[starts + j] * multipliers[j]
        return (h >> np.uint64(32)) % MERSENNE, owner_of_token[starts]

    def _minhash(self, shingles, owner, n_texts):
        rng = np.random.default_rng(self.random_state)
        a = rng.integers(1, int(MERSENNE), size=self.num_perm, dtype=np.uint64)
        b = rng.integers(0, int(MERSENNE), size=self.num_perm, dtype=np.uint64)
        signatures = np.full((n_texts, self.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        if not len(shingles):
            return signatures
        # Shingles are grouped by text (owner is non-decreasing): process whole texts per chunk.
        bounds = np.asarray(np.searchsorted(owner, np.r_[np.arange(0, n_texts, 4000), n_texts]))
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            if hi <= lo:
                continue
            x = shingles[lo:hi]
            hashed = ((x[:, None] * a[None, :] + b[None, :]) % MERSENNE).astype(np.uint32)
            own = owner[lo:hi]
            firsts = np.flatnonzero(np.r_[True, own[1:] != own[:-1]])
            signatures[own[firsts]] = np.minimum.reduceat(hashed, firsts, axis=0)
        return signatures

    def _candidates(self) -> np.ndarray:
        """Pairs (i < j) of eligible texts that agree on at least one whole band of their signatures."""
        rows = self.num_perm // self.bands
        idx = self.eligible_
        if len(idx) < 2:
            return np.zeros((0, 2), dtype=np.int64)
        weights = np.random.default_rng(7).integers(1, 2**61, size=rows, dtype=np.uint64)
        found = []
        for band in range(self.bands):
            block = self.signatures_[idx, band * rows : (band + 1) * rows].astype(np.uint64)
            with np.errstate(over="ignore"):
                keys = (block * weights[None, :]).sum(axis=1, dtype=np.uint64) ^ (block[:, 0] << np.uint64(32))
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
            same = sorted_keys[1:] == sorted_keys[:-1]
            if not same.any():
                continue
            # Link each bucket member to its neighbour and to the bucket's first member:
            # linear in the bucket size even for huge buckets of boilerplate.
            run_start = np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(len(order)), 0))
            pos = np.flatnonzero(same) + 1
            found.append(np.column_stack([order[pos - 1], order[pos]]))
            star = pos[run_start[pos] != pos - 1]
            if len(star):
                found.append(np.column_stack([order[run_start[star]], order[star]]))
        if not found:
            return np.zeros((0, 2), dtype=np.int64)
        pairs = idx[np.vstack(found)]
        pairs = np.sort(pairs, axis=1)
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        return np.unique(pairs, axis=0)

    def _verify(self, candidates: np.ndarray):
        keep_pairs, keep_sims = [], []
        for start in range(0, len(candidates), 200_000):
            chunk = candidates[start : start + 200_000]
            sims = (self.signatures_[chunk[:, 0]] == self.signatures_[chunk[:, 1]]).mean(axis=1)
            ok = sims >= self.threshold
            keep_pairs.append(chunk[ok])
            keep_sims.append(sims[ok])
        if not keep_pairs:
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
        return np.vstack(keep_pairs), np.concatenate(keep_sims)

    def _families(self, n_texts: int, companies: list[str]) -> list[Family]:
        pairs, _ = self.pairs_
        if not len(pairs):
            return []
        graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n_texts, n_texts)).tocsr()
        graph = graph + graph.T
        _, labels = connected_components(graph, directed=False)
        degree = np.asarray((graph > 0).sum(axis=1)).ravel()
        linked = np.unique(pairs)
        order = np.argsort(labels[linked], kind="stable")
        linked = linked[order]
        splits = np.flatnonzero(np.diff(labels[linked])) + 1
        families = []
        for members in np.split(linked, splits):
            names = sorted({companies[i] for i in members})
            if len(names) < self.min_companies:
                continue
            example = int(members[np.argmax(degree[members])])
            sims = (self.signatures_[members] == self.signatures_[example]).mean(axis=1)
            families.append(Family([int(m) for m in members], example, [round(float(s), 3) for s in sims], names))
        families.sort(key=lambda f: (-len(f.companies), -len(f.members), f.example))
        return families


def document_similarity(texts: list[str]) -> np.ndarray:
    """Cosine similarity of TF-IDF vectors (words and word pairs) of whole documents."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not texts:
        return np.zeros((0, 0))
    try:
        matrix = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), stop_words="english").fit_transform(texts)
    except ValueError:  # no usable words at all
        return np.eye(len(texts))
    sims = (matrix @ matrix.T).toarray()
    np.fill_diagonal(sims, 1.0)
    return np.clip(sims, 0.0, 1.0)


def current_documents(db: sqlite_utils.Database) -> list[dict]:
    """Latest snapshot of every document that has current clauses: id, company, url, title, text."""
    sql = """select d.id, co.name as company, d.url, coalesce(d.title, s.title) as title, s.text, s.fetched_at
             from documents d join snapshots s on s.id = d.latest_snapshot_id join companies co on co.id = d.company_id
             order by co.name, d.id"""
    return list(db.query(sql))


@dataclass
class TemplateRun:
    run_id: int
    n_clauses: int
    families: list[dict]
    documents: list[dict]
    similarity: np.ndarray


def run_templates(
    db: sqlite_utils.Database, *, min_doc_similarity: float = 0.1, verbose: bool = False, **params: Any
) -> TemplateRun:
    """Find template families among the current clauses and the similarity of whole policies; store both."""
    clauses = current_clauses(db, with_tags=False)
    if not clauses:
        raise CorpusStateError("no clauses in the corpus (run 'policycorpus segment' first)")
    finder = TemplateFinder(verbose=verbose, **params).fit([c.text for c in clauses], [c.company for c in clauses])
    documents = [d for d in current_documents(db)]
    similarity = document_similarity([d["text"] or "" for d in documents])
    run_id, families = store_templates(db, finder, clauses, documents, similarity, min_doc_similarity)
    return TemplateRun(run_id, len(clauses), families, documents, similarity)


def store_templates(db: sqlite_utils.Database, finder: TemplateFinder, clauses: list[CorpusClause],
                    documents: list[dict], similarity: np.ndarray, min_doc_similarity: float
                    ) -> tuple[int, list[dict]]:
    params = {**finder.get_params(), "min_doc_similarity": min_doc_similarity}
    stored = []
    with transaction(db):
        run_id = inserted_id(db.table("template_runs").insert(
            {
                "created_at": utcnow(),
                "params": json.dumps(params),
                "n_clauses": len(clauses),
                "n_eligible": int(len(finder.eligible_)),
                "n_families": len(finder.families_),
                "n_documents": len(documents),
            }
        ))
        for family in finder.families_:
            example = clauses[family.example]
            family_id = inserted_id(db.table("template_families").insert(
                {
                    "run_id": run_id,
                    "size": len(family.members),
                    "n_companies": len(family.companies),
                    "companies": json.dumps(family.companies, ensure_ascii=False),
                    "example": example.text,
                    "example_clause_id": example.id,
                }
            ))
            db.conn.executemany(
                "insert into template_members (family_id, clause_id, company_id, similarity) values (?, ?, ?, ?)",
                [(family_id, clauses[m].id, clauses[m].company_id, s) for m, s in zip(family.members, family.similarity)],
            )
            stored.append(
                {
                    "id": family_id,
                    "size": len(family.members),
                    "companies": family.companies,
                    "example": example.text,
                    "members": [
                        {"clause_id": clauses[m].id, "company": clauses[m].company, "text": clauses[m].text, "similarity": s}
                        for m, s in zip(family.members, family.similarity)
                    ],
                }
            )
        upper = np.triu_indices(len(documents), k=1)
        db.conn.executemany(
            "insert into doc_similarity (run_id, doc_a, doc_b, similarity) values (?, ?, ?, ?)",
            (
                (run_id, documents[i]["id"], documents[j]["id"], round(float(similarity[i, j]), 4))
                for i, j in zip(*upper)
                if similarity[i, j] >= min_doc_similarity
            ),
        )
    return run_id, stored


def similarity_csv(documents: list[dict], similarity: np.ndarray) -> str:
    """The document similarity matrix as CSV (labels neutralised for spreadsheets)."""
    import csv
    import io

    from analysis.render import neutralise

    labels = [f"{d['company']}: {d['title'] or d['url']}" for d in documents]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["document", "url"] + [neutralise(label) for label in labels])
    for d, label, row in zip(documents, labels, similarity):
        writer.writerow([neutralise(label), neutralise(d["url"])] + [f"{v:.4f}" for v in row])
    return out.getvalue()


def template_groups(families: list[dict]) -> list[dict]:
    """Organizations that share templates, with how many families and clauses they share
    (families grouped by their exact set of organizations, most shared first)."""
    groups: dict[tuple, dict] = {}
    for family in families:
        key = tuple(family["companies"])
        group = groups.setdefault(key, {"companies": list(key), "families": 0, "clauses": 0})
        group["families"] += 1
        group["clauses"] += family["size"]
    return sorted(groups.values(), key=lambda g: (-g["families"], -len(g["companies"]), g["companies"]))
