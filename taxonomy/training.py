"""Building training sets (taxonomy examples, optional labelled clauses) and training model files."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policycorpus.db import utcnow
from taxonomy.features import ClauseFeaturizer
from taxonomy.modality import ModalityTagger
from taxonomy.model import ClauseTagger, TaggerModel, model_version
from taxonomy.taxonomy import MODALITIES, TAXONOMY_PATH, Taxonomy, add_examples, load_taxonomy

DEFAULT_MODEL_PATH = Path(__file__).with_name("models") / "default.joblib"


class LabelError(ValueError):
    pass


@dataclass
class TrainingSet:
    records: list[dict]
    Y: np.ndarray
    groups: np.ndarray
    weights: np.ndarray
    n_examples: int
    n_labelled: int


def _category_heading(tax: Taxonomy, cid: str, rng: random.Random) -> str:
    heading = rng.choice(tax.category(cid).headings or ("",))
    if heading and tax.generic_headings and rng.random() < 0.4:
        heading = f"{rng.choice(tax.generic_headings)} > {heading}"
    return heading


def taxonomy_records(tax: Taxonomy, seed: int = 0) -> tuple[list[dict], list[tuple[str, ...]], list[int]]:
    """The taxonomy's examples, each shown under a heading of its category and under a neutral one.

    Some copies go under another category's heading, so that the model learns
    headings as a hint, not as the answer. Copies of one example share a group
    id, so cross-validation never sees an example in both folds.
    """
    rng = random.Random(seed)
    records, labels, groups = [], [], []
    neutral = list(tax.generic_headings) + [""]
    gid = 0
    seen: dict[str, int] = {}
    for example in tax.examples():
        primary = example.labels[0]
        # neutral headings go round-robin within each category, so none of them hints at a category
        n = seen[primary] = seen.get(primary, -1) + 1
        headings = [example.heading or _category_heading(tax, primary, rng), neutral[n % len(neutral)]]
        if rng.random() < 0.25:
            other = rng.choice([c for c in tax.ids if c not in example.labels])
            headings.append(_category_heading(tax, other, rng))
        for i, heading in enumerate(headings):
            # only copies whose heading gives nothing away are used to choose thresholds
            records.append({"text": example.text, "heading": heading, "lead_in": example.lead_in, "hard": i > 0})
            labels.append(example.labels)
            groups.append(gid)
        gid += 1
    for n, text in enumerate(tax.unlabelled):
        for heading in (neutral[n % len(neutral)], ""):
            records.append({"text": text, "heading": heading, "lead_in": "", "hard": True})
            labels.append(())
            groups.append(gid)
        gid += 1
    return records, labels, groups


def json_objects(path: str | Path, error: type[Exception] = ValueError, require_text: bool = True
                 ) -> Iterator[tuple[int, dict]]:
    """(line number, object) of a JSON-lines file; `error` names the bad line."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise error(f"{path}:{n}: each line must be a JSON object")
            if require_text and not isinstance(row.get("text"), str):
                raise error(f"{path}:{n}: each line needs a 'text' string")
            yield n, row


def check_label_row(row: dict, known: set[str], where: str) -> None:
    """A label row needs a list of known category ids (may be empty) and, if any, a known modality."""
    labels = row.get("labels")
    if not isinstance(labels, list):
        raise LabelError(f"{where}: each line needs a 'labels' list (may be empty)")
    unknown = sorted(set(labels) - known)
    if unknown:
        raise LabelError(f"{where}: unknown categories {', '.join(unknown)} (labels must be category ids of the "
                         f"taxonomy)")
    if row.get("modality") not in (None, *MODALITIES):
        raise LabelError(f"{where}: unknown modality {row['modality']!r}")


def read_labelled(path: str | Path, tax: Taxonomy) -> list[dict]:
    """Labelled clauses from JSON lines {text, heading?, lead_in?, labels: [ids], modality?}."""
    known = set(tax.ids)
    out = []
    for n, row in json_objects(path, LabelError):
        check_label_row(row, known, f"{path}:{n}")
        out.append(row)
    if not out:
        raise LabelError(f"{path}: no labelled clauses")
    return out


