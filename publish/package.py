"""A deployable Datasette package of the corpus, made with Datasette's `datasette package` machinery.

``datasette package`` writes a temporary directory (Dockerfile, metadata.json,
the database, templates/, plugins/, static/) and then runs ``docker build``.
``build_package`` uses the same ``temporary_docker_directory`` but copies the
directory out instead of building, so it works where no Docker engine runs;
``docker build`` on the result gives the image.

The plugin imports ``publish.pages`` (and ``analysis.compare`` for the grid),
so their sources go into ``src/`` of the package with ``PYTHONPATH=/app/src``.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from publish.server import PLUGINS_DIR, STATIC_DIR, TEMPLATES_DIR, build_metadata, database_name, load_settings

ROOT = Path(__file__).resolve().parent.parent
# Packages the plugin needs at run time, copied as source (only what the pages import).
SOURCE_PACKAGES = ("policycorpus", "publish", "analysis")
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".html", ".json", ".css")
# Third-party requirements of those modules, pinned to the versions tested here.
RUNTIME_REQUIREMENTS = ("datasette", "datasette-vega", "sqlite-utils", "pyyaml", "textstat")


class PackageError(Exception):
    pass


def requirements() -> list[str]:
    pinned = []
    for name in RUNTIME_REQUIREMENTS:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned


def settings_options(settings: dict) -> str:
    """settings.json as `datasette serve --setting name value` options for the Dockerfile's CMD."""
    parts = []
    for key, value in settings.items():
        if isinstance(value, bool):
            value = "on" if value else "off"
        parts.append(f"--setting {key} {value}")
    return " ".join(parts)


def snapshot_database(db_path: str | Path, target: Path) -> None:
    """A consistent copy of the database (SQLite backup API), in rollback-journal mode for immutable serving."""
    source = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True)
    dest = sqlite3.connect(target)
    try:
        with dest:
            source.backup(dest)
        dest.execute("PRAGMA journal_mode=DELETE")
    finally:
        source.close()
        dest.close()


def copy_sources(dest: Path) -> None:
    for package in SOURCE_PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts:
                target = dest / package / path.relative_to(ROOT / package)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def build_package(db_path, out_dir, *, name: str = "policycorpus", version_note: str | None = None, force: bool = False) -> Path:
    """Write the deployable directory to out_dir and return its path."""
    from datasette.utils import temporary_docker_directory

    out = Path(out_dir).resolve()
    if out.exists():
        if not force:
            raise PackageError(f"{out} exists (use --force to replace it)")
        shutil.rmtree(out)
    db_name = database_name(db_path)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / f"{db_name}.db"
        snapshot_database(db_path, copy)
        with temporary_docker_directory(
            files=[str(copy)],
            name=name,
            metadata=None,
            extra_options=settings_options(load_settings()),
            branch=None,
            template_dir=str(TEMPLATES_DIR),
            plugins_dir=str(PLUGINS_DIR),
            static=[("static", str(STATIC_DIR))],
            install=requirements(),
            spatialite=False,
            version_note=version_note,
            secret=secrets.token_hex(32),
            extra_metadata=build_metadata(db_name),
            environment_variables={"PYTHONPATH": "/app/src"},
            port=8001,
        ) as package_dir:
            shutil.copytree(package_dir, out)
    copy_sources(out / "src")
    return out
