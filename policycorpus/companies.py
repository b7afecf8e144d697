"""Company list: validated CSV import, listing and lookup."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click
import sqlite_utils

from policycorpus.db import open_db, utcnow
from policycorpus.options import UserError, db_option, existing_db_option

REQUIRED_COLUMNS = ("name", "homepage")
KNOWN_COLUMNS = ("name", "homepage", "policy_url", "industry", "country", "peer_group")


class CompanyInputError(ValueError):
    """One or more rows of a company file are invalid."""


@dataclass
class CompanyRow:
    name: str
    homepage: str
    policy_url: str | None
    industry: str | None
    country: str | None
    peer_groups: list[str]

    @property
    def domains(self) -> list[str]:
        hosts = []
        for url in (self.homepage, self.policy_url):
            host = urlsplit(url).hostname if url else None
            if host and host not in hosts:
                hosts.append(host)
        return hosts


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "company"


def _check_url(value: str, column: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{column} {value!r} is not an http(s) URL"
    return None


def parse_company_csv(path: str | Path) -> list[CompanyRow]:
    """Read and validate a company CSV; raise CompanyInputError listing every bad row by line number."""
    path = Path(path)
    if not path.is_file():
        raise CompanyInputError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CompanyInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CompanyInputError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(KNOWN_COLUMNS)}")
    reader.fieldnames = header
    rows, problems, seen = [], [], {}
    for record in reader:
        line = reader.line_num
        if None in record:
            problems.append(f"line {line}: more fields than columns")
            continue
        values = {k: (v or "").strip() for k, v in record.items()}
        if not any(values.values()):
            continue
        errors = []
        if not values.get("name"):
            errors.append("name is empty")
        if not values.get("homepage"):
            errors.append("homepage is empty")
        elif err := _check_url(values["homepage"], "homepage"):
            errors.append(err)
        if values.get("policy_url") and (err := _check_url(values["policy_url"], "policy_url")):
            errors.append(err)
        name = values.get("name", "")
        if name and name.lower() in seen:
            errors.append(f"duplicate name {name!r} (first on line {seen[name.lower()]})")
        if errors:
            problems.append(f"line {line}: " + "; ".join(errors))
            continue
        seen[name.lower()] = line
        groups = [g.strip() for g in re.split(r"[;|]", values.get("peer_group", "")) if g.strip()]
        rows.append(
            CompanyRow(
                name=name,
                homepage=values["homepage"],
                policy_url=values.get("policy_url") or None,
                industry=values.get("industry") or None,
                country=values.get("country") or None,
                peer_groups=groups,
            )
        )
    if problems:
        raise CompanyInputError(f"{path}: {len(problems)} bad row(s): " + " | ".join(problems))
    if not rows:
        raise CompanyInputError(f"{path}: no companies in file")
    return rows


def upsert_company(db: sqlite_utils.Database, row: CompanyRow) -> tuple[int, bool]:
    """Insert or update one company; returns its id and whether it is new."""
    existing = next(db["companies"].rows_where("name = ?", [row.name], limit=1), None)
    record = {
        "name": row.name,
        "slug": slugify(row.name),
        "homepage": row.homepage,
        "policy_url": row.policy_url,
        "domains": json.dumps(row.domains),
        "industry": row.industry,
        "country": row.country,
        "peer_groups": json.dumps(row.peer_groups),
    }
    if existing:
        db["companies"].update(existing["id"], record)
        return existing["id"], False
    record["added_at"] = utcnow()
    if db["companies"].count_where("slug = ?", [record["slug"]]):
        record["slug"] = f"{record['slug']}-{db['companies'].count + 1}"
    return db["companies"].insert(record).last_pk, True


def import_companies(db: sqlite_utils.Database, rows: list[CompanyRow]) -> tuple[int, int]:
    """Insert or update companies in one transaction; returns (added, updated)."""
    added = updated = 0
    with db.conn:
        for row in rows:
            _, created = upsert_company(db, row)
            added += created
            updated += not created
    return added, updated


def ensure_company(db: sqlite_utils.Database, name: str, **fields) -> int:
    """Id of the company called `name`, creating a minimal row if it does not exist."""
    existing = next(db["companies"].rows_where("name = ?", [name], limit=1), None)
    if existing:
        return existing["id"]
    record = {"name": name, "slug": slugify(name), "added_at": utcnow(), "domains": "[]", "peer_groups": "[]"}
    record.update({k: v for k, v in fields.items() if v is not None})
    return db["companies"].insert(record).last_pk


def find_companies(db: sqlite_utils.Database, names: list[str]) -> list[dict]:
    """Look companies up by name or slug (case-insensitive); UserError naming every unknown one."""
    found, unknown = [], []
    for name in names:
        row = next(
            db["companies"].rows_where("lower(name) = lower(?) or slug = lower(?)", [name, name], limit=1), None
        )
        if row is None:
            unknown.append(name)
        else:
            found.append(row)
    if unknown:
        raise UserError(f"unknown compan{'y' if len(unknown) == 1 else 'ies'}: {', '.join(unknown)} (see 'policycorpus companies list')")
    return found


def companies_in_peer_group(db: sqlite_utils.Database, group: str) -> list[dict]:
    rows = [r for r in db["companies"].rows if group in json.loads(r["peer_groups"] or "[]")]
    if not rows:
        raise UserError(f"no company is in peer group {group!r}")
    return rows


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
    with their line numbers and nothing is imported.

    \b
    Example:
        policycorpus companies import clients.csv --db corpus.db
    """
    try:
        rows = parse_company_csv(csv_file)
    except CompanyInputError as exc:
        raise UserError(str(exc)) from None
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
