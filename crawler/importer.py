"""`policycorpus import-docs`: add local policy files to the corpus without crawling.

Which company a file belongs to comes from, in this order:

1. a sidecar table (``--sidecar``, CSV or TSV) with a ``file`` column and a
   ``company`` (or ``organization``) column, optionally ``industry``,
   ``country``, ``peer_group`` and ``url`` (the URL replaces the file URI);
   its ``file`` values are paths relative to the sidecar's folder, matched
   against the imported files by path suffix (``texts/a.md`` matches
   ``/any/where/texts/a.md``);
2. ``--company NAME`` for every file the sidecar does not list;
3. with neither option, a sidecar found next to the files: ``INDEX.tsv``,
   ``index.tsv`` or ``index.csv`` in a given folder or the folder above it.

If some file is still not covered, nothing is imported and the error lists
the uncovered files. Everything is validated before the database is opened,
so bad input never touches corpus.db.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from policycorpus.errors import InputError, NotFoundError
from policycorpus.extract import DEFAULT_TIMEOUT, Extracted, extract_bounded

CONTENT_TYPES = {
    ".md": "text/markdown", ".markdown": "text/markdown", ".txt": "text/plain", ".text": "text/plain",
    ".html": "text/html", ".htm": "text/html", ".xhtml": "text/html", ".php": "application/x-httpd-php",
    ".pdf": "application/pdf", ".rst": "text/x-rst", ".adoc": "text/asciidoc", ".asciidoc": "text/asciidoc",
}
SIDECAR_NAMES = ("INDEX.tsv", "index.tsv", "index.csv")
FILE_COLUMNS = ("file", "path", "filename")
COMPANY_COLUMNS = ("company", "organization", "organisation", "org")
KNOWN_SIDECAR_COLUMNS = (*FILE_COLUMNS, *COMPANY_COLUMNS, "industry", "country", "peer_group", "url")
# Sidecar columns that describe the organization rather than one of its documents; every other extra
# column (source_repo, is_employee_sm_policy, ...) is kept as metadata of the document.
ORG_TYPE_COLUMNS = ("org_type", "organization_type", "organisation_type", "type_of_organization")
ORGANIZATION_COLUMNS = (*ORG_TYPE_COLUMNS, "sector", "size", "region", "headcount", "employees")


@dataclass
class SidecarRow:
    line: int
    file: str
    company: str
    industry: str | None = None
    country: str | None = None
    peer_groups: list[str] = field(default_factory=list)
    url: str | None = None
    org_metadata: dict[str, str] = field(default_factory=dict)
    doc_metadata: dict[str, str] = field(default_factory=dict)

    @property
    def org_type(self) -> str | None:
        return next((self.org_metadata[c] for c in ORG_TYPE_COLUMNS if self.org_metadata.get(c)), None)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(p for p in Path(self.file.replace("\\", "/")).parts if p not in (".", ""))


@dataclass
class Sidecar:
    path: Path
    rows: list[SidecarRow]

    def match(self, file: Path) -> SidecarRow | None:
        """The row whose `file` is this file: same path relative to the sidecar, else the longest path-suffix match."""
        resolved = file.resolve()
        for row in self.rows:
            if (self.path.parent / row.file).resolve() == resolved:
                return row
        parts = resolved.parts
        best: list[SidecarRow] = []
        best_len = 0
        for row in self.rows:
            n = len(row.parts)
            if n and parts[-n:] == row.parts:
                if n > best_len:
                    best, best_len = [row], n
                elif n == best_len:
                    best.append(row)
        if len(best) > 1 and len({r.company for r in best}) > 1:
            lines = ", ".join(str(r.line) for r in best)
            raise InputError(f"{file}: matches several rows of {self.path} (lines {lines}); give longer paths in its file column")
        return best[0] if best else None


@dataclass
class Assignment:
    path: Path
    company: str
    industry: str | None
    country: str | None
    peer_groups: list[str]
    url: str
    org_type: str | None = None
    org_metadata: dict[str, str] = field(default_factory=dict)
    doc_metadata: dict[str, str] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return self.path.name


@dataclass
class ImportSummary:
    files: int = 0
    new_documents: int = 0
    new_snapshots: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)
    bounded: list[str] = field(default_factory=list)  # imported, but extraction stopped at a work bound
    low_score: list[str] = field(default_factory=list)
    companies: set[str] = field(default_factory=set)


# ---------------------------------------------------------------------------- input


def find_files(paths: list[str | Path]) -> tuple[list[Path], list[Path]]:
    """Supported files under the given files/folders (recursive, sorted, hidden entries skipped).

    Returns (files, ignored); raises InputError for a missing path or an explicitly named unsupported file.
    """
    files: list[Path] = []
    ignored: list[Path] = []
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise NotFoundError(f"no such file or folder: {', '.join(missing)}")
    for given in map(Path, paths):
        if given.is_file():
            if given.suffix.lower() not in CONTENT_TYPES:
                raise InputError(f"{given}: unsupported file type {given.suffix or '(none)'}; supported: {', '.join(sorted(CONTENT_TYPES))}")
            files.append(given)
            continue
        for path in sorted(given.rglob("*")):
            relative = path.relative_to(given)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            (files if path.suffix.lower() in CONTENT_TYPES else ignored).append(path)
    unique: dict[Path, Path] = {}
    for path in files:
        unique.setdefault(path.resolve(), path)
    return list(unique.values()), ignored


def read_sidecar(path: str | Path) -> Sidecar:
    """Read a CSV or TSV sidecar; InputError naming every bad row."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"sidecar {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"sidecar {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.splitlines()
    if not lines:
        raise InputError(f"sidecar {path}: empty file")
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in lines[0] else ","
    reader = csv.DictReader(lines, delimiter=delimiter)
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    file_col = next((c for c in FILE_COLUMNS if c in header), None)
    company_col = next((c for c in COMPANY_COLUMNS if c in header), None)
    if not file_col or not company_col:
        raise InputError(
            f"sidecar {path}: needs a 'file' column and a 'company' (or 'organization') column; found {', '.join(header) or 'no header'}"
        )
    rows, problems = [], []
    for record in reader:
        values = {k: (v or "").strip() for k, v in record.items() if k}
        if not any(values.values()):
            continue
        if not values.get(file_col) or not values.get(company_col):
            problems.append(f"line {reader.line_num}: empty {file_col if not values.get(file_col) else company_col}")
            continue
        url = values.get("url") or source_url(values)
        if url and not re.match(r"^(https?|file)://", url):
            problems.append(f"line {reader.line_num}: url {url!r} is not an http(s) or file URL")
            continue
        groups = [g.strip() for g in re.split(r"[;|]", values.get("peer_group", "")) if g.strip()]
        extra = {k: v for k, v in values.items() if k not in KNOWN_SIDECAR_COLUMNS and k not in (file_col, company_col) and v}
        rows.append(
            SidecarRow(
                reader.line_num, values[file_col], values[company_col], values.get("industry") or None,
                values.get("country") or None, groups, url,
                org_metadata={k: v for k, v in extra.items() if k in ORGANIZATION_COLUMNS},
                doc_metadata={k: v for k, v in extra.items() if k not in ORGANIZATION_COLUMNS},
            )
        )
    if problems:
        raise InputError(f"sidecar {path}: {len(problems)} bad row(s): " + " | ".join(problems[:10]))
    return Sidecar(path, rows)


def source_url(values: dict[str, str]) -> str | None:
    """The public URL of a file in a source repository at a commit, from source_repo/source_path/source_commit.

    ``owner/name`` repositories are GitHub's; a repository given as a URL is used as it is.
    """
    repo, path = values.get("source_repo", ""), values.get("source_path", "").lstrip("/")
    if not repo or not path:
        return None
    ref = values.get("source_commit") or "HEAD"
    if re.match(r"^https?://", repo):
        base = repo.rstrip("/")
    elif re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
        base = f"https://github.com/{repo}"
    else:
        return None
    return f"{base}/blob/{ref}/{path}"


def discover_sidecar(paths: list[str | Path]) -> Path | None:
    """An INDEX.tsv / index.tsv / index.csv in a given folder (or a given file's folder) or the folder above."""
    for given in map(Path, paths):
        folder = given if given.is_dir() else given.parent
        for candidate_dir in (folder, folder.resolve().parent):
            for name in SIDECAR_NAMES:
                candidate = candidate_dir / name
                if candidate.is_file():
                    return candidate
    return None


def assign_companies(
    files: list[Path], sidecar: Sidecar | None, company: str | None,
    industry: str | None = None, country: str | None = None,
) -> list[Assignment]:
    """Decide the company (and metadata) of every file; InputError listing uncovered files."""
    assignments, uncovered = [], []
    for path in files:
        row = sidecar.match(path) if sidecar else None
        if row is not None:
            assignments.append(
                Assignment(path, row.company, row.industry or industry, row.country or country, row.peer_groups,
                           row.url or path.resolve().as_uri(), row.org_type, row.org_metadata, row.doc_metadata)
            )
        elif company:
            assignments.append(Assignment(path, company, industry, country, [], path.resolve().as_uri()))
        else:
            uncovered.append(str(path))
    if uncovered:
        shown = ", ".join(uncovered[:10]) + (f" and {len(uncovered) - 10} more" if len(uncovered) > 10 else "")
        where = f" in {sidecar.path}" if sidecar else ""
        raise InputError(
            f"no company for {len(uncovered)} file(s){where}: {shown} "
            "(give --company NAME, or --sidecar FILE with columns file,company)"
        )
    seen: dict[tuple[str, str], Path] = {}
    for a in assignments:
        other = seen.setdefault((a.company, a.url), a.path)
        if other != a.path:
            raise InputError(f"{other} and {a.path} would both be {a.company}'s document {a.url}; give them different urls")
    return assignments


# ---------------------------------------------------------------------------- import


def _company_id(db, assignment: Assignment) -> int:
    from policycorpus.companies import ensure_company

    company_id = ensure_company(
        db, assignment.company, industry=assignment.industry, country=assignment.country,
        peer_groups=json.dumps(assignment.peer_groups) if assignment.peer_groups else None,
    )
    row = db["companies"].get(company_id)
    updates = {k: getattr(assignment, k) for k in ("industry", "country", "org_type")
               if getattr(assignment, k) and not row[k]}
    metadata = {**json.loads(row["metadata"] or "{}"), **assignment.org_metadata}
    if metadata != json.loads(row["metadata"] or "{}"):
        updates["metadata"] = json.dumps(metadata, ensure_ascii=False, sort_keys=True)
    groups = json.loads(row["peer_groups"] or "[]")
    merged = groups + [g for g in assignment.peer_groups if g not in groups]
    if merged != groups:
        updates["peer_groups"] = json.dumps(merged)
    if updates:
        db["companies"].update(company_id, updates)
    return company_id


def import_documents(db: sqlite_utils.Database, assignments: list[Assignment],
                     progress: Callable[[str], object] | None = None,
                     extract_timeout: float | None = DEFAULT_TIMEOUT) -> ImportSummary:
    """Extract and store every assigned file as a document of source 'import'.

    Each file is extracted in a worker process with ``extract_timeout`` seconds; a file over a
    work or time bound is skipped (or imported as far as it was read) with the reason in the summary.
    """
    from crawler.classify import default_classifier
    from policycorpus.db import transaction
    from policycorpus.store import Fetched, save_document

    classifier = default_classifier()
    summary = ImportSummary()
    for number, assignment in enumerate(assignments, 1):
        path = assignment.path
        raw = path.read_bytes()
        extracted: Extracted = extract_bounded(raw, fmt=path.suffix.lower(), timeout=extract_timeout)
        if extracted.bounded and extracted.blocks:
            summary.bounded.append(f"{path} ({extracted.warning})")
        if not extracted.blocks:
            why = "; ".join(extracted.warnings) or "no text"
            summary.skipped.append(f"{path} ({why})")
            if progress:
                progress(f"[{number}/{len(assignments)}] {path}: skipped, {why}")
            continue
        score, _ = classifier.score(extracted, extracted.title, assignment.url)
        fetched = Fetched(
            url=assignment.url, raw=raw, content_type=CONTENT_TYPES[path.suffix.lower()], blocks=extracted.blocks,
            title=extracted.title, extractor=extracted.extractor, policy_score=score,
            file_name=assignment.file_name, metadata=assignment.doc_metadata, language=extracted.language,
            dates=extracted.dates,
            audience=classifier.audience(extracted) if classifier.is_policy(score) else None,
        )
        with transaction(db):
            company_id = _company_id(db, assignment)
            result = save_document(db, company_id, fetched, source="import")
        summary.files += 1
        summary.companies.add(assignment.company)
        summary.new_documents += result.new_document
        summary.new_snapshots += result.new_snapshot
        summary.unchanged += not result.new_snapshot
        if not classifier.is_policy(score):
            summary.low_score.append(f"{path} ({score:.2f})")
        if progress:
            state = "new document" if result.new_document else "new version" if result.new_snapshot else "unchanged"
            progress(f"[{number}/{len(assignments)}] {path} -> {assignment.company}: {state}, policy score {score:.2f}")
    return summary
