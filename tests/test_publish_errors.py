"""`policycorpus serve` and `publish` on bad input: one `Error: …` line, a non-zero exit, no traceback,
and the files given left as they were."""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from policycorpus.cli import cli
from policycorpus.db import open_db

pytest.importorskip("datasette")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("errors") / "corpus.db"
    db = open_db(path)
    db["companies"].insert({"name": "Acme", "slug": "acme", "homepage": "https://acme.example/"})
    db.conn.commit()
    db.conn.close()
    return path


def run(args: list[str]) -> str:
    """The command's one error line: `Error: …` and exit 1, or click's usage error (usage, then `Error: …`, exit 2)."""
    result = CliRunner().invoke(cli, args)
    lines = result.output.strip().splitlines()
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert lines[0].startswith("Usage: ") and lines[-1].startswith("Error: Invalid value"), (args, result.output)
    else:
        assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), (args, result.output)
    return lines[-1]


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, what the one line says)"""
    notes = tmp_path / "notes.db"
    notes.write_bytes(b"these are notes, not an SQLite database" * 100)
    truncated = tmp_path / "truncated.db"
    source = sqlite3.connect(truncated)
    source.execute("create table t (x)")
    source.executemany("insert into t values (?)", [("x" * 500,)] * 200)
    source.commit()
    source.close()
    truncated.write_bytes(truncated.read_bytes()[: 4096 * 3])
    empty_dir = tmp_path / "a-directory.db"
    empty_dir.mkdir()
    return {
        "missing": (tmp_path / "none.db", "no corpus database"),
        "not sqlite": (notes, "not a PolicyCorpus corpus"),
        "truncated": (truncated, "not a PolicyCorpus corpus"),
        "directory": (empty_dir, "is a directory"),
    }


@pytest.mark.parametrize("name", ["missing", "not sqlite", "truncated", "directory"])
@pytest.mark.parametrize("command", ["serve", "publish"])
def test_bad_database_is_one_line(tmp_path, name, command):
    path, says = bad_files(tmp_path)[name]
    before = path.read_bytes() if path.is_file() else None
    args = [command, "--db", str(path)] + (["--out", str(tmp_path / "out")] if command == "publish" else ["--port", "0"])
    line = run(args)
    assert says in line, line
    if before is not None:
        assert path.read_bytes() == before
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files")
def test_read_only_corpus_is_one_line(corpus, tmp_path):
    path = tmp_path / "ro.db"
    path.write_bytes(corpus.read_bytes())
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        assert "cannot prepare" in run(["serve", "--db", str(path), "--port", "0"])
    finally:
        tmp_path.chmod(0o755)


@pytest.mark.parametrize("host, says", [
    ("no-such-host.invalid", "cannot resolve host"),
    ("a" * 70 + ".example", "cannot resolve host"),
    ("192.0.2.1", "cannot listen on 192.0.2.1"),  # TEST-NET-1: not an address of this machine
])
def test_bad_host_is_one_line(corpus, host, says):
    assert says in run(["serve", "--db", str(corpus), "--host", host, "--port", "0"])


def test_port_in_use_is_one_line(corpus):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert f"port {port} on 127.0.0.1 is in use" in run(["serve", "--db", str(corpus), "--port", str(port)])


@pytest.mark.parametrize("port", ["-1", "70000", "http"])
def test_bad_port_is_refused_by_its_option(corpus, port):
    result = CliRunner().invoke(cli, ["serve", "--db", str(corpus), "--port", port])
    assert result.exit_code == 2 and "Invalid value for '-p' / '--port'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_publish_to_an_unusable_directory_is_one_line(corpus, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    assert "is a file" in run(["publish", "--db", str(corpus), "--out", str(a_file)])
    assert "cannot write the package" in run(["publish", "--db", str(corpus), "--out", str(a_file / "below"), "--force"])
    assert a_file.read_text() == "not a directory"


@pytest.mark.parametrize("name", ["../policycorpus-escape-test", "a/b", "", "Upper", "x y", "-dash", "a" * 129])
def test_publish_refuses_a_name_docker_would_not_take(corpus, tmp_path, name):
    assert "--name" in run(["publish", "--db", str(corpus), "--out", str(tmp_path / "out"), "--name", name])
    import tempfile

    assert not (tmp_path / "out").exists()
    assert not (Path(tempfile.gettempdir()) / "policycorpus-escape-test").exists()  # datasette's build directory


@pytest.mark.parametrize("note", ["two\nlines", "x" * 201, "tab\there"])
def test_publish_refuses_a_version_note_that_would_break_the_dockerfile(corpus, tmp_path, note):
    assert "--version-note" in run(["publish", "--db", str(corpus), "--out", str(tmp_path / "out"), "--version-note", note])
    assert not (tmp_path / "out").exists()
