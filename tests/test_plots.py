"""`policycorpus plot`: heatmap, dendrogram and clause map, each as PNG and SVG."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from policycorpus.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_compare import POLICIES, build_corpus  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def assert_images(stem: Path):
    png, svg = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 2000
    text = svg.read_text()
    assert "<svg" in text and "</svg>" in text
    return text


def test_all_plots(tmp_path):
    db = build_corpus(tmp_path / "c.db")
    out = tmp_path / "plots"
    invoke("plot", "heatmap", "--peer-group", "banks", "-o", out / "heatmap.png", "--db", db)
    svg = assert_images(out / "heatmap")
    assert "Acme Bank" in svg and "Echo Union" in svg
    invoke("templates", "-q", "--min-doc-similarity", "0", "--db", db)
    invoke("plot", "dendrogram", "-o", out / "dendrogram", "--db", db)
    svg = assert_images(out / "dendrogram")
    assert all(name in svg for name in POLICIES)
    invoke("cluster", "-q", "--k-min", "2", "--k-max", "4", "--min-words", "3", "--db", db)
    result = invoke("plot", "map", "-o", out / "map", "--db", db)
    assert "map.svg" in result.output
    assert_images(out / "map")


def test_plot_needs_a_run(tmp_path):
    db = build_corpus(tmp_path / "c.db")
    for kind in ("dendrogram", "map"):
        result = CliRunner().invoke(cli, ["plot", kind, "-o", str(tmp_path / kind), "--db", str(db)])
        assert result.exit_code == 1 and "first" in result.output


def test_heatmap_matrix_and_dendrogram_order(tmp_path):
    from analysis.compare import compare_companies
    from analysis.plots import coverage_matrix, plot_dendrogram
    from policycorpus.companies import find_companies
    from policycorpus.db import open_db

    db = open_db(build_corpus(tmp_path / "c.db"))
    comp = compare_companies(db, find_companies(db, ["Acme Bank", "Delta Savings"]))
    names, labels, counts = coverage_matrix(comp)
    assert names == ["Acme Bank", "Delta Savings"] and counts.shape == (2, len(comp.categories))
    assert counts.sum() == 6 + 4
    sims = np.array([[1, 0.9, 0.1], [0.9, 1, 0.2], [0.1, 0.2, 1]])
    files = plot_dendrogram(["a", "b", "c"], sims, tmp_path / "d")
    assert [f.suffix for f in files] == [".png", ".svg"]
