"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from policycorpus.db import DEFAULT_DB
from policycorpus.errors import InputError, NotFoundError

# Command modules raise the library's own errors; the CLI prints them as one line (exit status 1).
UserError = InputError
F = TypeVar("F", bound=Callable[..., Any])


def db_option(fn: F) -> F:
    """--db PATH, defaulting to $POLICYCORPUS_DB or ./corpus.db."""
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False),
        default=lambda: os.environ.get("POLICYCORPUS_DB", DEFAULT_DB),
        show_default="corpus.db or $POLICYCORPUS_DB",
        help="Path of the corpus database.",
    )(fn)


def existing_db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--db PATH that must already exist (for read-only commands)."""

    @db_option
    @functools.wraps(fn)
    def wrapper(*args: Any, db_path: str, **kwargs: Any) -> Any:
        if not os.path.exists(db_path):
            raise NotFoundError(f"no corpus database at {db_path} (run 'policycorpus crawl' or 'make demo' first)")
        return fn(*args, db_path=db_path, **kwargs)

    return wrapper


def quiet_option(fn: F) -> F:
    return click.option("-q", "--quiet", is_flag=True, help="Print only errors and the final summary.")(fn)


def writable_output(path: str | os.PathLike) -> None:
    """Check, before any work, that an output file can be written there (creating missing folders)."""
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        raise InputError(f"{target}: is a folder; give a file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{target}: cannot write there ({exc.strerror})") from None
