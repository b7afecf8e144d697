"""Building the Datasette instance that serves corpus.db read-only.

``prepare_database`` opens the file writable once (schema, views, full-text
indexes, summary tables); Datasette then reads it with ``mode=ro`` connections,
which see every write other commands commit while it serves (WAL readers), and
never writes. The plugins (publish/plugins/) come from the installed package's
``datasette`` entry points. ``build_metadata`` merges ``site/metadata.yml`` with the table and column
descriptions declared in ``policycorpus.db``, so they are never written twice.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from policycorpus.db import TABLES, VIEWS, Table, View, ensure_fts, ensure_views, open_db, sqlite_errors
from publish.summary import refresh_summaries

if TYPE_CHECKING:
    from datasette.app import Datasette

SITE_DIR = Path(__file__).resolve().parent / "site"
METADATA_FILE = SITE_DIR / "metadata.yml"
SETTINGS_FILE = SITE_DIR / "settings.json"
TEMPLATES_DIR = SITE_DIR / "templates"
STATIC_DIR = SITE_DIR / "static"
# metadata.yml describes the database under this name; it is renamed to the served file's name.
TEMPLATE_DB = "corpus"
PLUGIN = "policycorpus"
# The served file changes while it is served: browsers must not keep pages for settings.json's
# default_cache_ttl (which suits the immutable snapshot of a published package).
LIVE_SETTINGS = {"default_cache_ttl": 0}


def database_name(db_path: str | Path) -> str:
    """The name the corpus is served under: always ``corpus``, whatever the file is called, so that every
    link and citation to a page of the corpus stays the same across builds and machines."""
    return TEMPLATE_DB


def prepare_database(db_path: str | Path, *, log: Callable[[str], object] | None = None) -> None:
    """Bring the schema, views, FTS5 indexes and summary tables up to date.

    Other commands may write to the corpus meanwhile: the summary tables are
    rebuilt in one transaction, and nothing needs checkpointing, because the
    server reads the file through SQLite (WAL included), not as an immutable file.
    A file that is damaged, read-only or not SQLite raises a CorpusError.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    with sqlite_errors():
        _prepare(open_db(db_path), log)


def _prepare(db, log) -> None:
    try:
        if not db["categories"].count:
            _fill_categories(db, log)
        ensure_views(db)
        fresh = [t.name for t in TABLES if t.fts and not db[t.name].detect_fts()]
        if fresh:
            log(f"building full-text indexes for {', '.join(fresh)} ...")
        ensure_fts(db, rebuild=False)
        if refresh_summaries(db):
            log("summary tables (policy_stats, category_coverage, duplicate_clauses) rebuilt")
        db.execute("PRAGMA optimize")
        db.conn.commit()
    finally:
        db.conn.close()


def _fill_categories(db, log) -> None:
    """Pages group categories by the taxonomy; fill the table from taxonomy.yaml when it is still empty."""
    try:
        from taxonomy.pipeline import sync_categories
    except ImportError:
        log("categories table is empty and the taxonomy package cannot fill it; pages will show no categories")
        return
    sync_categories(db)


def build_metadata(db_name: str = TEMPLATE_DB) -> dict:
    """site/metadata.yml plus a description of every table, view and column from policycorpus.db."""
    metadata = yaml.safe_load(METADATA_FILE.read_text(encoding="utf-8"))
    databases = metadata.setdefault("databases", {})
    db_meta = databases.pop(TEMPLATE_DB, {})
    tables = db_meta.setdefault("tables", {})
    described: list[Table | View] = [*TABLES, *VIEWS]
    for declared in described:
        entry = tables.setdefault(declared.name, {})
        entry["description"] = declared.description
        entry["columns"] = {c.name: c.description for c in declared.columns}
    databases[db_name] = db_meta
    if db_name != TEMPLATE_DB and "description_html" in metadata:
        from datasette.utils import tilde_encode

        metadata["description_html"] = metadata["description_html"].replace(f"/{TEMPLATE_DB}/", f"/{tilde_encode(db_name)}/")
    metadata.setdefault("plugins", {}).setdefault(PLUGIN, {})["database"] = db_name
    return metadata


def load_settings() -> dict:
    return json.loads(SETTINGS_FILE.read_text(encoding="utf-8"))


def collection_source(db_path: str | Path) -> str:
    """What the footer says about where the documents came from, counted from the corpus itself."""
    import sqlite3

    conn = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True)
    try:
        counts = dict(conn.execute("select coalesce(source, 'crawl'), count(*) from documents group by 1").fetchall())
        archived = conn.execute("select count(*) from snapshots s join documents d on d.id = s.document_id "
                                "where s.source = 'archive' and coalesce(d.source, 'crawl') != 'archive'").fetchone()[0]
    except sqlite3.Error:
        counts, archived = {}, 0
    finally:
        conn.close()
    words = {"crawl": "crawled from the organizations' websites by policycorpus crawl",
             "import": "imported from files with policycorpus import-docs",
             "archive": "recovered from web archives by policycorpus history"}
    parts = [f"{n} document{'s' if n != 1 else ''} {words.get(kind, kind)}" for kind, n in sorted(counts.items())]
    if archived:  # earlier versions of crawled documents, backfilled from an archive
        parts.append(f"{archived} earlier version{'s' if archived != 1 else ''} {words['archive']}")
    return "; ".join(parts) or "No documents yet"


def site_metadata(metadata: dict, db_path: str | Path, *, title: str | None = None, source: str | None = None,
                  source_url: str | None = None, license: str | None = None, license_url: str | None = None,
                  citation: str | None = None) -> dict:
    """The site's title, source, licence and citation: what the user gave, else what the corpus says."""
    metadata["source"] = source or collection_source(db_path)
    for key, value in (("title", title), ("source_url", source_url), ("license", license),
                       ("license_url", license_url)):
        if value:
            metadata[key] = value
    config = metadata.setdefault("plugins", {}).setdefault(PLUGIN, {})
    config["site_title"] = metadata.get("title", "PolicyCorpus")
    if citation:
        config["citation"] = citation
    return metadata


def make_datasette(db_path: str | Path, *, settings: dict | None = None, plugin_config: dict | None = None,
                   site: dict | None = None) -> Datasette:
    """A Datasette serving db_path read-only (not immutable) with the project's metadata, templates and static files.

    The plugins are those of the ``datasette`` entry points; ``register`` adds them only if they are missing.
    """
    from datasette.app import Datasette
    from datasette.database import Database

    from publish.plugins import register

    register()
    merged = load_settings()
    merged.update(LIVE_SETTINGS)
    merged.update(settings or {})
    metadata = site_metadata(build_metadata(database_name(db_path)), db_path, **(site or {}))
    metadata["plugins"][PLUGIN].update(plugin_config or {})
    ds = Datasette(
        [],
        metadata=metadata,
        template_dir=str(TEMPLATES_DIR),
        static_mounts=[("static", str(STATIC_DIR))],
        settings=merged,
    )
    ds.add_database(Database(ds, path=str(db_path), is_mutable=True), name=database_name(db_path))
    if "_memory" in ds.databases:  # Datasette adds it when started without files; we serve the corpus alone
        ds.remove_database("_memory")
    return ds
