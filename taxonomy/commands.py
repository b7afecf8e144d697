"""Commands: policycorpus segment, policycorpus tag, policycorpus taxonomy ..."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from policycorpus.db import open_db
from policycorpus.options import UserError, existing_db_option, quiet_option
from taxonomy.llm_commands import backend_options, check_backend, with_backend, write_jsonl

model_option = click.option(
    "--model", "model_file", type=click.Path(dir_okay=False),
    help="Tagger model file (default: $POLICYCORPUS_MODEL or the model shipped with PolicyCorpus).",
)


def _progress(label: str, quiet: bool):
    if quiet:
        return None

    def report(done: int, total: int) -> None:
        if done == total or done % 50 == 0:
            click.echo(f"{label}: {done}/{total} snapshots", err=True)

    return report


def _model(path):
    from taxonomy.pipeline import load_tagger

    return load_tagger(path)


@click.command()
@existing_db_option
@quiet_option
def segment(db_path, quiet):
    """Split every snapshot not yet segmented into clauses.

    One clause per paragraph or list item (long paragraphs split at
    sentences), with heading path, lead-in and character span; headings and
    boilerplate are kept but marked. Incremental: snapshots already segmented
    by this segmenter version are skipped.

    \b
    Example:
        policycorpus segment
        policycorpus segment --db corpus.db
    """
    from taxonomy.pipeline import segment_snapshots

    db = open_db(db_path)
    stats = segment_snapshots(db, _progress("segment", quiet))
    if stats["snapshots"] == 0:
        click.echo(f"Nothing to segment: every snapshot is segmented by {stats['version']}.")
    else:
        click.echo(f"Segmented {stats['snapshots']} snapshots into {stats['clauses']} clauses ({stats['version']}).")


@click.command()
@existing_db_option
@model_option
@quiet_option
@backend_options(for_corpus=True)
@with_backend
def tag(db_path, model_file, quiet, backend, llm_model, only, llm_args):
    """Tag the clauses of every snapshot not yet tagged by the current model.

    Each clause gets zero or more taxonomy categories with a confidence and
    one modality; every tag records the model version. Run 'policycorpus
    segment' first. Incremental: a second run with the same model does nothing.

    \b
    Example:
        policycorpus tag
        policycorpus tag --model my-model.joblib
        policycorpus tag --backend llm --llm-model gpt-4o-mini --max-requests 200
        policycorpus tag --backend llm --llm-model gpt-4o-mini --only uncertain
    """
    check_backend(backend, llm_model, only=only, **llm_args)
    if backend == "llm":
        from taxonomy.llm_commands import run_tag

        return run_tag(db_path, quiet, llm_model, only=only, offline_model_file=model_file, **llm_args)
    from taxonomy.evaluate import load_card
    from taxonomy.pipeline import card_path, model_path, store_quality_card, tag_snapshots

    model = _model(model_file)
    try:  # read before tagging, so that a broken card fails the command before it writes anything
        card = load_card(card_path(model_path(model_file)), model.version)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    calibration = _calibration_or_none(model, model_file, quiet)
    db = open_db(db_path)
    stats = tag_snapshots(db, model, _progress("tag", quiet), calibration=calibration)
    store_quality_card(db, card)
    if stats["snapshots"] == 0:
        unsegmented = db.execute(
            "select count(*) from snapshots where id not in (select snapshot_id from processing where step='segment')"
        ).fetchone()[0]
        hint = f" ({unsegmented} snapshots not segmented yet: run 'policycorpus segment')" if unsegmented else ""
        click.echo(f"Nothing to tag: every segmented snapshot is tagged by {stats['version']}{hint}.")
    else:
        click.echo(f"Tagged {stats['clauses']} clauses of {stats['snapshots']} snapshots: "
                   f"{stats['tags']} tags ({stats['version']}).")


def _calibration_or_none(model: Any, model_file: str | None, quiet: bool) -> Any:
    """The model's cell thresholds; without them (a newly trained model) cells are not calibrated, and we say so."""
    from policycorpus.errors import NotFoundError
    from taxonomy.llm_commands import calibration_or_note

    return calibration_or_note(model, model_file, quiet, "grid cells will be covered/absent only, none marked uncertain",
                               missing_only=NotFoundError)


@click.group()
def taxonomy():
    """The clause taxonomy: show it, train a tagger model, classify and evaluate labelled sets.

    \b
    Example:
        policycorpus taxonomy show
        policycorpus taxonomy classify units.jsonl -o labelled.jsonl
        policycorpus taxonomy evaluate --units units.jsonl --labels labels.jsonl
    """


