"""Pytest fixtures serving the demo web; use them from any test module or conftest:

    from demo.pytest_fixtures import demo_web  # noqa: F401  (pytest finds the fixture by name)

    def test_crawl(demo_web, tmp_path):
        csv_path = demo_web.write_companies_csv(tmp_path / "companies.csv")
"""

from __future__ import annotations

import pytest

from demo.webserver import DemoWeb


@pytest.fixture
def demo_web():
    """Every demo site on its own loopback address and free port, generation 1; stopped afterwards."""
    with DemoWeb(port=0, generation=1) as web:
        yield web


@pytest.fixture(scope="module")
def demo_web_module():
    """One DemoWeb for a whole test module (faster when tests do not change the generation)."""
    with DemoWeb(port=0, generation=1) as web:
        yield web
