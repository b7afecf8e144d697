import json

from policycorpus.db import TABLES, memory_db, open_db, schema_markdown
from policycorpus.store import Fetched, raw_bytes, save_document
from policycorpus.structure import Block, blocks_from_json


def fetched(paragraph: str) -> Fetched:
    blocks = [Block("heading", "Social media policy", 1), Block("paragraph", paragraph),
              Block("list_item", "Never share   customer data.", 1)]
    return Fetched(url="http://127.0.0.21/policy", raw=b"<html>raw</html>", content_type="text/html",
                   blocks=blocks, title="Policy", http_status=200, extractor="test")


def test_same_text_adds_no_snapshot_changed_text_adds_one():
    db = memory_db()
    company = db["companies"].insert({"name": "A", "slug": "a"}).last_pk
    first = save_document(db, company, fetched("Employees may post about their work."))
    again = save_document(db, company, fetched("Employees may post about their work."))
    changed = save_document(db, company, fetched("Employees may post about their work after training."))
    assert first.new_document and first.new_snapshot
    assert not again.new_snapshot and again.snapshot_id == first.snapshot_id
    assert changed.new_snapshot and not changed.new_document
    assert db["snapshots"].count == 2
    doc = db["documents"].get(first.document_id)
    assert doc["snapshot_count"] == 2 and doc["latest_snapshot_id"] == changed.snapshot_id


def test_spans_point_into_text_and_raw_is_compressed():
    db = memory_db()
    company = db["companies"].insert({"name": "A", "slug": "a"}).last_pk
    result = save_document(db, company, fetched("Be kind."))
    snap = db["snapshots"].get(result.snapshot_id)
    blocks = blocks_from_json(snap["structure"])
    assert [b.type for b in blocks] == ["heading", "paragraph", "list_item"]
    for block in blocks:
        assert snap["text"][block.start:block.end] == block.text
    assert blocks[2].text == "Never share customer data."
    assert raw_bytes(snap) == b"<html>raw</html>" and snap["raw_size"] == 16


def test_schema_is_documented_and_migrates_additively(tmp_path):
    path = tmp_path / "c.db"
    db = open_db(path)
    for view in ("current_clauses", "current_segments", "effective_tags"):  # an old corpus had none of these
        db.execute(f"drop view {view}")
    db.execute("alter table companies drop column country")
    db.conn.commit()
    db.conn.close()
    db = open_db(path)
    assert "country" in db["companies"].columns_dict
    doc = schema_markdown()
    for table in TABLES:
        assert f"## `{table.name}`" in doc
        for column in table.columns:
            assert column.description and f"`{column.name}`" in doc
    assert json.loads(json.dumps(db["meta"].get("schema_version")))["value"]


def test_docs_schema_md_is_generated_from_the_schema():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs" / "schema.md"
    assert docs.read_text().strip() == schema_markdown().strip(), "run 'make docs' to regenerate docs/schema.md"
