"""`policycorpus review export|import|status|sample|decide` and `policycorpus agreement`: thin click commands over
policycorpus.reviews and policycorpus.agreement."""

from __future__ import annotations

import json
import sys

import click

from policycorpus import reviews as rv
from policycorpus.agreement import agreement_table, model_tags_of
from policycorpus.db import open_db
from policycorpus.errors import InputError, NotFoundError
from policycorpus.options import F, existing_db_option, writable_output


def reviews_option(fn: F) -> F:
    return click.option("--reviews", "reviews_path", type=click.Path(dir_okay=False),
                        help="The review store (default: CORPUS.reviews.db beside the corpus).")(fn)


def _existing_store(db_path, reviews_path):
    path = rv.resolve(db_path, reviews_path)
    if not path.exists():
        raise NotFoundError(f"no review store at {path} (review with 'policycorpus serve --review --reviewer NAME')")
    return rv.open_store(path)


@click.group()
def review():
    """Review decisions: move them between machines, count them, draw a sample for double coding.

    \b
    Example:
        policycorpus review status
        policycorpus review export decisions.jsonl
        policycorpus review import decisions.jsonl --db other.db
        policycorpus review sample --n 200 --seed 1 > sample.jsonl
    """


@review.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@existing_db_option
@reviews_option
def export(file, db_path, reviews_path):
    """Write every decision as one JSON line (keyed by clause key and document URL); '-' for stdout.

    \b
    Example:
        policycorpus review export decisions.jsonl
    """
    store = _existing_store(db_path, reviews_path)
    lines = list(rv.export_lines(store))
    if file == "-":
        for line in lines:
            click.echo(line)
        return
    writable_output(file)
    with open(file, "w", encoding="utf-8") as out:
        out.writelines(line + "\n" for line in lines)
    click.echo(f"{len(lines)} decisions written to {file}", err=True)


@review.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8", errors="replace"))
@existing_db_option
@reviews_option
def import_(file, db_path, reviews_path):
    """Append the decisions of a JSON-lines file (those already present are skipped). A decision on a clause key
    this corpus lacks is matched by its document's URL (or imported file name) and the clause's text.

    \b
    Example:
        policycorpus review import decisions.jsonl --db fresh.db
    """
    decisions = rv.parse_lines(file)
    db = open_db(db_path)
    matched, unmatched = rv.rekey(db.conn, decisions)
    store = rv.open_store(rv.resolve(db_path, reviews_path))
    added = rv.import_decisions(store, matched)
    click.echo(f"{added} decisions imported ({len(matched) - added} already present"
               + (f", {unmatched} on clauses this corpus does not have" if unmatched else "") + ")")


@review.command("status")
@existing_db_option
@reviews_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def status(db_path, reviews_path, as_json):
    """Decision counts per reviewer, action and category.

    \b
    Example:
        policycorpus review status --reviews corpus.reviews.db
    """
    rows = rv.status(_existing_store(db_path, reviews_path))
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    if not rows:
        click.echo("no decisions yet")
    for row in rows:
        click.echo(f"{row['reviewer']:<20} {row['action']:<9} {row['what']:<28} {row['decisions']:>6} decisions "
                   f"{row['items']:>6} items")


@review.command("sample")
@existing_db_option
@click.option("--n", "n", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
def sample(db_path, n, seed):
    """Print a reproducible random sample of current clauses (JSON lines) for double coding.

    \b
    Example:
        policycorpus review sample --n 200 --seed 1 > sample.jsonl
    """
    db = open_db(db_path)
    for row in rv.sample(db.conn, n, seed):
        click.echo(json.dumps(row, ensure_ascii=False))


@review.command("decide")
@click.argument("clause_key")
@click.argument("action", type=click.Choice(rv.ACTIONS))
@click.argument("value", required=False)
@click.option("--reviewer", required=True)
@click.option("--note")
@existing_db_option
@reviews_option
def decide(clause_key, action, value, reviewer, note, db_path, reviews_path):
    """Record one decision from the command line: ACTION is confirm/remove/add (VALUE = category), modality
    (VALUE = modality) or note; for check, CLAUSE_KEY is a document key and VALUE is CATEGORY=STATE.

    \b
    Example:
        policycorpus review decide 648f723b7405068e remove privacy --reviewer ana
        policycorpus review decide 1f0e2d3c4b5a check security=covered --reviewer ana
    """
    db = open_db(db_path)
    store = rv.open_store(rv.resolve(db_path, reviews_path))
    if action == "check":
        category, _, state = (value or "").partition("=")
        decision = rv.cell_decision(db.conn, clause_key, category, state, reviewer)
    elif action in rv.TAG_ACTIONS:
        decision = rv.clause_decision(db.conn, clause_key, reviewer, action, category=value, note=note)
    else:
        decision = rv.clause_decision(db.conn, clause_key, reviewer, action, value=value, note=note)
    rv.record(store, [decision])
    click.echo(f"recorded: {reviewer} {action} {value or ''} on {clause_key}")


def _fmt(value) -> str:
    return "   -" if value is None else f"{value:6.3f}"


@click.command()
@existing_db_option
@reviews_option
@click.option("--reviewers", help="Comma-separated reviewer names (default: every reviewer).")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def agreement(db_path, reviews_path, reviewers, as_json):
    """Inter-coder agreement on the clauses the reviewers all coded: Cohen's kappa per category and overall
    (two reviewers), Krippendorff's alpha (nominal; two or more), and each reviewer's kappa with the model.

    \b
    Example:
        policycorpus agreement --reviewers ana,ben
    """
    store = _existing_store(db_path, reviews_path)
    names = [n.strip() for n in (reviewers or "").split(",") if n.strip()] or None
    db = open_db(db_path)
    keys = [r[0] for r in store.execute("select distinct clause_key from decisions where clause_key is not null")]
    table = agreement_table(store, model_tags_of(db.conn, keys), names)
    if table["missing"]:
        raise InputError(f"no decisions by {', '.join(table['missing'])}")
    if as_json:
        click.echo(json.dumps(table, indent=1))
        return
    names = table["reviewers"]
    heads = ["category", "clauses"] + (["kappa"] if len(names) == 2 else []) + (["alpha"] if len(names) > 1 else [])
    heads += [f"model~{r}" for r in names]
    click.echo("  ".join(f"{h:>12}" if i else f"{h:<28}" for i, h in enumerate(heads)))
    for row in table["rows"]:
        cells = [f"{row['category']:<28}", f"{row['clauses']:>12}"]
        if len(names) == 2:
            cells.append(f"{_fmt(row['kappa']):>12}")
        if len(names) > 1:
            cells.append(f"{_fmt(row['alpha']):>12}")
        cells += [f"{_fmt(row.get(f'kappa_model_{r}')):>12}" for r in names]
        click.echo("  ".join(cells))
    if len(names) < 2:
        click.echo("(one reviewer: only agreement with the model)", err=True)
    sys.stdout.flush()
