"""Shared fixtures and the test tiers.

- ``fresh_db``: an empty corpus in memory; ``tmp_corpus``: an empty corpus file in tmp_path.
- ``corpus``: the small hand-made corpus of tests/corpora.py (known grid), per test.
- ``demo_corpus``: the demo web crawled once, segmented and tagged (session).
- ``demo_db``: the demo web crawled twice, segmented, tagged, templates found, prepared for serving (session).
- ``demo_web`` / ``demo_web_module``: the demo web served on 127.0.0.21-33, port 0.
- ``cli``: runs a `policycorpus` command in-process (click's runner); ``policycorpus``: in a subprocess.

Tiers: ``make test-fast`` runs ``-m "not slow"``; ``make test`` (and CI) runs everything. A test is slow when
it is marked ``@pytest.mark.slow`` or lives in a module listed in SLOW_MODULES (each of their tests crawls,
trains, starts servers or browsers, or builds a real corpus).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from demo.pytest_fixtures import demo_web, demo_web_module  # noqa: F401  (fixtures, found by name)

SLOW_MODULES = {
    "test_allow_host", "test_browser", "test_concurrency", "test_consultant_real", "test_crawl", "test_demo_web",
    "test_distributed", "test_faults", "test_hostile", "test_kill_at_statements", "test_kill_resume",
    "test_llm_backend", "test_merge", "test_notebook", "test_owndocs", "test_publish_demo", "test_publish_live",
    "test_realdev", "test_release", "test_taxonomy_cli", "test_taxonomy_quality", "test_templates", "test_keys",
    "test_coverage_cells", "test_tagger", "test_history_archive", "test_review_browser", "test_site_links",
    "test_crawl_generations", "test_crawl_world", "test_document_metadata_real", "test_no_local_paths",
    "test_reviews", "test_history_demo", "test_history_pages",
}
SHARED = Path(__file__).resolve().parents[2] / "shared"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_shared(path: Path, what: str) -> None:
    """Skip a test whose data in ../shared is missing -- but fail in CI, where it must be there."""
    if not path.exists():
        message = f"{what} not found at {path}"
        if in_ci():
            pytest.fail(message + " (CI must have ../shared)")
        pytest.skip(message)


@pytest.fixture
def fresh_db():
    from policycorpus.db import memory_db

    return memory_db()


@pytest.fixture
def tmp_corpus(tmp_path):
    from policycorpus.db import open_db

    path = tmp_path / "corpus.db"
    open_db(path).conn.close()
    return path


@pytest.fixture
def corpus(tmp_path) -> Path:
    from corpora import build_corpus

    return build_corpus(tmp_path / "corpus.db")


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory):
    from corpora import build_demo_crawl

    return build_demo_crawl(tmp_path_factory)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    from corpora import build_demo_corpus

    return build_demo_corpus(tmp_path_factory)


@pytest.fixture
def cli():
    """Run a policycorpus command in-process: cli("status", "--db", path) -> click Result."""
    from click.testing import CliRunner

    from policycorpus.cli import cli as command

    def run(*args):
        return CliRunner().invoke(command, [str(a) for a in args])

    return run


@pytest.fixture
def policycorpus():
    """Run a policycorpus command in a subprocess (crawls need a fresh reactor each)."""

    def run(*args, check=True, timeout=900):
        result = subprocess.run([sys.executable, "-m", "policycorpus", *map(str, args)], capture_output=True,
                                text=True, timeout=timeout)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    return run
