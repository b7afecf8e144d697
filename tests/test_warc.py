"""WARC captures of a crawl (crawler/warcwriter.py) and `policycorpus reextract`."""

from __future__ import annotations

from pathlib import Path

import pytest
from archive_fixtures import POLICIES, make_corpus
from warcio.archiveiterator import ArchiveIterator

from crawler.warcwriter import read_warc_record
from demo.webserver import DemoWeb
from policycorpus.db import open_db
from policycorpus.store import raw_bytes

from commandline import policycorpus


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
def test_every_accepted_policy_is_in_a_warc_byte_identical_to_its_raw_body(tmp_path):
    db_path = str(tmp_path / "corpus.db")
    with DemoWeb(port=0, generation=1) as web:
        csv_path = web.write_companies_csv(tmp_path / "companies.csv")
        policycorpus("companies", "import", str(csv_path), "--db", db_path)
        policycorpus("crawl", "--allow-private", "-q", "--warc-all", "--db", db_path)
    db = open_db(db_path)
    snaps = list(db["snapshots"].rows)
    assert snaps
    for snap in snaps:
        assert snap["warc_path"] and not Path(snap["warc_path"]).is_absolute()
        doc = db["documents"].get(snap["document_id"])
        uri, payload = read_warc_record(db_path, snap["warc_path"], snap["warc_offset"])
        assert uri == doc["url"]
        assert payload == raw_bytes(snap)
    everything = list((tmp_path / "warc").glob("*-all.warc.gz"))
    assert len(everything) == 1
    with open(everything[0], "rb") as fh:
        records = {r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh) if r.rec_type == "response"}
    judged = {r["url"] for r in db["candidates"].rows}
    ok = {r["url"] for r in db.query("select url from crawl_log where outcome = 'ok'")}
    assert judged <= records and ok <= records and len(records) > len(snaps)  # --warc-all: every fetched page


@pytest.mark.slow  # over 1.5 s (the fast tier stays under a minute)
def test_reextract_adds_a_snapshot_only_where_the_text_changes(tmp_path):
    db_path = make_corpus(tmp_path / "corpus.db")
    out = policycorpus("reextract", "--db", db_path)
    assert "0 new texts" in out.stdout and "3 unchanged" in out.stdout
    db = open_db(db_path)
    url = next(iter(POLICIES))
    doc = next(db["documents"].rows_where("url = ?", [url]))
    # what an older extractor made of the page: a different text for the current version
    db["snapshots"].update(doc["latest_snapshot_id"], {"text": "old extractor text", "text_hash": "old"})
    db.conn.close()
    out = policycorpus("reextract", "--db", db_path)
    assert "1 new texts" in out.stdout and "2 unchanged" in out.stdout
    db = open_db(db_path)
    doc2 = db["documents"].get(doc["id"])
    assert doc2["latest_snapshot_id"] != doc["latest_snapshot_id"] and doc2["snapshot_count"] == 2
    assert "generative AI" in db["snapshots"].get(doc2["latest_snapshot_id"])["text"]
    again = policycorpus("reextract", "--db", db_path)
    assert "0 new texts" in again.stdout
