"""Search box text to FTS5: phrases and OR work, nothing is a syntax error, empty matches nothing."""

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publish.search import NOTHING, fts_query


@pytest.fixture(scope="module")
def fts():
    conn = sqlite3.connect(":memory:")
    conn.execute("create virtual table f using fts5(t, tokenize='porter')")
    for text in ("Keep patient records private", "Do not share confidential data", "Post with care online"):
        conn.execute("insert into f values (?)", [text])
    return conn


def hits(conn, q):
    return {r[0] for r in conn.execute("select t from f where f match ?", [fts_query(q)])}


def test_or_phrases_and_words(fts):
    assert hits(fts, "patient OR confidential") == {"Keep patient records private", "Do not share confidential data"}
    assert hits(fts, '"share confidential"') == {"Do not share confidential data"}
    assert hits(fts, '"confidential share"') == set()
    assert hits(fts, "post care") == {"Post with care online"}


def test_empty_and_operator_only_input_match_nothing(fts):
    for q in ("", "   ", "OR", "OR OR", '""'):
        assert fts_query(q) == NOTHING
        assert hits(fts, q) == set()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_no_input_is_a_syntax_error(q):
    conn = sqlite3.connect(":memory:")
    conn.execute("create virtual table f using fts5(t)")
    conn.execute("select * from f where f match ?", [fts_query(q)]).fetchall()
