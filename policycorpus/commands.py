"""Commands about the corpus itself: the company list, row counts and the schema."""

from __future__ import annotations

import json

import click

from policycorpus.companies import import_companies, parse_company_csv
from policycorpus.db import TABLES, open_db, schema_markdown
from policycorpus.options import db_option, existing_db_option


@click.group()
def companies():
    """Manage the company list the crawler works from.

    \b
    Example:
        policycorpus companies import demo/companies.csv
        policycorpus companies list
    """


@companies.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@db_option
def import_command(csv_file, db_path):
    """Import companies from a CSV with columns name, homepage and optionally
    policy_url, industry, country, peer_group (several groups separated by ';').

    Every row is validated first; if any row is bad, the errors are reported
    with their line numbers and nothing is imported. A company already in the
    corpus keeps the values of columns the file does not have.

    \b
    Example:
        policycorpus companies import clients.csv --db corpus.db
    """
    rows = parse_company_csv(csv_file)
    db = open_db(db_path)
    added, updated = import_companies(db, rows)
    click.echo(f"Imported {len(rows)} companies from {csv_file}: {added} new, {updated} updated.")


@companies.command("list")
@existing_db_option
def list_command(db_path):
    """List the companies with their industry, peer groups and policy count.

    \b
    Example:
        policycorpus companies list
    """
    db = open_db(db_path)
    sql = """select c.name, c.industry, c.country, c.peer_groups, c.homepage,
                    (select count(*) from documents d where d.company_id = c.id) as policies
             from companies c order by c.name"""
    for row in db.query(sql):
        groups = ", ".join(json.loads(row["peer_groups"] or "[]"))
        click.echo(f"{row['name']}\t{row['industry'] or ''}\t{row['country'] or ''}\t{groups}\t{row['policies']} policies\t{row['homepage'] or ''}")


@click.command()
@existing_db_option
def status(db_path):
    """Print row counts of every table in the corpus.

    \b
    Example:
        policycorpus status --db corpus.db
    """
    db = open_db(db_path, create=False)
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


@click.command()
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="New folder for the release.")
@click.option("--version", "version", help="Release version (default: today's date).")
@click.option("--title", default="PolicyCorpus: organizations' social media policies", show_default=True)
@click.option("--author", "authors", multiple=True, help="An author for CITATION.cff (repeatable).")
@click.option("--license", "license_id", default="CC-BY-4.0", show_default=True, help="Licence of the data.")
@existing_db_option
def release(out_dir, version, title, authors, license_id, db_path):
    """Write a versioned dataset release of the corpus: organizations, documents,
    snapshots and clauses with their tags and confidence as CSV and Parquet, a
    Frictionless datapackage.json describing every column, the taxonomy's
    codebook, CITATION.cff and a README on how it was collected and measured.

    \b
    Example:
        policycorpus release -o dist/policycorpus-2026.1 --version 2026.1 --author "Ada Lovelace"
    """
    from policycorpus.release import write_release

    summary = write_release(open_db(db_path, create=False), out_dir, version=version, title=title,
                            authors=list(authors) or None, license_id=license_id)
    counts = ", ".join(f"{n} {name}" for name, n in summary.rows.items())
    click.echo(f"Release {summary.version} written to {summary.directory}: {counts}.")
