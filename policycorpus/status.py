"""Corpus overview and schema documentation commands."""

from __future__ import annotations

import click

from policycorpus.db import TABLES, open_db, schema_markdown
from policycorpus.options import db_option, existing_db_option


@click.command()
@existing_db_option
def status(db_path):
    """Print row counts of every table in the corpus.

    \b
    Example:
        policycorpus status --db corpus.db
    """
    db = open_db(db_path)
    for table in TABLES:
        click.echo(f"{table.name:18} {db[table.name].count:>10,}")


@click.command()
@click.option("--markdown", is_flag=True, help="Print the column-by-column documentation (docs/schema.md).")
@db_option
def schema(markdown, db_path):
    """Create or migrate the corpus schema, or print its documentation.

    \b
    Example:
        policycorpus schema --markdown > docs/schema.md
    """
    if markdown:
        click.echo(schema_markdown())
        return
    open_db(db_path)
    click.echo(f"Schema of {db_path} is up to date.")