def read_unit_labels(units_path: str | Path, labels_path: str | Path, error: type[Exception] = ValueError
                     ) -> tuple[list[dict], list[dict]]:
    """Units {doc, idx, text, heading?} and their labels {doc, idx, labels, modality}, matched by (doc, idx).

    This is the format of an evaluation set (shared/realcorpus/gold,
    eval/owndocs): units in document order, labels in a second file.
    """
    units = [row for _, row in json_objects(units_path, error)]
    labels: dict = {}
    for n, row in json_objects(labels_path, error, require_text=False):
        labels[(row.get("doc"), row.get("idx"))] = row
    missing = [(u.get("doc"), u.get("idx")) for u in units if (u.get("doc"), u.get("idx")) not in labels]
    if missing:
        raise error(f"{labels_path}: {len(missing)} units of {units_path} have no labels, first {missing[0]}")
    return units, [labels[(u.get("doc"), u.get("idx"))] for u in units]


def read_labelled_documents(units_path: str | Path, labels_path: str | Path, tax: Taxonomy) -> list[dict]:
    """Labelled clauses from a units + labels pair, read in context (lead-ins, line fragments).

    Units the segmenter takes for headings or boilerplate are left out, as
    they are never tagged. Each clause keeps its ``doc``, so that
    cross-validation keeps the clauses of one document together.
    """
    from taxonomy.segment import CLAUSE, clauses_from_units

    known = set(tax.ids)
    units, labels = read_unit_labels(units_path, labels_path, LabelError)
    documents: dict = {}
    for unit, label in zip(units, labels):
        documents.setdefault(unit.get("doc"), []).append((unit, label))
    out = []
    for doc, pairs in documents.items():
        for clause, (unit, label) in zip(clauses_from_units([u for u, _ in pairs]), pairs):
            check_label_row(label, known, f"{labels_path}: {doc}/{unit.get('idx')}")
            if clause.kind != CLAUSE:
                continue
            out.append({"text": clause.text, "context": clause.context or clause.text, "heading": clause.heading,
                        "lead_in": clause.lead_in, "labels": label["labels"], "modality": label.get("modality"),
                        "doc": f"{Path(units_path).name}#{doc}"})
    if not out:
        raise LabelError(f"{units_path}: no labelled clauses")
    return out


LABELLED_WEIGHT = 3.0


def build_training_set(tax: Taxonomy, labelled: list[dict] | None = None, use_examples: bool = True,
                       seed: int = 0, labelled_weight: float = LABELLED_WEIGHT) -> TrainingSet:
    records, labels, groups = taxonomy_records(tax, seed) if use_examples else ([], [], [])
    n_examples = len(records)
    start = (max(groups) + 1) if groups else 0
    doc_groups: dict = {}
    labelled = labelled or []
    for i, row in enumerate(labelled):
        heading = row.get("heading") or ""
        if isinstance(heading, list):
            heading = " > ".join(heading)
        records.append({"text": row["text"], "context": row.get("context") or "", "heading": heading,
                        "lead_in": row.get("lead_in") or "", "hard": True})
        labels.append(tuple(row["labels"]))
        # the clauses of one labelled document share a cross-validation fold
        doc = row.get("doc")
        groups.append(start + i if doc is None else doc_groups.setdefault(doc, start + len(labelled) + len(doc_groups)))
    if not records:
        raise LabelError("nothing to train on")
    index = {cid: k for k, cid in enumerate(tax.ids)}
    Y = np.zeros((len(records), len(index)), dtype=np.int8)
    for r, labs in enumerate(labels):
        for cid in labs:
            Y[r, index[cid]] = 1
    # a labelled clause from a real policy counts for more than one of the (augmented) examples
    weights = np.where(np.arange(len(records)) < n_examples, 1.0, labelled_weight)
    return TrainingSet(records, Y, np.asarray(groups), weights, n_examples, len(labelled or []))


