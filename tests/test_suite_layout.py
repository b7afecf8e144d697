"""The test suite's own rules: no test module imports another, and quality floors only rise (checked
against every committed version of each floors file in git history)."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FLOORS = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("**/quality_floors.json")
                if ".venv" not in p.parts and "demo-out" not in p.parts)


def test_no_test_module_imports_another():
    test_modules = {p.stem for p in TESTS.glob("test_*.py")}
    offences = []
    for path in TESTS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            offences += [f"{path.name}: imports {n}" for n in names if n in test_modules]
    assert not offences, "share code through tests/corpora.py or conftest.py fixtures:\n" + "\n".join(offences)


def committed_versions(path: str) -> list[tuple[str, dict]]:
    """Every committed version of a file, oldest first, following it across renames (eval/ moves)."""
    log = subprocess.run(["git", "log", "--follow", "--name-only", "--format=commit %H", "--", path], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    at: list[tuple[str, str]] = []
    commit = None
    for line in log.splitlines():
        if line.startswith("commit "):
            commit = line.split()[1]
        elif line.strip() and commit:
            at.append((commit, line.strip()))
            commit = None
    versions = []
    for commit, name in reversed(at):
        shown = subprocess.run(["git", "show", f"{commit}:{name}"], cwd=ROOT, capture_output=True, text=True)
        if shown.returncode == 0:
            versions.append((commit[:10], json.loads(shown.stdout)))
    return versions


def figures(data: dict) -> dict[str, float]:
    """The floors of a floors file: its "floors" object (or the top level of an older, flat file)."""
    floors = data.get("floors", data)
    return {k: v for k, v in floors.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize("path", FLOORS)
def test_floors_only_rise(path):
    """Every committed version of a floors file, and the working copy, keeps or raises every earlier floor
    measured the same way (a changed measurement method starts a new key)."""
    current = figures(json.loads((ROOT / path).read_text(encoding="utf-8")))
    assert current, f"{path}: no floors found"
    highest: dict[str, tuple[float, str]] = {}
    for commit, floors in committed_versions(path):
        for key, value in figures(floors).items():
            if key not in highest or value > highest[key][0]:
                highest[key] = (value, commit)
    lowered = [f"{key}: {current[key]} < {value} (commit {commit})" for key, (value, commit) in highest.items()
               if key in current and current[key] < value]
    assert not lowered, f"{path}: floors may only rise:\n" + "\n".join(lowered)


def test_the_tree_passes_ruff():
    """`make lint` as a gate: pyflakes, pycodestyle and import order (pyproject's [tool.ruff])."""
    import sys

    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        ruff = shutil.which("ruff")
    if not ruff:
        pytest.skip("ruff is not installed (it is in the dev extra)")
    result = subprocess.run([str(ruff), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-4000:]
