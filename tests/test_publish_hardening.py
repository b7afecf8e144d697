"""The served corpus against hostile SQL and URLs: functions that leak or exhaust are refused, values and
results are bounded, CSV exports carry cells of any size, custom pages have time limits and answer 404 for
ids that are out of range or not numbers.

The corpus is a real SQLite file written with policycorpus.store.save_document; three "bulk" companies get
20,000 clauses each so that the comparison page has real work to cut short.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from urllib.parse import urlencode

import pytest

from policycorpus.db import open_db
from policycorpus.store import Fetched, save_document
from policycorpus.structure import Block

pytest.importorskip("datasette")
from datasette.utils.testing import TestClient as DatasetteClient  # noqa: E402

from publish.plugins import sql_guard  # noqa: E402
from publish.server import make_datasette, prepare_database  # noqa: E402

BIG_CELL = "=HYPERLINK(" + "y" * 200_000 + ")"
BULK = ("Bulk A", "Bulk B", "Bulk C")
BULK_CLAUSES = 20_000


def add_policy(db, name: str, texts: list[str]) -> tuple[int, int, int]:
    """A company with one saved policy whose clauses are texts; (company, document, snapshot) ids."""
    slug = name.lower().replace(" ", "-")
    company = db["companies"].insert({"name": name, "slug": slug, "homepage": f"https://{slug}.example/"}).last_pk
    blocks = [Block("paragraph", text, 0) for text in texts[:50]]
    saved = save_document(db, company, Fetched(
        url=f"https://{slug}.example/social-media-policy", raw=b"policy", content_type="text/html", blocks=blocks,
        title=f"{name} social media policy", http_status=200, extractor="test", policy_score=0.9,
        fetched_at="2026-01-05T10:00:00+00:00"))
    db.conn.executemany(
        "insert into clauses (snapshot_id, document_id, company_id, position, kind, heading_path, text, "
        "segmenter_version, modality) values (?, ?, ?, ?, 'clause', '', ?, 'seg-1', 'obligation')",
        [(saved.snapshot_id, saved.document_id, company, i, text) for i, text in enumerate(texts)])
    db.conn.commit()
    return company, saved.document_id, saved.snapshot_id


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("hardening") / "corpus.db"
    db = open_db(path)
    _, document, snapshot = add_policy(db, "Big Cell", [BIG_CELL, "Keep passwords private."])
    for name in BULK:
        add_policy(db, name, [f"{name} staff must follow rule {i} on every platform." for i in range(BULK_CLAUSES)])
    db.conn.close()
    prepare_database(path, log=lambda msg: None)
    return {"path": path, "document": document, "snapshot": snapshot}


@pytest.fixture(scope="module")
def client(corpus):
    return DatasetteClient(make_datasette(corpus["path"]))


def sql(client, query: str, fmt: str = "json"):
    return client.get(f"/corpus.{fmt}?" + urlencode({"sql": query, "_shape": "array"} if fmt == "json" else {"sql": query}))


# ---------------------------------------------------------------- functions and sizes


@pytest.mark.parametrize("query", [
    "select fts3_tokenizer('simple')",
    "select hex(fts3_tokenizer('simple'))",
    "select fts3_tokenizer('evil', x'0000000000000000')",
    "select load_extension('/tmp/nothing.so')",
    "select 1 from (select fts3_tokenizer('porter'))",
])
def test_functions_that_leak_or_load_code_are_refused(client, query):
    response = sql(client, query)
    assert response.status == 400, response.text[:300]
    assert "not authorized" in response.text


def test_other_visitors_sql_is_not_readable(client):
    assert sql(client, "select 'a-private-search-term' as q").status == 200
    response = sql(client, "select sql from sqlite_stmt")
    assert response.status == 400 and "access to sqlite_stmt.sql is prohibited" in response.text
    assert "a-private-search-term" not in response.text


def test_fts3_tokenizer_works_in_plain_sqlite_so_the_refusal_is_ours():
    assert len(sqlite3.connect(":memory:").execute("select fts3_tokenizer('simple')").fetchone()[0]) == 8


def test_large_zeroblob_and_randomblob_are_refused_small_ones_work(client):
    for query in ("select zeroblob(300000000)", "select length(randomblob(300000000))",
                  "select length(zeroblob(2000000))"):
        response = sql(client, query)
        assert response.status == 400 and "string or blob too big" in response.text, (query, response.text[:300])
    assert sql(client, f"select length(zeroblob({sql_guard.MAX_GENERATED_BYTES})) as n").json == [{"n": 1048576}]
    assert sql(client, "select length(zeroblob(1000)) as n, length(randomblob(16)) as r").json == [{"n": 1000, "r": 16}]
    assert sql(client, "select zeroblob(-5) is not null as ok").json == [{"ok": 1}]


def test_values_and_results_are_size_bounded(client):
    # one value over SQLITE_LIMIT_LENGTH
    over = sql_guard.MAX_VALUE_BYTES + 1
    response = sql(client, f"select length(replace(printf('%.*c', {over // 2 + 1}, 'x'), 'x', 'yy'))")
    assert response.status == 400 and "too big" in response.text, response.text[:300]
    # many values, each allowed, together over the result budget: a row factory with a small budget
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sql_guard.budgeted_row_factory(limit=10_000)
    assert len(conn.execute("select printf('%.*c', 4000, 'x') from (select 1 union all select 2)").fetchall()) == 2
    with pytest.raises(sqlite3.OperationalError, match="larger than"):
        conn.execute("with recursive n(i) as (select 1 union all select i + 1 from n where i < 5) "
                      "select printf('%.*c', 4000, 'x') from n").fetchall()


def test_attach_is_refused():
    conn = sqlite3.connect(":memory:")
    sql_guard.harden(conn)
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        conn.execute("attach database ':memory:' as other")


# ---------------------------------------------------------------- CSV


def test_csv_export_carries_a_200000_character_cell_whole(client, corpus):
    for path in ["/corpus/clauses.csv?_size=max&company_id=1", "/corpus/clauses.csv?_stream=on&company_id=1",
                 "/corpus.csv?" + urlencode({"sql": "select id, text from clauses where company_id = 1"})]:
        response = client.get(path)
        assert response.status == 200, path
        csv.field_size_limit(10_000_000)
        cells = [c for row in csv.reader(io.StringIO(response.text, newline="")) for c in row]
        assert "'" + BIG_CELL in cells, (path, max(map(len, cells)))
        assert "Keep passwords private." in cells, path  # the export goes on after the big cell


# ---------------------------------------------------------------- custom pages


@pytest.mark.parametrize("path", [
    "/-/policy/9223372036854775808", "/-/policy/99999999999999999999999999", "/-/policy/0", "/-/policy/abc",
    "/-/policy/1e3", "/-/policy/%C2%B2", "/-/policy/-1", "/-/policy/1?snapshot=9223372036854775808",
    "/-/policy/1?snapshot=abc", "/-/policy/424242",
])
def test_policy_page_answers_404_for_bad_or_unknown_ids(client, path):
    response = client.get(path)
    assert response.status == 404, (path, response.status, response.text[:300])


def test_policy_page_still_shows_a_policy(client, corpus):
    response = client.get(f"/-/policy/{corpus['document']}?snapshot={corpus['snapshot']}")
    assert response.status == 200 and "Keep passwords private." in response.text


@pytest.mark.slow
def test_compare_page_stops_at_its_time_limit(corpus):
    names = ",".join(BULK)
    slow = DatasetteClient(make_datasette(corpus["path"], plugin_config={"page_time_limit_ms": 30,
                                                                       "max_compare_clauses": 100_000}))
    response = slow.get("/-/compare?" + urlencode({"companies": names}))
    assert response.status == 503 and "took longer than the time limit (0.03 s)" in response.text
    # the server goes on answering, and with time enough the same grid is drawn
    assert slow.get("/corpus/companies.json").status == 200
    unhurried = DatasetteClient(make_datasette(corpus["path"], plugin_config={"page_time_limit_ms": 120_000,
                                                                            "max_compare_clauses": 100_000}))
    response = unhurried.get("/-/compare?" + urlencode({"companies": names}))
    assert response.status == 200 and 'id="pc-grid"' in response.text


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
def test_compare_page_refuses_more_clauses_than_it_may_compare(corpus):
    capped = DatasetteClient(make_datasette(corpus["path"], plugin_config={"max_compare_clauses": 30_000}))
    response = capped.get("/-/compare?" + urlencode({"companies": "Bulk A,Bulk B"}))
    assert response.status == 400 and "40,000 clauses" in response.text
    assert capped.get("/-/compare?" + urlencode({"companies": "Bulk A"})).status == 200


def test_plugins_leave_other_datasette_sites_alone(corpus):
    """The plugins are installed for the whole environment; only a PolicyCorpus site (its metadata) gets them."""
    from datasette.app import Datasette

    plain = DatasetteClient(Datasette([str(corpus["path"])]))
    assert sql(plain, "select length(zeroblob(2000000)) as n").json == [{"n": 2_000_000}]
    response = plain.get("/corpus.csv?" + urlencode({"sql": "select '=1+1' as formula"}))
    assert response.status == 200 and "=1+1" in response.text and "'=1+1" not in response.text
    assert plain.get("/-/compare").status == 404