BACKENDS = ("tfidf", "embeddings")


def default_tagger(backend: str, taxonomy_path: str) -> ClauseTagger:
    """The tagger of a backend: sparse features only, or sparse features plus sentence embeddings."""
    sparse = ClauseFeaturizer(taxonomy_path=taxonomy_path)
    if backend == "tfidf":
        return ClauseTagger(featurizer=sparse)
    if backend == "embeddings":
        from taxonomy.embeddings import EmbeddingFeaturizer

        return ClauseTagger(featurizer=EmbeddingFeaturizer(base=sparse))
    raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")


def train_model(labelled_path: str | Path | None = None, taxonomy_path: str | Path | None = None,
                use_examples: bool = True, tagger: ClauseTagger | None = None, seed: int = 0,
                backend: str = "tfidf", documents: Sequence[tuple[str, str]] = (),
                extra_examples: Sequence[str | Path] = (), labelled_rows: list[dict] | None = None,
                labelled_weight: float = LABELLED_WEIGHT) -> TaggerModel:
    """Train a model from the taxonomy file's examples and, optionally, labelled clauses.

    ``labelled_path`` is a JSON-lines file of labelled clauses; ``documents``
    are (units, labels) file pairs of labelled documents, read in context;
    ``extra_examples`` are YAML files of more example clauses (see
    ``taxonomy.add_examples``); ``labelled_rows`` are labelled clauses already
    read (as ``read_labelled_documents`` returns them), each weighing
    ``labelled_weight`` examples.
    """
    path = str(taxonomy_path or TAXONOMY_PATH)
    tax = load_taxonomy(path)
    for extra in extra_examples:
        tax = add_examples(tax, extra)
    labelled = read_labelled(labelled_path, tax) if labelled_path else []
    for units_path, labels_path in documents:
        labelled += read_labelled_documents(units_path, labels_path, tax)
    labelled = labelled + list(labelled_rows or [])
    data = build_training_set(tax, labelled or None, use_examples, seed, labelled_weight)
    tagger = tagger if tagger is not None else default_tagger(backend, path)
    if isinstance(tagger.featurizer, ClauseFeaturizer) and tagger.featurizer.taxonomy_path is None:
        tagger.set_params(featurizer__taxonomy_path=path)
    tagger.fit(data.records, data.Y, groups=data.groups, sample_weight=data.weights,
               threshold_rows=[r["hard"] for r in data.records])
    # the file's location is not part of what the model learned
    params = {k: v for k, v in tagger.get_params(deep=True).items()
              if not hasattr(v, "get_params") and not k.endswith("taxonomy_path")}
    modality = ModalityTagger().fit()
    version = model_version(tax.version if backend == "tfidf" else f"{tax.version}-{backend}", {
        "taxonomy": tax.digest,
        "modality": modality.digest_,  # a change of modality rules alone must re-tag the corpus too
        "labelled": labelled or [],
        "use_examples": use_examples,
        "params": params,
        "seed": seed,
        **({"labelled_weight": labelled_weight} if labelled_weight != LABELLED_WEIGHT else {}),
    })
    return TaggerModel(
        version=version,
        categories=list(tax.ids),
        tagger=tagger,
        modality=modality,
        taxonomy_version=tax.version,
        taxonomy_digest=tax.digest,
        info={
            "trained_at": utcnow(),
            "taxonomy_examples": data.n_examples,
            "labelled_clauses": data.n_labelled,
            "labelled_weight": labelled_weight,
            "labelled_file": str(labelled_path) if labelled_path else None,
            "labelled_documents": [list(map(str, pair)) for pair in documents],
            "extra_examples": [str(p) for p in extra_examples],
            "backend": backend,
            "thresholds": {cid: float(t) for cid, t in zip(tax.ids, tagger.thresholds_)},
        },
    )
