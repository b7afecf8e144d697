"""Company list: validated CSV import, listing and lookup."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from policycorpus.db import inserted_id, transaction, utcnow
from policycorpus.errors import InputError, NotFoundError

REQUIRED_COLUMNS = ("name",)  # homepage only for companies to crawl
KNOWN_COLUMNS = ("name", "homepage", "policy_url", "industry", "country", "peer_group", "org_type")


class CompanyInputError(InputError):
    """One or more rows of a company file are invalid."""


@dataclass
class CompanyRow:
    name: str
    homepage: str | None
    policy_url: str | None
    industry: str | None
    country: str | None
    peer_groups: list[str]
    # the optional columns the file had: a re-import changes only these
    given: frozenset[str] = frozenset(KNOWN_COLUMNS)
    org_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # every other column, kept as they are

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
    rows, problems = [], []
    seen: dict[str, int] = {}  # lower-case name -> its first line
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
        elif any(ord(ch) < 32 or ord(ch) == 127 for ch in values["name"]):
            errors.append("name contains control characters")
        if values.get("homepage") and (err := _check_url(values["homepage"], "homepage")):
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
                homepage=values.get("homepage") or None,
                policy_url=values.get("policy_url") or None,
                industry=values.get("industry") or None,
                country=values.get("country") or None,
                peer_groups=groups,
                given=frozenset(header) & frozenset(KNOWN_COLUMNS) | ({"metadata"} if set(header) - set(KNOWN_COLUMNS) else set()),
                org_type=values.get("org_type") or None,
                metadata={k: v for k, v in values.items() if k not in KNOWN_COLUMNS and k and v},
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
        "org_type": row.org_type,
        "metadata": json.dumps(row.metadata, ensure_ascii=False, sort_keys=True),
    }
    if existing:
        known = json.loads(existing["domains"] or "[]")
        record["domains"] = json.dumps(known + [d for d in row.domains if d not in known])
        db.table("companies").update(existing["id"], {k: v for k, v in record.items() if _column_given(k, row.given)})
        return existing["id"], False
    record["added_at"] = utcnow()
    if db["companies"].count_where("slug = ?", [record["slug"]]):
        record["slug"] = f"{record['slug']}-{db['companies'].count + 1}"
    return inserted_id(db.table("companies").insert(record)), True


# companies columns that come from an optional input column (the others are always given or derived)
_SOURCE_COLUMN = {"homepage": "homepage", "policy_url": "policy_url", "industry": "industry", "country": "country",
                  "peer_groups": "peer_group", "org_type": "org_type", "metadata": "metadata"}


def _column_given(db_column: str, given: frozenset[str]) -> bool:
    source = _SOURCE_COLUMN.get(db_column)
    return source is None or source in given


def import_companies(db: sqlite_utils.Database, rows: list[CompanyRow]) -> tuple[int, int]:
    """Insert or update companies in one transaction; returns (added, updated).

    An existing company keeps the values of the columns the input does not have.
    """
    added = updated = 0
    with transaction(db):
        for row in rows:
            _, created = upsert_company(db, row)
            added += created
            updated += not created
    return added, updated


def ensure_company(db: sqlite_utils.Database, name: str, **fields: Any) -> int:
    """Id of the company called `name`, creating a minimal row if it does not exist."""
    existing = next(db["companies"].rows_where("name = ?", [name], limit=1), None)
    if existing:
        return existing["id"]
    record = {"name": name, "slug": slugify(name), "added_at": utcnow(), "domains": "[]", "peer_groups": "[]"}
    record.update({k: v for k, v in fields.items() if v is not None})
    return inserted_id(db.table("companies").insert(record))


def find_companies(db: sqlite_utils.Database, names: list[str]) -> list[dict]:
    """Look companies up by name or slug (case-insensitive); NotFoundError naming every unknown one."""
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
        raise NotFoundError(f"unknown compan{'y' if len(unknown) == 1 else 'ies'}: {', '.join(unknown)} (see 'policycorpus companies list')")
    return found


def companies_in_peer_group(db: sqlite_utils.Database, group: str) -> list[dict]:
    rows = [r for r in db["companies"].rows if group in json.loads(r["peer_groups"] or "[]")]
    if not rows:
        raise NotFoundError(f"no company is in peer group {group!r}")
    return rows
