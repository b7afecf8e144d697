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
    """Import companies from a CSV with a name column and optionally homepage,
    policy_url, industry, country, peer_group (several groups separated by ';').

    A company without homepage or policy_url is not crawled: give neither for
    organizations whose policies you import as files (import-docs).

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
    """List the companies with their industry, peer groups, policy count, homepage and other names.

    \b
    Example:
        policycorpus companies list
    """
    db = open_db(db_path)
    from policycorpus.names import aliases

    sql = """select c.name, c.industry, c.country, c.peer_groups, c.homepage, c.display_name, c.aliases,
                    (select count(*) from documents d where d.company_id = c.id) as policies
             from companies c order by c.name"""
    for row in db.query(sql):
        groups = ", ".join(json.loads(row["peer_groups"] or "[]"))
        names = ""
        if row["display_name"] or aliases(row):
            names = f"\tshown as {row['display_name'] or row['name']}; also {', '.join(aliases(row)) or '-'}"
        click.echo(f"{row['name']}\t{row['industry'] or ''}\t{row['country'] or ''}\t{groups}\t{row['policies']} policies"
                   f"\t{row['homepage'] or ''}{names}")


@companies.command("alias")
@click.argument("name")
@click.argument("alias")
@click.option("--display", is_flag=True, help="Also show ALIAS instead of the full name in reports.")
@existing_db_option
def alias_command(name, alias, display, db_path):
    """Let a company be found (and, with --display, shown) by another name.

    NAME may be typed as people do: any case, a prefix, or close enough
    for a fuzzy match.

    \b
    Example:
        policycorpus companies alias "Deeson Group Ltd (UK agency)" Deeson --display
        policycorpus companies alias gitlab "GitLab Inc"
    """
    from policycorpus.names import add_alias, aliases, display_name

    row = add_alias(open_db(db_path), name, alias, display=display)
    click.echo(f"{row['name']}: shown as {display_name(row)!r}; also found as {', '.join(aliases(row))}")


@companies.group("group")
def group_command():
    """Peer groups without a CSV.

    \b
    Example:
        policycorpus companies group add agencies deeson "civic actions" mattermost
    """


@group_command.command("add")
@click.argument("group")
@click.argument("names", nargs=-1, required=True)
@existing_db_option
def group_add_command(group, names, db_path):
    """Add companies (names as people type them) to peer group GROUP.

    \b
    Example:
        policycorpus companies group add peers gitlab sourcegraph deeson
        policycorpus compare --peer-group peers
    """
    from policycorpus.names import add_to_group

    rows = add_to_group(open_db(db_path), group, list(names))
    click.echo(f"Peer group {group!r}: added {', '.join(r['name'] for r in rows)}")


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
@click.option("--reviews", "reviews_path", type=click.Path(dir_okay=False),
              help="Review store whose decisions override the model's tags (default: CORPUS.reviews.db when it "
                   "exists); its decisions are written to the release as review_decisions.jsonl.")
@existing_db_option
def release(out_dir, version, title, authors, license_id, reviews_path, db_path):
    """Write a versioned dataset release of the corpus: organizations, documents,
    snapshots and clauses with their tags and confidence as CSV and Parquet, a
    Frictionless datapackage.json describing every column, the taxonomy's
    codebook, CITATION.cff and a README on how it was collected and measured.

    \b
    Example:
        policycorpus release -o dist/policycorpus-2026.1 --version 2026.1 --author "Ada Lovelace"
    """
    from policycorpus import reviews
    from policycorpus.release import write_release

    db = open_db(db_path, create=False)
    store = reviews.attach_if_present(db, db_path, reviews_path)  # tags and modalities as reviewed
    summary = write_release(db, out_dir, version=version, title=title,
                            authors=list(authors) or None, license_id=license_id)
    if store is not None:
        lines = list(reviews.export_lines(reviews.open_store(store)))
        (summary.directory / "review_decisions.jsonl").write_text("".join(line + "\n" for line in lines),
                                                                 encoding="utf-8")
        click.echo(f"{len(lines)} review decisions applied and written to review_decisions.jsonl", err=True)
    counts = ", ".join(f"{n} {name}" for name, n in summary.rows.items())
    click.echo(f"Release {summary.version} written to {summary.directory}: {counts}.")
