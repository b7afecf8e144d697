"""Datasette plugin: what anonymous SQL may do on a served corpus.

Datasette already allows only SELECTs under a time limit. This guard bounds the
rest on every connection Datasette opens (``prepare_connection``):

* an SQLite authorizer denies functions that leak process memory or touch the
  file system (``fts3_tokenizer`` returns and accepts raw pointers,
  ``load_extension`` loads code), ATTACH, and reading ``sqlite_stmt`` (the
  SQL other visitors ran on the same connection);
* ``zeroblob`` and ``randomblob`` are replaced by versions that refuse more
  than ``MAX_GENERATED_BYTES`` with "string or blob too big" (the authorizer
  cannot see arguments);
* ``SQLITE_LIMIT_LENGTH`` caps any one string or blob a query makes or reads;
* a row factory caps the bytes of rows one statement may return, so a query
  of a thousand large cells fails with a message instead of filling memory.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from datasette import hookimpl

if TYPE_CHECKING:
    from datasette.app import Datasette

DENIED_FUNCTIONS = frozenset({
    "fts3_tokenizer",  # returns a tokenizer's address; the two-argument form installs one
    "load_extension",
    "readfile", "writefile", "edit", "fsdir",  # the sqlite3 shell's file functions, if a build has them
})
DENIED_ACTIONS = frozenset({sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH})
# sqlite_stmt lists the statements prepared on the connection: other visitors' SQL, literals included.
DENIED_TABLES = frozenset({"sqlite_stmt"})
MAX_GENERATED_BYTES = 1024 * 1024
# Largest single value: well above any stored text or compressed raw body (downloads stop at 10 MB).
MAX_VALUE_BYTES = 64 * 1024 * 1024
# Largest total of the rows one statement returns (a table page of 50 snapshots with raw bodies fits easily).
MAX_RESULT_BYTES = 128 * 1024 * 1024


SqlValue = int | float | str | bytes | None  # what SQLite hands a Python function


class ResultTooLarge(sqlite3.OperationalError):
    pass


def authorizer(action: int, arg1: str | None, arg2: str | None, db_name: str | None, trigger: str | None) -> int:
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action in DENIED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_READ and (arg1 or "").lower() in DENIED_TABLES:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def bounded_size(n: SqlValue, name: str) -> int:
    if n is None:
        return 0
    try:
        size = max(0, int(n))
    except (TypeError, ValueError, OverflowError):
        return 0
    if size > MAX_GENERATED_BYTES:
        # sqlite3 reports an OverflowError from a function as SQLite's own "string or blob too big"
        raise OverflowError(f"{name}() is limited to {MAX_GENERATED_BYTES:,} bytes on this site")
    return size


def zeroblob(n: SqlValue) -> bytes:
    return bytes(bounded_size(n, "zeroblob"))


def randomblob(n: SqlValue) -> bytes:
    return os.urandom(max(1, bounded_size(n, "randomblob")))


def value_size(value: SqlValue) -> int:
    if isinstance(value, (str, bytes)):
        return len(value)
    return 8


def budgeted_row_factory(limit: int = MAX_RESULT_BYTES) -> Callable[[sqlite3.Cursor, tuple], sqlite3.Row]:
    """sqlite3.Row rows, raising ResultTooLarge once one cursor's rows exceed limit bytes."""
    totals: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def factory(cursor: sqlite3.Cursor, row: tuple) -> sqlite3.Row:
        total = totals.get(cursor, 0) + sum(value_size(v) for v in row)
        if total > limit:
            raise ResultTooLarge(f"the result is larger than {limit // (1024 * 1024)} MB; select fewer rows or columns")
        totals[cursor] = total
        return sqlite3.Row(cursor, row)

    return factory


def harden(conn: sqlite3.Connection) -> None:
    """Apply every bound of this module to one connection."""
    conn.set_authorizer(authorizer)
    conn.create_function("zeroblob", 1, zeroblob, deterministic=True)
    conn.create_function("randomblob", 1, randomblob)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.row_factory = budgeted_row_factory()


@hookimpl
def prepare_connection(conn: sqlite3.Connection, database: str, datasette: Datasette) -> None:
    if datasette.plugin_config("policycorpus") is not None:  # a PolicyCorpus site, not any Datasette
        # The plugin's own ATTACH of the review store (and its TEMP overlay views) comes before the
        # authorizer that refuses ATTACH to visitors' SQL.
        from publish.review_site import attach_to

        attach_to(conn, database, datasette)
        harden(conn)
