"""A policy that goes back to its earlier text between crawls (generation 1 → 2 → 1 of the demo web): the
corpus shows generation 1 again as current, with the history of all three sightings."""

from __future__ import annotations

import pytest

from demo.webserver import DemoWeb
from policycorpus.db import open_db

from commandline import policycorpus

pytestmark = pytest.mark.slow

CHANGING_SITE = "pinecrest-bank"  # its social media policy changes between generations 1 and 2


def crawl(db_path, company: str) -> None:
    policycorpus("crawl", "--company", company, "--allow-private", "--no-polite", "-q", "--db", db_path)


def test_crawl_generations_one_two_one_show_generation_one_with_history(tmp_path):
    with DemoWeb(port=0, generation=1, sites=[CHANGING_SITE]) as web:
        changing = [p for p in web.expected(generation=1) if p.get("changes")]
        assert changing, f"{CHANGING_SITE} must have a policy that changes between generations"
        url = changing[0]["url"]
        web.write_companies_csv(tmp_path / "companies.csv")
        db_path = tmp_path / "corpus.db"
        policycorpus("companies", "import", tmp_path / "companies.csv", "--db", db_path)
        company = web.companies()[0]["name"]
        texts = []
        for generation in (1, 2, 1):
            web.set_generation(generation)
            crawl(db_path, company)
            db = open_db(db_path)
            doc = next(db.query("select * from documents where url = ?", [url]))
            texts.append(db["snapshots"].get(doc["latest_snapshot_id"])["text"])
            db.conn.close()
    first, second, third = texts
    assert first != second, "generation 2 changed the policy"
    assert third == first, "back at generation 1, the corpus shows generation 1's text"
    db = open_db(db_path)
    doc = next(db.query("select * from documents where url = ?", [url]))
    history = [r["snapshot_id"] for r in db.query(
        "select snapshot_id from document_versions where document_id = ? order by id", [doc["id"]])]
    assert len(history) == 3 and history[0] == history[2] != history[1]
    assert doc["snapshot_count"] == 2  # two distinct texts, three sightings
    assert db.execute("select count(*) from crawls where status = 'finished'").fetchone()[0] == 3
