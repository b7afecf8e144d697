"""A deployable Datasette package of the corpus, made with Datasette's `datasette package` machinery.

``datasette package`` writes a temporary directory (Dockerfile, metadata.json,
the database, templates/, static/) and then runs ``docker build``.
``build_package`` uses the same ``temporary_docker_directory`` but copies the
directory out instead of building, so it works where no Docker engine runs;
``docker build`` on the result gives the image.

The project itself goes in as a wheel built from this source tree (``pip wheel
--no-deps``) that the Dockerfile installs: its dependencies are the ones of
pyproject.toml, and its plugins reach Datasette through the ``datasette`` entry
point, as in `policycorpus serve`. No source tree is copied into the package.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from policycorpus.errors import DependencyError, InputError
from publish.server import STATIC_DIR, TEMPLATES_DIR, build_metadata, database_name, load_settings

ROOT = Path(__file__).resolve().parent.parent
# What setuptools needs to build the wheel (pyproject.toml's readme and packages.find).
BUILD_FILES = ("pyproject.toml", "README.md")
BUILD_PACKAGES = ("policycorpus", "crawler", "taxonomy", "analysis", "publish")
BUILD_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*.db", "*.db-*")
WHEEL_TIMEOUT_S = 300
# A Docker image name (it names the build directory too, so no path separators).
IMAGE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")


def datasette_requirement() -> str:
    """The Datasette the metadata was written for, pinned (metadata.json's format follows the version)."""
    try:
        return f"datasette=={version('datasette')}"
    except PackageNotFoundError:
        return "datasette"


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


def build_wheel(dest: Path, *, root: Path = ROOT) -> Path:
    """Build the project's wheel into dest from a clean copy of its build inputs; the wheel's path.

    The copy keeps setuptools' build/ directory and any stale module out of the wheel.
    """
    missing = [name for name in BUILD_FILES if not (root / name).is_file()]
    if missing:
        raise DependencyError(f"publish builds the package from the PolicyCorpus source tree, and {root} has no "
                              f"{', '.join(missing)} (run it from a checkout of the project)")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "src"
        source.mkdir()
        for name in BUILD_FILES:
            shutil.copy2(root / name, source / name)
        for package in BUILD_PACKAGES:
            shutil.copytree(root / package, source / package, ignore=BUILD_IGNORE)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dest), str(source)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=WHEEL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise DependencyError(f"building the policycorpus wheel took over {WHEEL_TIMEOUT_S} s") from None
    wheels = sorted(dest.glob("policycorpus-*.whl"))
    if result.returncode != 0 or not wheels:
        errors = [line for line in result.stderr.splitlines() if line.strip() and "is ignored" not in line]
        detail = errors[-1].strip() if errors else f"pip exited with status {result.returncode}"
        raise DependencyError(f"cannot build the policycorpus wheel with pip: {detail}")
    return wheels[-1]


def check_name(name: str) -> str:
    """The deployment's name if Docker accepts it as an image name; else an InputError."""
    if not IMAGE_NAME.fullmatch(name or ""):
        raise InputError(f"--name {name[:60]!r}: use lowercase letters, digits, '.', '_' and '-' "
                         "(a Docker image name, at most 128 characters)")
    return name


def check_version_note(note: str | None) -> str | None:
    """The note if it fits on the Dockerfile's CMD line (no control characters, at most 200); else an InputError."""
    if note is not None and (len(note) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in note)):
        raise InputError("--version-note: at most 200 characters, on one line")
    return note


def check_output_dir(out_dir: str | Path, *, force: bool = False) -> Path:
    """The resolved output directory, if it can be written (checked before any work); else an InputError."""
    out = Path(out_dir).resolve()
    if out.exists() and not force:
        raise InputError(f"{out} exists (use --force to replace it)")
    if out.exists() and not out.is_dir():
        raise InputError(f"cannot write the package to {out}: it is a file")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise InputError(f"cannot write the package to {out}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the package to {out}: {existing} is not writable")
    return out


def build_package(db_path: str | Path, out_dir: str | Path, *, name: str = "policycorpus", version_note: str | None = None,
                  force: bool = False) -> Path:
    """Write the deployable directory to out_dir and return its path."""
    from datasette.utils import temporary_docker_directory

    check_name(name)
    check_version_note(version_note)
    out = check_output_dir(out_dir, force=force)
    db_name = database_name(db_path)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / f"{db_name}.db"
        snapshot_database(db_path, copy)
        wheel = build_wheel(Path(tmp) / "wheel")
        with temporary_docker_directory(
            files=[str(copy)],
            name=name,
            metadata=None,
            extra_options=settings_options(load_settings()),
            branch=None,
            template_dir=str(TEMPLATES_DIR),
            plugins_dir=None,
            static=[("static", str(STATIC_DIR))],
            install=[datasette_requirement(), f"./{wheel.name}"],
            spatialite=False,
            version_note=version_note,
            secret=secrets.token_hex(32),
            extra_metadata=build_metadata(db_name),
            port=8001,
        ) as package_dir:
            shutil.copy2(wheel, Path(package_dir) / wheel.name)
            if out.exists():
                shutil.rmtree(out)
            shutil.copytree(package_dir, out)
    return out
