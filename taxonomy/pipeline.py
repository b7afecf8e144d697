"""Segmenting and tagging: for one draft in memory, for labelled units, and for every snapshot in corpus.db."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import sqlite_utils

from policycorpus.db import transaction, utcnow
from policycorpus.keys import clause_keys
from policycorpus.structure import Block, blocks_from_json
from taxonomy.coverage import CellCalibration, cell_states
from taxonomy.evaluate import CARD_CATEGORY_FIGURES
from taxonomy.model import TaggedResult, Tagger, TaggerModel, load_model
from taxonomy.segment import CLAUSE, SEGMENTER_VERSION, Clause, blocks_from_text, clauses_from_units, segment_blocks
from taxonomy.taxonomy import Taxonomy, load_taxonomy
from taxonomy.training import DEFAULT_MODEL_PATH

MODEL_ENV = "POLICYCORPUS_MODEL"
BATCH_CLAUSES = 5000


class ModelMissing(FileNotFoundError):
    pass


@dataclass
class TaggedClause:
    text: str
    heading_path: list[str]
    lead_in: str
    kind: str  # clause | heading | boilerplate
    span: tuple[int, int]
    labels: dict[str, float] = field(default_factory=dict)  # category id -> confidence
    modality: str = "information"
    modality_score: float = 0.0
    position: int = 0
    model_version: str = ""
    scores: dict[str, float] = field(default_factory=dict)  # every category's probability

    def as_dict(self) -> dict:
        return asdict(self)


def model_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(MODEL_ENV) or DEFAULT_MODEL_PATH)


def card_path(path: str | Path) -> Path:
    """Where the quality card of the model file at ``path`` lives: beside it, as NAME.card.json."""
    return Path(path).with_suffix(".card.json")


def thresholds_path(path: str | Path) -> Path:
    """Where the cell thresholds of the model file at ``path`` live: beside it, as NAME.thresholds.json."""
    return Path(path).with_suffix(".thresholds.json")


@lru_cache(maxsize=4)
def _load(path: str) -> TaggerModel:
    return load_model(path)


def load_tagger(path: str | Path | None = None) -> TaggerModel:
    """``get_model`` for users: a missing, unreadable or foreign model file, or a missing embeddings extra,
    is a one-line library error."""
    from policycorpus.errors import DependencyError, InputError, NotFoundError

    try:
        model = get_model(path)
    except ModelMissing as exc:
        raise NotFoundError(str(exc)) from exc
    except Exception as exc:  # unreadable or foreign file
        raise InputError(f"cannot load tagger model {path}: {exc}") from exc
    if type(model.tagger.featurizer_).__name__ == "EmbeddingFeaturizer":
        from taxonomy.embeddings import EmbeddingsUnavailable, load_encoder

        try:
            load_encoder(model.tagger.featurizer_.model_dir)
        except EmbeddingsUnavailable as exc:
            raise DependencyError(str(exc)) from exc
    return model


def get_model(path: str | Path | None = None) -> TaggerModel:
    """The tagger model at ``path``, $POLICYCORPUS_MODEL, or the one shipped with the project."""
    p = model_path(path)
    if not p.exists():
        raise ModelMissing(f"no tagger model at {p} (build it with 'policycorpus taxonomy train -o {p}')")
    return _load(str(p.resolve()))


def clause_record(c: Clause) -> dict:
    return {"text": c.text, "context": c.context or c.text, "heading": c.heading, "lead_in": c.lead_in}


def tag_clauses(clauses: list[Clause], model: Tagger | None = None) -> list[TaggedClause]:
    """Categories and modality for the segmented clauses of one document; headings and boilerplate get none."""
    model = model or get_model()
    results = model.tag([clause_record(c) for c in clauses], [c.kind == CLAUSE for c in clauses])
    return [
        TaggedClause(c.text, list(c.heading_path), c.lead_in, c.kind, (c.start, c.end), r.labels, r.modality,
                     r.modality_score, c.position, model.version, dict(getattr(r, "scores", None) or r.labels))
        for c, r in zip(clauses, results)
    ]


def tag_blocks(blocks: list[Block], text: str | None = None, model: Tagger | None = None) -> list[TaggedClause]:
    """Segment and tag a document that is not in the database (e.g. a client's draft policy).

    ``blocks`` are structure blocks (policycorpus.structure.Block); spans refer
    to ``text`` when given (as for snapshots.text), else they are -1.
    """
    return tag_clauses(segment_blocks(blocks, text), model)


def classify_units(rows: list[dict], model: Tagger | None = None) -> list[dict]:
    """Label JSON-line units {text, heading?, doc?}: each row comes back with labels, scores and modality.

    Rows are read in document order; consecutive rows with the same ``doc``
    form one document, so lead-ins and line fragments are read in context.
    """
    model = model or get_model()
    out: list[dict] = []
    for doc_rows in _documents(rows):
        clauses = clauses_from_units(doc_rows)
        for row, tagged in zip(doc_rows, tag_clauses(clauses, model)):
            out.append({
                **row,
                "labels": list(tagged.labels),
                "scores": tagged.labels,
                "modality": tagged.modality,
                "modality_score": tagged.modality_score,
                "kind": tagged.kind,
                "model_version": model.version,
            })
    return out


def get_calibration(model: TaggerModel, model_file: str | Path | None = None, path: str | Path | None = None
                    ) -> CellCalibration:
    """The cell thresholds of ``model``: the file at ``path``, else MODEL.thresholds.json beside ``model_file``.

    ``model_file`` defaults as in ``get_model`` ($POLICYCORPUS_MODEL or the
    shipped model). Raises NotFoundError when there is no such file,
    InputError when it is unreadable or was fitted for another model version.
    """
    from policycorpus.errors import InputError, NotFoundError
    from taxonomy.coverage import load_calibration

    p = Path(path) if path else thresholds_path(model_path(model_file))
    try:
        calibration = load_calibration(p)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if calibration is None:
        raise NotFoundError(f"no cell thresholds at {p} (fit them with 'python -m taxonomy.crossval "
                            f"../shared/realcorpus --realdev DIR --model MODEL --write-thresholds')")
    if calibration.model_version != model.version:
        raise InputError(f"{p} was fitted for model {calibration.model_version}, not {model.version}")
    return calibration


def clause_scores(clauses: list[Clause], model: TaggerModel) -> list[dict[str, float]]:
    """Every category's probability for each clause ({} for headings, boilerplate and fragments)."""
    taggable = [c.kind == CLAUSE for c in clauses]
    records = [clause_record(c) for c, t in zip(clauses, taggable) if t]
    if not records:
        return [{} for _ in clauses]
    P = model.tagger.predict_proba(records)
    out, row = [], 0
    for t in taggable:
        if t:
            out.append({cat: round(float(p), 4) for cat, p in zip(model.categories, P[row])})
            row += 1
        else:
            out.append({})
    return out


def coverage_units(rows: list[dict], model: TaggerModel | None = None,
                   calibration: CellCalibration | None = None) -> list[dict]:
    """The grid cells of JSON-line units (as ``classify_units`` reads them): one dict per document and category.

    Each is {"doc", "category", "state", "score", "evidence_idx"}; see
    ``taxonomy.coverage.cell_states`` for their meaning. ``evidence_idx`` is
    the evidence unit's ``idx`` (its position in the document when units have
    no ``idx``).
    """
    from taxonomy.coverage import cell_states

    model = model or get_model()
    calibration = calibration or get_calibration(model)
    out: list[dict] = []
    for doc_rows in _documents(rows):
        clauses = clauses_from_units(doc_rows)
        scored = [{"idx": row.get("idx", i), "kind": c.kind, "scores": s}
                  for i, (row, c, s) in enumerate(zip(doc_rows, clauses, clause_scores(clauses, model)))]
        for cell in cell_states(scored, calibration, model.categories):
            out.append({"doc": doc_rows[0].get("doc"), "category": cell["category"], "state": cell["state"],
                        "score": cell["score"], "evidence_idx": cell["evidence_idx"]})
    return out


def classified_cells(classified: list[dict], categories: list[str]) -> list[dict]:
    """The grid cells of units a tagger without calibration labelled (``classify_units`` output, e.g. of the
    ``llm`` backend): covered where some unit carries the category, else absent; nothing is uncertain."""
    from taxonomy.coverage import uncalibrated_cell_states

    out: list[dict] = []
    for doc_rows in _documents(classified):
        units = [{**row, "idx": row.get("idx", i),
                  "labels": {c: (row.get("scores") or {}).get(c, 1.0) for c in row.get("labels") or []}}
                 for i, row in enumerate(doc_rows)]
        for cell in uncalibrated_cell_states(units, categories):
            out.append({"doc": doc_rows[0].get("doc"), "category": cell["category"], "state": cell["state"],
                        "score": cell["score"], "evidence_idx": cell["evidence_idx"], "calibrated": False})
    return out


def _documents(rows: list[dict]) -> Iterable[list[dict]]:
    current: list[dict] = []
    for row in rows:
        if current and row.get("doc") != current[-1].get("doc"):
            yield current
            current = []
        current.append(row)
    if current:
        yield current


# ---------------------------------------------------------------- corpus.db

def sync_categories(db: sqlite_utils.Database, taxonomy: Taxonomy | None = None) -> int:
    """Fill the categories table from the taxonomy file (upsert; ids never disappear)."""
    tax = taxonomy or load_taxonomy()
    group_order = {g: i for i, g in enumerate(tax.groups)}
    rows = [
        {"id": c.id, "name": c.name, "group_name": c.group, "group_order": group_order[c.group], "position": i,
         "description": c.description}
        for i, c in enumerate(sorted(tax.categories, key=lambda c: group_order[c.group]))
    ]
    with transaction(db):
        db.table("categories").upsert_all(rows, pk="id")
    return len(rows)


def store_quality_card(db: sqlite_utils.Database, card: dict | None) -> int:
    """Copy a model's quality card (``taxonomy.evaluate.update_card``) into the category_quality table."""
    if not card:
        return 0
    rows = [
        {"model_version": card["model_version"], "dataset": name, "category": category,
         **{k: figures.get(k) for k in CARD_CATEGORY_FIGURES},
         "units": entry.get("units"), "documents": entry.get("documents"), "description": entry.get("description")}
        for name, entry in card.get("sets", {}).items()
        for category, figures in entry.get("per_category", {}).items()
    ]
    with transaction(db):
        db.table("category_quality").upsert_all(rows, pk=("model_version", "dataset", "category"))
    return len(rows)


Progress = Callable[[int, int], None]


def _pending(db: sqlite_utils.Database, step: str, version: str, requires: tuple[str, str] | None = None) -> list[int]:
    sql = "select id from snapshots where id not in (select snapshot_id from processing where step = ? and version = ?)"
    params: list = [step, version]
    if requires:
        sql += " and id in (select snapshot_id from processing where step = ? and version = ?)"
        params += list(requires)
    return [r[0] for r in db.execute(sql + " order by id", params).fetchall()]


def segment_snapshots(db: sqlite_utils.Database, progress: Progress | None = None) -> dict:
    """Split every snapshot not yet segmented by this segmenter version into clauses.

    A snapshot segmented by an older version has its clauses (and their tags)
    replaced; everything else is left alone.
    """
    todo = _pending(db, "segment", SEGMENTER_VERSION)
    clauses_written = 0
    for n, snapshot_id in enumerate(todo, 1):
        snap = db.execute(
            "select s.id, s.text, s.structure, s.document_id, d.company_id, d.key from snapshots s "
            "join documents d on d.id = s.document_id where s.id = ?", [snapshot_id]).fetchone()
        _, text, structure, document_id, company_id, doc_key = snap
        blocks = blocks_from_json(structure) or blocks_from_text(text or "")
        clauses = segment_blocks(blocks, text)
        keys = clause_keys(doc_key or "", [c.text for c in clauses])
        rows = [{
            "key": key,
            "snapshot_id": snapshot_id, "document_id": document_id, "company_id": company_id,
            "position": c.position, "kind": c.kind, "heading_path": c.heading, "lead_in": c.lead_in or None,
            "text": c.text, "span_start": c.start, "span_end": c.end, "segmenter_version": SEGMENTER_VERSION,
        } for c, key in zip(clauses, keys)]
        with transaction(db):
            if _processed(db, snapshot_id, "segment", SEGMENTER_VERSION):
                continue  # another run segmented it meanwhile
            _delete_clauses(db, snapshot_id)
            if rows:
                db.table("clauses").insert_all(rows)
            db.table("processing").insert({"snapshot_id": snapshot_id, "step": "segment", "version": SEGMENTER_VERSION,
                                           "processed_at": utcnow()}, pk=("snapshot_id", "step", "version"), replace=True)
        clauses_written += len(rows)
        if progress:
            progress(n, len(todo))
    return {"snapshots": len(todo), "clauses": clauses_written, "version": SEGMENTER_VERSION}


def _scores_json(result) -> str | None:
    scores = getattr(result, "scores", None) or result.labels
    return json.dumps(scores, separators=(",", ":")) if scores else None


def _cells(rows: list, results: Sequence, model: Tagger, calibration: CellCalibration | None = None) -> list[dict]:
    """The grid cells of each snapshot in the batch (rows: id, kind, text, heading, lead_in, snapshot_id)."""
    from taxonomy.coverage import uncalibrated_cell_states

    by_snapshot: dict[int, list[dict]] = {}
    for r, res in zip(rows, results):
        by_snapshot.setdefault(r[5], []).append(
            {"idx": r[0], "kind": r[1], "scores": getattr(res, "scores", None) or res.labels, "labels": res.labels})
    out = []
    categories = list(getattr(model, "categories", None) or [])
    for snapshot_id, clauses in by_snapshot.items():
        if calibration is not None:
            states = cell_states(clauses, calibration, categories or None)
        else:
            states = uncalibrated_cell_states(clauses, categories)
        out += [{"snapshot_id": snapshot_id, "category": c["category"], "state": c["state"], "score": c["score"],
                 "best": c["best"], "evidence_clause_id": c["evidence_idx"], "calibrated": int(calibration is not None),
                 "model_version": model.version} for c in states]
    return out


def _processed(db: sqlite_utils.Database, snapshot_id: int, step: str, version: str) -> bool:
    return db.execute("select 1 from processing where snapshot_id = ? and step = ? and version = ?",
                      [snapshot_id, step, version]).fetchone() is not None


def _delete_clauses(db: sqlite_utils.Database, snapshot_id: int) -> None:
    db.execute("delete from tags where clause_id in (select id from clauses where snapshot_id = ?)", [snapshot_id])
    db.execute("delete from clauses where snapshot_id = ?", [snapshot_id])
    db.execute("delete from processing where snapshot_id = ? and step in ('segment', 'tag')", [snapshot_id])


def tag_snapshots(db: sqlite_utils.Database, model: Tagger | None = None, progress: Progress | None = None,
                  calibration: CellCalibration | None = None) -> dict:
    """Tag the clauses of every segmented snapshot not yet tagged by this model version.

    Tags of other model versions stay in the tags table; the clauses' modality
    columns hold the latest tagging, their ``scores`` every category's
    probability. Each snapshot's grid cells (covered / uncertain / absent per
    category, with score and evidence clause) go to ``coverage_cells``, from
    ``calibration`` (taxonomy.coverage.CellCalibration) when given.
    """
    model = model or get_model()
    sync_categories(db)
    todo = _pending(db, "tag", model.version, requires=("segment", SEGMENTER_VERSION))
    sizes = dict(db.execute("select snapshot_id, count(*) from clauses group by snapshot_id").fetchall())
    done = tagged_clauses = tag_rows = batch_size = 0
    batch: list[int] = []
    for snapshot_id in todo:
        batch.append(snapshot_id)
        batch_size += sizes.get(snapshot_id, 0)
        if batch_size >= BATCH_CLAUSES or snapshot_id == todo[-1]:
            c, t = _tag_batch(db, model, batch, calibration)
            tagged_clauses += c
            tag_rows += t
            done += len(batch)
            batch, batch_size = [], 0
            if progress:
                progress(done, len(todo))
    return {"snapshots": len(todo), "clauses": tagged_clauses, "tags": tag_rows, "version": model.version}


def carried_over_tags(db: sqlite_utils.Database, model_version: str, keys: Sequence[str],
                      exclude_snapshots: Sequence[int] = ()) -> dict[str, TaggedResult]:
    """What this model version already gave the clauses of these keys in another snapshot of their document.

    A clause key holds its document, normalised text and occurrence, so a clause that is unchanged or moved in
    a new version of a policy keeps the tags, modality and scores of the version tagged first: categories do
    not flicker on clauses that did not change when their neighbours did (the tagger reads context)."""
    found: dict[str, TaggedResult] = {}
    wanted = sorted(set(keys))
    skip = set(exclude_snapshots)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        rows = db.execute(
            f"select id, key, snapshot_id, modality, modality_score, scores from clauses where key in "
            f"({','.join('?' * len(chunk))}) and model_version = ? order by id", [*chunk, model_version]).fetchall()
        first = {}
        for row in rows:
            if row[2] not in skip and row[3] is not None and row[1] not in first:
                first[row[1]] = row
        labels: dict[int, dict[str, float]] = {row[0]: {} for row in first.values()}
        if labels:
            for clause_id, category, score in db.execute(
                    f"select clause_id, category, score from tags where model_version = ? and clause_id in "
                    f"({','.join('?' * len(labels))})", [model_version, *labels]):
                labels[clause_id][category] = score
        for key, row in first.items():
            found[key] = TaggedResult(labels=labels[row[0]], modality=row[3] or "", modality_score=row[4] or 0.0,
                                      scores=json.loads(row[5]) if row[5] else {})
    return found


def _tag_batch(db: sqlite_utils.Database, model: Tagger, snapshot_ids: list[int],
               calibration: CellCalibration | None = None) -> tuple[int, int]:
    marks = ",".join("?" * len(snapshot_ids))
    rows = db.execute(
        f"select id, kind, text, heading_path, lead_in, snapshot_id, key from clauses where snapshot_id in ({marks}) "
        "order by snapshot_id, position", snapshot_ids).fetchall()
    records = [{"text": r[2], "context": r[2], "heading": r[3] or "", "lead_in": r[4] or ""} for r in rows]
    results = list(model.tag(records, [r[1] == CLAUSE for r in rows], documents=[r[5] for r in rows]))
    carried = carried_over_tags(db, model.version, [r[6] for r in rows if r[1] == CLAUSE and r[6]], snapshot_ids)
    first_in_batch: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r[1] != CLAUSE or not r[6]:
            continue
        if r[6] in carried:
            results[i] = carried[r[6]]
        elif r[6] in first_in_batch:  # several versions of one policy tagged together: the first one's tags
            results[i] = results[first_in_batch[r[6]]]
        else:
            first_in_batch[r[6]] = i
    tags = [
        {"clause_id": r[0], "category": cat, "score": score, "model_version": model.version}
        for r, res in zip(rows, results) for cat, score in res.labels.items()
    ]
    updates = [(res.modality, res.modality_score, model.version, _scores_json(res), r[0])
               for r, res in zip(rows, results)]
    cells = _cells(rows, results, model, calibration)
    now = utcnow()
    with transaction(db):
        if all(_processed(db, s, "tag", model.version) for s in snapshot_ids):
            return 0, 0  # another run tagged them meanwhile
        db.execute(f"delete from tags where model_version = ? and clause_id in "
                   f"(select id from clauses where snapshot_id in ({marks}))", [model.version, *snapshot_ids])
        if tags:
            db.table("tags").insert_all(tags, pk=("clause_id", "category", "model_version"), replace=True)
        db.conn.executemany("update clauses set modality = ?, modality_score = ?, model_version = ?, scores = ? "
                            "where id = ?", updates)
        db.execute(f"delete from coverage_cells where model_version = ? and snapshot_id in ({marks})",
                   [model.version, *snapshot_ids])
        db.table("coverage_cells").insert_all(cells, pk=("snapshot_id", "category", "model_version"), replace=True)
        db.table("processing").insert_all(
            [{"snapshot_id": s, "step": "tag", "version": model.version, "processed_at": now} for s in snapshot_ids],
            pk=("snapshot_id", "step", "version"), replace=True)
    return len(rows), len(tags)
