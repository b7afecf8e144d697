"""`policycorpus plot`: heatmap, dendrogram and clause map, each as PNG and SVG."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from policycorpus.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import POLICIES, build_corpus  # noqa: E402

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


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
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
    assert "map.svg" in result.output and "map.html" in result.output
    svg = assert_images(out / "map")
    # the map draws every member, and its legend names every cluster with its size
    from policycorpus.db import open_db

    corpus = open_db(db)
    clusters = list(corpus.query("select cluster, label, size from clusters where run_id = 1"))
    for c in clusters:
        short = ", ".join(c["label"].split(", ")[:3])
        assert f"{c['cluster']}: {short} ({c['size']})" in svg.replace("&amp;", "&")
    spec = json.loads((out / "map.vl.json").read_text())
    assert len(spec["data"]["values"]) == corpus["cluster_members"].count
    assert {r["cluster"] for r in spec["data"]["values"]} == {c["cluster"] for c in clusters}
    page = (out / "map.html").read_text()
    assert "vegaEmbed" in page and "<script src" not in page and "cdn." not in page
    invoke("plot", "heatmap", "--peer-group", "banks", "--share", "-o", out / "shares", "--db", db)
    assert "%" in assert_images(out / "shares")
    invoke("plot", "shares", "--by", "company", "-o", out / "by-company", "--db", db)
    svg = assert_images(out / "by-company")
    assert all(name in svg for name in POLICIES)


def test_dendrogram_has_every_document(tmp_path):
    """Documents without any pair above --min-doc-similarity are still drawn (as unrelated)."""
    from analysis.plots import similarity_matrix
    from policycorpus.db import open_db

    db = build_corpus(tmp_path / "c.db")
    invoke("templates", "-q", "--min-doc-similarity", "0.99", "--db", db)
    result = invoke("plot", "dendrogram", "-o", tmp_path / "d", "--db", db)
    svg = assert_images(tmp_path / "d")
    assert all(name in svg for name in POLICIES)
    assert f"all {len(POLICIES)} documents" in svg and f"{len(POLICIES)} documents drawn" in result.output
    labels, sims, _, left_out = similarity_matrix(open_db(db))
    assert sorted(labels) == sorted(POLICIES) and left_out == [] and sims.shape == (len(POLICIES),) * 2


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


def test_non_latin_names_have_a_font(tmp_path):
    import warnings

    from matplotlib import font_manager

    from analysis.plots import plot_dendrogram

    if not [f for f in font_manager.findSystemFonts() if "CJK" in f]:
        import pytest

        pytest.skip("fonts-noto-cjk is not installed")
    sims = np.array([[1, 0.5, 0.1], [0.5, 1, 0.2], [0.1, 0.2, 1]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_dendrogram(["東京みらい銀行", "Société Générale", "Ωmega"], sims, tmp_path / "names")
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert "東京みらい銀行" in (tmp_path / "names.svg").read_text()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow  # starts Chromium
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary installed (apt-get install chromium)")
def test_interactive_map_renders_without_a_network(tmp_path):
    """The HTML page carries Vega, Vega-Lite and vega-embed itself: Chromium with every request sent to a dead
    proxy draws every point of the map."""
    from analysis.plots import map_spec, write_interactive

    spec = map_spec(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.0, 1.0]), np.array([0, 0, 1, 1]),
                    {0: "alpha, beta", 1: "gamma"}, texts=["one </script> two", "b", "c", "d"])
    page, _ = write_interactive(spec, tmp_path / "map")
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--proxy-server=127.0.0.1:9",
         "--proxy-bypass-list=<-loopback>", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'class="marks"' in dom.stdout, dom.stdout[-2000:]
    assert dom.stdout.count('role="graphics-symbol"') >= 4  # one per clause, at least