@taxonomy.command()
@click.option("--examples", is_flag=True, help="Also list the example clauses.")
@click.option("--json", "as_json", is_flag=True, help="Print the categories as JSON.")
def show(examples, as_json):
    """List the categories of the taxonomy file by group.

    \b
    Example:
        policycorpus taxonomy show
        policycorpus taxonomy show --examples
    """
    from taxonomy.taxonomy import load_taxonomy

    tax = load_taxonomy()
    if as_json:
        click.echo(json.dumps([{
            "id": c.id, "name": c.name, "group": c.group, "description": c.description,
            "phrases": list(c.phrases), "examples": [e.text for e in c.examples],
            "subcategories": list(c.subcategories),
        } for c in tax.categories], indent=2, ensure_ascii=False))
        return
    for group in tax.groups:
        click.echo(f"{group}")
        for c in [c for c in tax.categories if c.group == group]:
            click.echo(f"  {c.id:<18} {c.name} ({len(c.examples)} examples)")
            click.echo(f"  {'':<18} {c.description}")
            if examples:
                for e in c.examples:
                    click.echo(f"  {'':<20}- {e.text}")


@taxonomy.command()
@click.argument("labels", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Model file to write (default: taxonomy-model-<version>.joblib).")
@click.option("--no-examples", is_flag=True, help="Train on LABELS only, without the taxonomy file's examples.")
@click.option("--backend", type=click.Choice(["tfidf", "embeddings"]), default="tfidf", show_default=True,
              help="Features: sparse n-grams and phrases, or those plus sentence embeddings "
                   "(needs: pip install 'policycorpus[embeddings]').")
@click.option("--units", "units_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Labelled documents: JSON lines {doc, idx, heading, text} (repeat with --labels for more sets).")
@click.option("--labels", "labels_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Their labels: JSON lines {doc, idx, labels, modality}, one --labels per --units.")
@click.option("--examples", "example_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="More example clauses, YAML: category id -> examples as in the taxonomy file ('none' -> "
                   "unlabelled). Repeatable.")
@click.option("--labelled-weight", type=click.FloatRange(min=0, min_open=True), default=3.0, show_default=True,
              help="How many taxonomy examples one labelled clause counts for.")
@click.option("--reviews", "reviews_path", type=click.Path(exists=True, dir_okay=False),
              help="A review store: its reviewed clauses (categories and modality after review) join the training "
                   "data; needs --db.")
@click.option("--db", "db_path", type=click.Path(exists=True, dir_okay=False),
              help="With --reviews: the corpus the decisions were made on.")
def train(labels, output, no_examples, backend, units_files, labels_files, example_files, labelled_weight,
          reviews_path, db_path):
    """Train a tagger model from the taxonomy examples and optional labelled clauses.

    LABELS is a JSON-lines file, one clause a line: {"text": ..., "heading":
    ..., "lead_in": ..., "labels": ["confidentiality", ...]}. Labelled whole
    documents in the evaluation format (--units with --labels) are read in
    context: list items get their lead-ins. Without either the model is built
    from the taxonomy file alone (that is how the default model is made). The
    file name carries the model version.

    \b
    Example:
        policycorpus taxonomy train my-labels.jsonl
        policycorpus tag --model taxonomy-model-tagger-t1-0123456789.joblib
        policycorpus taxonomy train --units eval/owndocs/oss.units.jsonl --labels eval/owndocs/oss.labels.jsonl
        policycorpus taxonomy train --examples eval/candidates/realdev-round.yaml -o candidate.joblib
        policycorpus taxonomy train -o taxonomy/models/default.joblib
        policycorpus taxonomy train --backend embeddings -o taxonomy/models/embeddings.joblib
        policycorpus taxonomy train --reviews corpus.reviews.db --db corpus.db -o reviewed.joblib
    """
    from taxonomy.taxonomy import TaxonomyError
    from taxonomy.training import LabelError, train_model

    documents = _pairs(units_files, labels_files)
    reviewed = _reviewed_rows(reviews_path, db_path)
    if no_examples and not (labels or documents or reviewed):
        raise UserError("--no-examples needs a LABELS file or --units/--labels")
    click.echo(f"Training ({backend}) ...", err=True)
    try:
        model = train_model(labels, use_examples=not no_examples, backend=backend, documents=documents,
                            extra_examples=example_files, labelled_weight=labelled_weight, labelled_rows=reviewed)
    except (LabelError, TaxonomyError) as exc:
        raise UserError(str(exc)) from exc
    except RuntimeError as exc:  # the embeddings extra is missing
        raise UserError(str(exc)) from exc
    path = Path(output or f"taxonomy-model-{model.version}.joblib")
    if reviews_path:
        model.info["reviewed_clauses"] = len(reviewed)
        model.info["review_store"] = Path(reviews_path).name
    model.save(path)
    if reviews_path:
        _record_reviews_in_card(path, model.version, len(reviewed), Path(reviews_path).name)
    click.echo(f"Saved model {model.version} to {path} "
               f"({model.info['taxonomy_examples']} example rows, {model.info['labelled_clauses']} labelled clauses"
               + (f", {len(reviewed)} of them reviewed clauses" if reviews_path else "") + ").")


def _reviewed_rows(reviews_path, db_path) -> list[dict]:
    if not reviews_path:
        if db_path:
            raise UserError("--db is for --reviews")
        return []
    if not db_path:
        raise UserError("--reviews needs --db CORPUS (the corpus the decisions were made on)")
    from policycorpus import reviews
    from policycorpus.db import open_db

    db = open_db(db_path)
    reviews.attach(db.conn, reviews_path)
    rows = reviews.training_rows(db.conn)
    for row in rows:
        row.pop("clause_key", None)
    return rows


def _record_reviews_in_card(model_file: Path, version: str, n: int, store: str) -> None:
    """The model's card (MODEL.card.json) records how many reviewed clauses it was trained on."""
    import json

    from taxonomy.evaluate import load_card
    from taxonomy.pipeline import card_path

    path = card_path(model_file)
    card = load_card(path, version) or {"model_version": version, "sets": {}}
    card["training"] = {"reviewed_clauses": n, "review_store": store}
    path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")


def _pairs(units_files, labels_files) -> list[tuple[str, str]]:
    if len(units_files) != len(labels_files):
        raise UserError(f"give one --labels for each --units ({len(units_files)} --units, "
                        f"{len(labels_files)} --labels)")
    return list(zip(units_files, labels_files))


def _read_jsonl(path: str, require_text: bool = True) -> list[dict]:
    from taxonomy.training import json_objects

    return [row for _, row in json_objects(path, UserError, require_text)]


@taxonomy.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of standard output.")
@model_option
@backend_options(for_corpus=False)
@with_backend
def classify(file, output, model_file, backend, llm_model, llm_args):
    """Label the text units of a JSON-lines file.

    Each line needs a "text" field and may have a "heading" (path joined by
    ' > ') and a "doc" (lines of one document must be consecutive). Lines come
    back unchanged plus "labels", "scores", "modality", "modality_score",
    "kind" and "model_version".

    \b
    Example:
        policycorpus taxonomy classify units.jsonl -o labelled.jsonl
        echo '{"text": "Never share your password."}' | policycorpus taxonomy classify -
        policycorpus taxonomy classify units.jsonl --backend llm --llm-model gpt-4o-mini
    """
    from taxonomy.pipeline import classify_units

    check_backend(backend, llm_model, **llm_args)
    rows = _read_jsonl("/dev/stdin" if file == "-" else file)
    if backend == "llm":
        from taxonomy.llm_commands import run_classify

        return run_classify(rows, output, llm_model, **llm_args)
    out = classify_units(rows, _model(model_file))
    write_jsonl(out, output)
    if output:
        click.echo(f"Wrote {len(out)} labelled units to {output}.", err=True)


@taxonomy.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@model_option
@click.option("--thresholds", "thresholds_file", type=click.Path(dir_okay=False),
              help="Cell thresholds (default: MODEL.thresholds.json beside the model file).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of standard output.")
@backend_options(for_corpus=False)
@with_backend
def coverage(file, model_file, thresholds_file, output, backend, llm_model, llm_args):
    """Say, per document and category, whether the category is covered, absent or uncertain.

    Reads the same JSON lines as 'taxonomy classify' and prints one JSON line
    per document and category: {"doc", "category", "state", "score",
    "evidence_idx"}. The state is "covered" or "absent" where the model is
    confident (per-category thresholds on a calibrated cell score, fitted by
    cross-validation on real labelled policies), else "uncertain" (check by
    hand). "evidence_idx" is the idx of the unit that scores highest for the
    category, null when absent.

    \b
    Example:
        policycorpus taxonomy coverage units.jsonl
        policycorpus taxonomy coverage units.jsonl --model my-model.joblib -o cells.jsonl
        policycorpus taxonomy coverage units.jsonl --backend llm --llm-model gpt-4o-mini

    With --backend llm the language model's own decisions make the cells
    (covered where it gave a unit the category, else absent; "calibrated":
    false): it has no fitted thresholds, so nothing is marked uncertain.
    """
    from policycorpus.errors import PolicyCorpusError
    from taxonomy.pipeline import coverage_units, get_calibration

    check_backend(backend, llm_model, **llm_args)
    rows = _read_jsonl("/dev/stdin" if file == "-" else file)
    if backend == "llm":
        from taxonomy.llm_commands import run_coverage

        return run_coverage(rows, output, llm_model, **llm_args)
    model = _model(model_file)
    try:
        calibration = get_calibration(model, model_file, thresholds_file)
    except PolicyCorpusError as exc:
        raise UserError(str(exc)) from exc
    cells = coverage_units(rows, model, calibration)
    write_jsonl(cells, output)
    if output:
        click.echo(f"Wrote {len(cells)} cells to {output}.", err=True)


@taxonomy.command()
@click.option("--units", "units_files", required=True, multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="JSON lines {doc, idx, heading, text}; repeat (with --labels) to pool several sets.")
@click.option("--labels", "labels_files", required=True, multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="JSON lines {doc, idx, labels, modality}, one --labels per --units.")
@model_option
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--card", "card_name", metavar="NAME",
              help="Also record the figures under NAME in the model's quality card (MODEL.card.json beside the "
                   "model file; with --backend llm taxonomy/models/llm-MODEL.card.json), which 'policycorpus tag' "
                   "copies into corpus.db and comparison reports show.")
@click.option("--description", default="", help="With --card: what the labelled set is.")
@backend_options(for_corpus=False)
@with_backend
def evaluate(units_files, labels_files, model_file, as_json, card_name, description, backend, llm_model, llm_args):
    """Classify labelled units and print how well the model agrees with the labels.

    Prints per-category precision, recall and F1, micro and macro F1,
    modality accuracy and document coverage F1 (a category is covered by a
    document when any of its units carries it). When the model has cell
    thresholds (MODEL.thresholds.json), also the three-state cells: the share
    of (document, category) cells decided (covered or absent), how many of
    those are right, and how many covered cells' evidence units carry the
    category. Units and labels are matched
    by (doc, idx); several sets given with repeated --units/--labels are
    scored as one.

    \b
    Example:
        policycorpus taxonomy evaluate --units gold/units.jsonl --labels gold/labels.jsonl
        policycorpus taxonomy evaluate --units a.units.jsonl --labels a.labels.jsonl \\
            --units b.units.jsonl --labels b.labels.jsonl
        policycorpus taxonomy evaluate --units gold/units.jsonl --labels gold/labels.jsonl --card gold
        policycorpus taxonomy evaluate --units gold/units.jsonl --labels gold/labels.jsonl \\
            --backend llm --llm-model gpt-4o-mini --card gold
    """
    from policycorpus.errors import InputError, NotFoundError
    from taxonomy.evaluate import format_scores, score, score_cells, update_card
    from taxonomy.pipeline import card_path, classify_units, coverage_units, get_calibration, model_path
    from taxonomy.training import read_unit_labels

    units, gold = [], []
    for units_file, labels_file in _pairs(units_files, labels_files):
        u, g = read_unit_labels(units_file, labels_file, UserError)
        units += u
        gold += g
    check_backend(backend, llm_model, **llm_args)
    if backend == "llm":
        from taxonomy.llm_commands import run_evaluate

        return run_evaluate(units, gold, llm_model, as_json=as_json, card_name=card_name, description=description,
                            **llm_args)
    model = _model(model_file)
    # a labelled set is known by its folder and file name, so a set that moved (taxonomy/owndocs -> eval/owndocs)
    # is still recognised
    trained_on = {Path(u).parts[-2:] for u, _ in model.info.get("labelled_documents") or []}
    for units_file in units_files:
        if Path(units_file).resolve().parts[-2:] in trained_on:
            click.echo(f"note: model {model.version} was trained on {units_file}: these figures are not a test "
                       f"(for the shipped model, 'make evaluate' cross-validates)", err=True)
    predicted = classify_units(units, model)
    scores = score(gold, predicted, model.categories)
    try:
        calibration = get_calibration(model, model_file)
    except NotFoundError:  # a model without cell thresholds is scored on its clauses only
        calibration = None
    except InputError as exc:
        raise UserError(str(exc)) from exc
    if calibration is not None:
        score_cells(gold, coverage_units(units, model, calibration), scores)
    if as_json:
        click.echo(json.dumps({"model_version": model.version, **scores.as_dict()}, indent=2))
    else:
        click.echo(f"model {model.version}")
        click.echo(format_scores(scores))
    if card_name:
        path = card_path(model_path(model_file))
        try:
            update_card(path, model.version, card_name, scores, description)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot write the quality card {path}: {exc}") from exc
        click.echo(f"recorded as '{card_name}' in {path}", err=True)
