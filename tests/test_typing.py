"""The library's typed surface: every public function has type hints, and each shared type has one definition.

Walks the library packages with `ast` (no imports). A public function is a module-level function or a method of
a public class whose name has no leading underscore, plus ``__init__``; every parameter but ``self``/``cls`` and
the return needs an annotation. Click commands are left out (click's decorators describe their parameters), as
are nested functions. mypy (``make lint``, pyproject's ``[tool.mypy]``) checks that the hints are right.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("policycorpus", "crawler", "taxonomy", "analysis", "publish")


def library_modules() -> list[Path]:
    return [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]


def where(path: Path, node: ast.AST) -> str:
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    return f"{shown}:{getattr(node, 'lineno', 0)}"


def is_click_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Decorated with click.command/group or a group's .command()/.group() (e.g. @cli.command("name"))."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr in ("command", "group"):
            return True
    return False


def is_public(name: str) -> bool:
    return name == "__init__" or not name.startswith("_")


def public_functions(tree: ast.Module):
    """(qualified name, node, is_method) of the module's public functions and public classes' public methods."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and is_public(node.name):
            yield node.name, node, False
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and is_public(item.name):
                    yield f"{node.name}.{item.name}", item, True


def missing_annotations(node: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool) -> list[str]:
    args = node.args
    params = [*args.posonlyargs, *args.args]
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
    if is_method and not static and params:
        params = params[1:]  # self or cls
    params += args.kwonlyargs
    params += [a for a in (args.vararg, args.kwarg) if a is not None]
    missing = [p.arg for p in params if p.annotation is None]
    if node.returns is None:
        missing.append("return")
    return missing


def unannotated(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for name, node, is_method in public_functions(tree):
            if is_click_command(node):
                continue
            missing = missing_annotations(node, is_method)
            if missing:
                found.append(f"{where(path, node)} {name}: {', '.join(missing)}")
    return found


def test_the_checker_finds_a_missing_hint_and_skips_what_it_should(tmp_path):
    module = tmp_path / "sample.py"
    module.write_text(
        "import click\n"
        "def typed(a: int, *rest: str, flag: bool = False, **more: int) -> int: ...\n"
        "def untyped(a, b: int): ...\n"
        "def no_return(a: int): ...\n"
        "def _private(a): ...\n"
        "@click.command()\n"
        "def command(name): ...\n"
        "@cli.command('x')\n"
        "def sub(name): ...\n"
        "class Thing:\n"
        "    def __init__(self, x: int) -> None: ...\n"
        "    def method(self, y) -> None: ...\n"
        "    @staticmethod\n"
        "    def static(z: int) -> int: ...\n"
        "    @classmethod\n"
        "    def make(cls) -> 'Thing': ...\n"
        "    def __repr__(self): ...\n"
        "class _Hidden:\n"
        "    def method(self, y): ...\n"
        "def outer() -> None:\n"
        "    def inner(x): ...\n"
    )
    found = [line.split(" ", 1)[1] for line in unannotated([module])]
    assert found == ["untyped: a, return", "no_return: return", "Thing.method: y"]


def test_every_public_function_of_the_library_has_type_hints():
    found = unannotated(library_modules())
    assert not found, "public functions without type hints (parameters and return):\n" + "\n".join(found)


@pytest.mark.slow
def test_the_tree_passes_mypy():
    """`make lint` as a gate: the type checker with pyproject's [tool.mypy] (which packages, which libraries)."""
    mypy = Path(sys.executable).with_name("mypy")
    if not mypy.exists():
        pytest.skip("mypy is not installed (it is in the dev extra)")
    result = subprocess.run([str(mypy)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:]


# ---------------------------------------------------------------- one definition of each shared type

SHARED_CLASSES = ("Clause", "TaggedClause", "Category")
# The five modalities of shared/TAXONOMY.md, strongest first
MODALITY_WORDS = ("prohibition", "obligation", "recommendation", "permission", "information")


def definitions(paths: list[Path]) -> dict[str, list[str]]:
    """Class name -> where a class of that name is defined."""
    found: dict[str, list[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ClassDef):
                found.setdefault(node.name, []).append(where(path, node))
    return found


def modality_lists(paths: list[Path]) -> list[str]:
    """Where a tuple, list or set literal holds all five modality words (its own copy of the vocabulary)."""
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                words = {i.value for i in items if isinstance(i, ast.Constant)}
                if set(MODALITY_WORDS) <= words:
                    found.append(where(path, node))
    return found


def test_each_shared_class_has_one_definition():
    found = definitions(library_modules())
    for name in SHARED_CLASSES:
        assert len(found.get(name, [])) == 1, f"class {name} defined at {found.get(name)}: give each one name"


def test_the_modality_vocabulary_is_defined_once():
    found = modality_lists(library_modules())
    assert len(found) == 1, "the five modalities are listed at " + ", ".join(found) + ": import MODALITIES"
    from taxonomy.taxonomy import MODALITIES

    assert MODALITIES == MODALITY_WORDS


def test_the_vocabulary_checker_sees_a_copy(tmp_path):
    module = tmp_path / "copy.py"
    module.write_text("ORDER = {'prohibition': 4, 'obligation': 3, 'recommendation': 2, 'permission': 1, "
                      "'information': 0}\nSOME = ('prohibition', 'obligation')\n")
    assert modality_lists([module]) == ["copy.py:1"]
