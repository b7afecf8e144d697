"""A client's draft policy as one more column of a comparison.

The draft (.md, .txt, .html or .pdf) goes through the same extraction,
segmentation and tagging as a crawled policy, but nothing is written to
corpus.db: a consultant's draft is not part of the corpus.
"""

from __future__ import annotations

from pathlib import Path

from analysis.compare import CLIENT_DOCUMENT_ID
from analysis.corpus import CorpusClause
from policycorpus.errors import InputError
from policycorpus.structure import Block

CLIENT_FORMATS = (".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf")


def read_client_draft(path: str | Path, name: str | None = None) -> tuple[str, list[CorpusClause]]:
    """(column name, tagged clauses) of a draft policy file."""
    from policycorpus.extract import extract_file

    path = Path(path)
    if path.suffix.lower() not in CLIENT_FORMATS:
        raise InputError(f"{path}: a draft must be .md, .txt, .html or .pdf")
    extracted = extract_file(path)
    if not extracted.blocks:
        reason = "; ".join(extracted.warnings) or "no text found"
        raise InputError(f"{path}: cannot read the draft ({reason})")
    name = name or f"Draft: {path.name}"
    return name, tag_draft(extracted.blocks, name, "")


def tag_draft(blocks: list[Block], name: str, url: str) -> list[CorpusClause]:
    """Segment and tag extracted blocks with the project's tagger; clause ids are negative (not in corpus.db).

    The clauses carry no date and no local path: reports name them as the
    client's draft (analysis.compare.CLIENT_DOCUMENT_ID), never as a file URL.
    """
    from taxonomy.pipeline import ModelMissing, tag_blocks

    try:
        tagged = tag_blocks(blocks)
    except ModelMissing as exc:
        raise InputError(str(exc)) from None
    clauses = []
    for item in tagged:
        if item.kind != "clause":
            continue
        clauses.append(
            CorpusClause(
                id=-(item.position + 1),
                company_id=0,
                company=name,
                document_id=CLIENT_DOCUMENT_ID,
                url=url,
                fetched_at="",
                position=item.position,
                text=item.text,
                heading_path=" > ".join(item.heading_path),
                modality=item.modality,
                tags=dict(item.labels),
                scores=dict(item.scores),
            )
        )
    return clauses
