"""Near-identical documents of one organization: one policy with several sources.

The same policy is often found twice: imported as Markdown and as the HTML page built from it, served at two
URLs, mirrored in a handbook. Such documents would count twice in coverage, comparisons and facets. Here every
pair of one organization's documents is compared on its current text: the word 3-shingles of each text are
hashed into a MinHash signature (datasketch), whose agreement estimates the Jaccard similarity of the two sets.
Pairs at or above ``THRESHOLD`` are the same policy; of each group one document is kept and counted, the
others get ``documents.duplicate_of`` (the kept one's id) and ``duplicate_similarity``.

Which one is kept does not depend on the order documents were stored in: a document with a public (http)
URL before a local file, then the longest text (the fullest copy), then the smallest stable key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import sqlite_utils

SHINGLE_WORDS = 3
NUM_PERM = 128
THRESHOLD = 0.8  # estimated Jaccard of word 3-shingles; different policies of one organization stay below 0.1,
# two organizations' copies of one template policy around 0.5
MAX_WORDS = 50_000  # words of a text read (a longer document is compared on its start)
SEED = 1
_WORD = re.compile(r"\w+")


def signature(text: str) -> np.ndarray | None:
    """The MinHash signature of a text's word 3-shingles; None for a text too short to compare."""
    from datasketch import MinHash

    words = _WORD.findall((text or "").lower())[:MAX_WORDS]
    if len(words) < SHINGLE_WORDS:
        return None
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED)
    minhash.update_batch([" ".join(words[i:i + SHINGLE_WORDS]).encode("utf-8")
                          for i in range(len(words) - SHINGLE_WORDS + 1)])
    return minhash.hashvalues


def _keep_order(doc: dict) -> tuple:
    public = (doc["url"] or "").startswith(("http://", "https://"))
    return (not public, -len(doc["text"] or ""), doc["key"] or "", doc["id"])


def link_duplicates(db: sqlite_utils.Database, company_ids: Iterable[int] | None = None) -> int:
    """Decide duplicate_of for every document of these companies (all companies when None); returns how many
    documents are duplicates of another. Call it inside the caller's transaction or on its own."""
    if company_ids is None:
        company_ids = [r[0] for r in db.execute("select distinct company_id from documents")]
    duplicates = 0
    for company_id in sorted(set(company_ids)):
        duplicates += _link_company(db, company_id)
    return duplicates


def _link_company(db: sqlite_utils.Database, company_id: int) -> int:
    docs = [dict(zip(("id", "key", "url", "text", "duplicate_of", "duplicate_similarity"), row)) for row in db.execute(
        "select d.id, d.key, d.url, s.text, d.duplicate_of, d.duplicate_similarity from documents d "
        "left join snapshots s on s.id = d.latest_snapshot_id where d.company_id = ? order by d.id", [company_id])]
    decided = {d["id"]: (None, None) for d in docs}
    signed = [(d, sig) for d in docs if (sig := signature(d["text"])) is not None]
    if len(signed) > 1:
        for group in _groups(signed):
            kept = min(group, key=lambda pair: _keep_order(pair[0]))
            for doc, sig in group:
                if doc is not kept[0]:
                    decided[doc["id"]] = (kept[0]["id"], round(float(np.mean(sig == kept[1])), 3))
    changed = [(of, sim, d["id"]) for d in docs for of, sim in [decided[d["id"]]]
               if (of, sim) != (d["duplicate_of"], d["duplicate_similarity"])]
    if changed:
        db.conn.executemany("update documents set duplicate_of = ?, duplicate_similarity = ? where id = ?", changed)
    return sum(of is not None for of, _ in decided.values())


def _groups(signed: list[tuple[dict, np.ndarray]]) -> list[list[tuple[dict, np.ndarray]]]:
    """Connected groups of documents whose estimated Jaccard similarity reaches THRESHOLD."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    matrix = np.vstack([sig for _, sig in signed])
    similar = np.vstack([(matrix == row).mean(axis=1) for row in matrix]) >= THRESHOLD
    _, labels = connected_components(csr_matrix(similar), directed=False)
    groups: dict[int, list] = {}
    for label, pair in zip(labels, signed):
        groups.setdefault(int(label), []).append(pair)
    return [g for g in groups.values() if len(g) > 1]
