"""Near-identical documents of one organization: one policy with several sources.

The same policy is often found twice: imported as Markdown and as the HTML page built from it, served at two
URLs, mirrored in a handbook. Such documents would count twice in coverage, comparisons and facets. Here every
pair of one organization's documents is compared on its current text: the word 3-shingles of each text are
hashed into a MinHash signature (datasketch; computed once per snapshot and kept in ``snapshots.minhash``),
whose agreement estimates the Jaccard similarity of the two sets.
Pairs at or above ``THRESHOLD`` are the same policy; of each group one document is kept and counted, the
others get ``documents.duplicate_of`` (the kept one's id) and ``duplicate_similarity``.

Which one is kept: a document with a public (http) URL before a local file, then the one stored first. So a
copy found later never displaces the document that was counted, reviewed and cited until then.
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


def signature_bytes(text: str) -> bytes:
    """The signature as stored in snapshots.minhash (empty for a text too short to compare)."""
    sig = signature(text)
    return sig.astype("<u8").tobytes() if sig is not None else b""


def _keep_order(doc: dict) -> tuple:
    public = (doc["url"] or "").startswith(("http://", "https://"))
    return (not public, doc["id"])


def link_duplicates(db: sqlite_utils.Database, company_ids: Iterable[int] | None = None) -> int:
    """Decide duplicate_of for every document of these companies (all companies when None); returns how many
    documents are duplicates of another. Call it inside the caller's transaction or on its own."""
    if company_ids is None:
        company_ids = [r[0] for r in db.execute("select distinct company_id from documents")]
    duplicates = 0
    for company_id in sorted(set(company_ids)):
        duplicates += _link_company(db, company_id)
    return duplicates


def _signatures(db: sqlite_utils.Database, docs: list[dict]) -> None:
    """Each document's stored signature, computed and stored for snapshots that have none yet."""
    for doc in docs:
        if doc["minhash"] is None and doc["snapshot_id"] is not None:
            text = db.execute("select text from snapshots where id = ?", [doc["snapshot_id"]]).fetchone()[0]
            doc["minhash"] = signature_bytes(text)
            db.execute("update snapshots set minhash = ? where id = ?", [doc["minhash"], doc["snapshot_id"]])


def _link_company(db: sqlite_utils.Database, company_id: int) -> int:
    columns = ("id", "url", "snapshot_id", "minhash", "duplicate_of", "duplicate_similarity")
    docs = [dict(zip(columns, row)) for row in db.execute(
        "select d.id, d.url, s.id, s.minhash, d.duplicate_of, d.duplicate_similarity "
        "from documents d left join snapshots s on s.id = d.latest_snapshot_id where d.company_id = ? order by d.id",
        [company_id])]
    decided: dict[int, tuple[int | None, float | None]] = {d["id"]: (None, None) for d in docs}
    if len(docs) > 1:
        _signatures(db, docs)
        signed = [(d, np.frombuffer(d["minhash"], dtype="<u8")) for d in docs if d["minhash"]]
        for group in _groups(signed) if len(signed) > 1 else []:
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
