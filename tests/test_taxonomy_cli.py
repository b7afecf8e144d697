"""policycorpus segment / tag / taxonomy ... on real SQLite files."""

import json

import pytest
from click.testing import CliRunner

from policycorpus.cli import cli
from policycorpus.db import open_db
from policycorpus.store import Fetched, save_document
from policycorpus.structure import Block

POLICY = [
    Block("heading", "Acme social media policy", 1),
    Block("paragraph", "This policy applies to all employees and contractors of Acme, on or off duty."),
    Block("heading", "Confidential information", 2),
    Block("paragraph", "You must not:"),
    Block("list_item", "share confidential information about customers or unreleased products;", 1),
    Block("list_item", "post photos of colleagues without their consent.", 1),
    Block("paragraph", "Breaches may result in disciplinary action, up to and including dismissal."),
    Block("paragraph", "Back to top"),
]


def _add(db, company, url, blocks):
    cid = db["companies"].insert({"name": company, "slug": company.lower()}, pk="id", replace=True).last_pk
    return save_document(db, cid, Fetched(url, b"<html/>", "text/html", blocks, title="Policy")).snapshot_id


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.db"
    db = open_db(path)
    _add(db, "Acme", "https://acme.test/social", POLICY)
    db.conn.close()
    return path


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


def test_segment_and_tag_are_incremental_and_store_spans_headings_tags(corpus):
    r = run("segment", "--db", corpus)
    assert r.exit_code == 0, r.output
    assert "Segmented 1 snapshots" in r.output
    again = run("segment", "--db", corpus)
    assert again.exit_code == 0 and "Nothing to segment" in again.output

    r = run("tag", "--db", corpus)
    assert r.exit_code == 0, r.output
    assert "Tagged" in r.output
    assert "Nothing to tag" in run("tag", "--db", corpus).output

    db = open_db(corpus)
    snapshot = next(db["snapshots"].rows)
    clauses = list(db.query("select * from clauses order by position"))
    assert [c["kind"] for c in clauses].count("heading") == 2
    assert clauses[-1]["kind"] == "boilerplate"
    for c in clauses:
        assert snapshot["text"][c["span_start"]:c["span_end"]] == c["text"]
        assert c["model_version"] and c["modality"]
    item = next(c for c in clauses if c["text"].startswith("share confidential"))
    assert item["heading_path"] == "Acme social media policy > Confidential information"
    assert item["lead_in"] == "You must not:"
    assert item["modality"] == "prohibition"
    tags = list(db.query("select c.text, t.category, t.score, t.model_version from tags t join clauses c on c.id = t.clause_id"))
    cats = {(t["text"][:20], t["category"]) for t in tags}
    assert ("share confidential i", "confidentiality") in cats
    assert ("Breaches may result ", "consequences") in cats
    assert all(0 < t["score"] <= 1 and t["model_version"] == item["model_version"] for t in tags)
    assert not db.execute("select count(*) from tags t join clauses c on c.id = t.clause_id "
                          "where c.kind != 'clause'").fetchone()[0]
    groups = list(db.query("select distinct group_name, group_order from categories order by group_order"))
    assert [g["group_name"] for g in groups] == ["Who", "When", "Identity", "Routing", "Reporting", "Conduct", "Governance"]
    assert db["categories"].count == 22

    # a new snapshot is the only thing processed next time
    _add(db, "Beta", "https://beta.test/sm", [Block("paragraph", "Use two-factor authentication on every account.")])
    r = run("segment", "--db", corpus)
    assert "Segmented 1 snapshots into 1 clauses" in r.output
    r = run("tag", "--db", corpus)
    assert "Tagged 1 clauses of 1 snapshots" in r.output
    assert db.execute("select count(*) from processing where step = 'tag'").fetchone()[0] == 2


def test_tag_before_segment_says_what_to_do(corpus):
    r = run("tag", "--db", corpus)
    assert r.exit_code == 0
    assert "run 'policycorpus segment'" in r.output


def test_bad_input_gives_one_line_errors(tmp_path, corpus):
    r = run("segment", "--db", tmp_path / "missing.db")
    assert r.exit_code == 1 and "no corpus database" in r.output
    r = run("tag", "--db", corpus, "--model", tmp_path / "nope.joblib")
    assert r.exit_code == 1 and "no tagger model" in r.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "Be kind.", "labels": ["kindness"]}\n')
    r = run("taxonomy", "train", bad, "-o", tmp_path / "m.joblib")
    assert r.exit_code == 1 and "unknown categories kindness" in r.output
    bad.write_text("not json\n")
    r = run("taxonomy", "classify", bad)
    assert r.exit_code == 1 and "not valid JSON" in r.output


def test_classify_and_evaluate_a_labelled_set(tmp_path):
    units = [
        {"doc": "a", "idx": 0, "heading": "Security", "text": "Turn on two-factor authentication for the account."},
        {"doc": "a", "idx": 1, "heading": "Security", "text": "Never share the password with anyone."},
        {"doc": "a", "idx": 2, "heading": "Conduct", "text": "Harassment and hate speech are not tolerated."},
        {"doc": "b", "idx": 0, "heading": "", "text": "Breaches may lead to dismissal."},
    ]
    labels = [
        {"doc": "a", "idx": 0, "labels": ["security"], "modality": "obligation"},
        {"doc": "a", "idx": 1, "labels": ["security"], "modality": "prohibition"},
        {"doc": "a", "idx": 2, "labels": ["respect"], "modality": "prohibition"},
        {"doc": "b", "idx": 0, "labels": ["consequences"], "modality": "information"},
    ]
    u, l_ = tmp_path / "units.jsonl", tmp_path / "labels.jsonl"
    u.write_text("".join(json.dumps(x) + "\n" for x in units))
    l_.write_text("".join(json.dumps(x) + "\n" for x in labels))

    out = tmp_path / "out.jsonl"
    r = run("taxonomy", "classify", u, "-o", out)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r_["text"] for r_ in rows] == [x["text"] for x in units]
    assert "security" in rows[0]["labels"] and rows[1]["modality"] == "prohibition"
    assert all(set(r_["scores"]) == set(r_["labels"]) and r_["model_version"] for r_ in rows)

    r = run("taxonomy", "evaluate", "--units", u, "--labels", l_, "--json")
    assert r.exit_code == 0, r.output
    figures = json.loads(r.output)
    assert figures["units"] == 4 and figures["documents"] == 2
    assert figures["macro_f1"] > 0.6 and figures["modality_accuracy"] >= 0.75
    assert figures["per_category"]["security"]["support"] == 2
    text = run("taxonomy", "evaluate", "--units", u, "--labels", l_).output
    assert "macro-F1" in text and "coverage F1" in text


def test_train_saves_a_versioned_model_that_tag_can_use(tmp_path, corpus):
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"text": f"Post at most {n} times a day on the main account.",
                                          "labels": ["brand_voice"]}) + "\n" for n in range(2, 8)))
    out = tmp_path / "models"
    out.mkdir()
    r = run("taxonomy", "train", labels, "-o", out / "m.joblib")
    assert r.exit_code == 0, r.output
    version = r.output.split("Saved model ")[1].split()[0]
    run("segment", "--db", corpus)
    r = run("tag", "--db", corpus, "--model", out / "m.joblib")
    assert r.exit_code == 0 and version in r.output
    db = open_db(corpus)
    assert {row[0] for row in db.execute("select distinct model_version from tags")} == {version}


def test_show_lists_every_group_and_category():
    r = run("taxonomy", "show")
    assert r.exit_code == 0
    for word in ("Who", "Governance", "employee_rights", "brand_voice"):
        assert word in r.output
    data = json.loads(run("taxonomy", "show", "--json").output)
    assert len(data) == 22 and all(len(c["examples"]) >= 10 for c in data)


def _write_pair(tmp_path, name, units, labels):
    u, l_ = tmp_path / f"{name}.units.jsonl", tmp_path / f"{name}.labels.jsonl"
    u.write_text("".join(json.dumps(x) + "\n" for x in units))
    l_.write_text("".join(json.dumps(x) + "\n" for x in labels))
    return u, l_


def test_evaluate_pools_several_sets_and_train_reads_labelled_documents(tmp_path):
    # an invented word, so that only the labelled document can teach what it means
    units = [{"doc": "d", "idx": 0, "heading": "Channels", "text": "On the team accounts, never post:"}] + [
        {"doc": "d", "idx": i, "heading": "Channels", "text": f"anything about a quorvex {w}"}
        for i, w in enumerate(("ballot", "rally", "debate", "petition", "campaign", "vote"), 1)]
    labels = [{"doc": "d", "idx": i, "labels": ["political"], "modality": "prohibition"} for i in range(len(units))]
    a = _write_pair(tmp_path, "a", units, labels)
    b = _write_pair(tmp_path, "b", [dict(x, doc="e") for x in units], [dict(x, doc="e") for x in labels])

    r = run("taxonomy", "evaluate", "--units", a[0], "--labels", a[1], "--units", b[0], "--labels", b[1], "--json")
    assert r.exit_code == 0, r.output
    figures = json.loads(r.output)
    assert figures["units"] == 14 and figures["documents"] == 2
    r = run("taxonomy", "evaluate", "--units", a[0], "--labels", a[1], "--units", b[0])
    assert r.exit_code == 1 and "give one --labels for each --units" in r.output

    r = run("taxonomy", "train", "--units", a[0], "--labels", a[1], "-o", tmp_path / "m.joblib")
    assert r.exit_code == 0, r.output
    assert "7 labelled clauses" in r.output
    from taxonomy.model import load_model

    model = load_model(tmp_path / "m.joblib")
    # read in context: the items were learnt with their lead-in
    assert model.info["labelled_documents"] == [[str(a[0]), str(a[1])]]
    probe = [{"text": "a quorvex rally", "lead_in": "On the team accounts, never post:"}]
    k = model.categories.index("political")
    from taxonomy.pipeline import get_model

    assert model.tagger.predict_proba(probe)[0][k] > get_model().tagger.predict_proba(probe)[0][k] + 0.2

    bad = _write_pair(tmp_path, "bad", units[:1], [dict(labels[0], labels=["kindness"])])
    r = run("taxonomy", "train", "--units", bad[0], "--labels", bad[1], "-o", tmp_path / "x.joblib")
    assert r.exit_code == 1 and "category ids" in r.output
    assert not (tmp_path / "x.joblib").exists()


def test_train_takes_more_examples_from_a_yaml_file(tmp_path):
    extra = tmp_path / "more.yaml"
    extra.write_text(
        "political:\n"
        + "".join(f"  - \"Official pages stay out of every vlimmet {w}.\"\n"
                  for w in ("ballot", "rally", "debate", "petition", "campaign", "vote"))
        + "  - {text: \"Keep the vlimmet hashtags off the main account.\", also: [brand_voice]}\n"
        + "none:\n  - \"Printed copies are not controlled.\"\n")
    r = run("taxonomy", "train", "--examples", extra, "-o", tmp_path / "m.joblib")
    assert r.exit_code == 0, r.output
    from taxonomy.model import load_model
    from taxonomy.pipeline import get_model

    model, base = load_model(tmp_path / "m.joblib"), get_model()
    assert model.version != base.version and model.info["extra_examples"] == [str(extra)]
    k = model.categories.index("political")
    probe = [{"text": "a vlimmet rally"}]
    assert model.tagger.predict_proba(probe)[0][k] > base.tagger.predict_proba(probe)[0][k] + 0.2

    extra.write_text("kindness:\n  - Be kind.\n")
    r = run("taxonomy", "train", "--examples", extra, "-o", tmp_path / "x.joblib")
    assert r.exit_code == 1 and "unknown categories kindness" in r.output


def test_evaluate_records_a_quality_card_that_tag_copies_into_the_database(tmp_path, corpus):
    import shutil

    from taxonomy.pipeline import DEFAULT_MODEL_PATH

    model = tmp_path / "m.joblib"
    shutil.copy(DEFAULT_MODEL_PATH, model)
    units = [
        {"doc": "a", "idx": 0, "heading": "Security", "text": "Turn on two-factor authentication for the account."},
        {"doc": "a", "idx": 1, "heading": "Conduct", "text": "Harassment and hate speech are not tolerated."},
        {"doc": "b", "idx": 0, "heading": "", "text": "Breaches may lead to dismissal."},
    ]
    labels = [
        {"doc": "a", "idx": 0, "labels": ["security"], "modality": "obligation"},
        {"doc": "a", "idx": 1, "labels": ["respect", "political"], "modality": "prohibition"},
        {"doc": "b", "idx": 0, "labels": ["consequences"], "modality": "information"},
    ]
    u, l_ = _write_pair(tmp_path, "dev", units, labels)
    r = run("taxonomy", "evaluate", "--units", u, "--labels", l_, "--model", model, "--card", "dev",
            "--description", "three test clauses")
    assert r.exit_code == 0, r.output
    card = json.loads((tmp_path / "m.card.json").read_text())
    version = card["model_version"]
    assert version.startswith("tagger-") and list(card["sets"]) == ["dev"]
    dev = card["sets"]["dev"]
    assert dev["units"] == 3 and dev["documents"] == 2 and dev["description"] == "three test clauses"
    # political is labelled once and (a harassment clause) not found: its document coverage is 0 of 1
    assert dev["per_category"]["political"]["coverage_support"] == 1
    assert dev["per_category"]["political"]["coverage_recall"] == 0.0
    assert dev["per_category"]["security"]["coverage_support"] == 1

    # a second set is added beside the first; a card of another model version is started afresh
    assert run("taxonomy", "evaluate", "--units", u, "--labels", l_, "--model", model, "--card", "again").exit_code == 0
    assert list(json.loads((tmp_path / "m.card.json").read_text())["sets"]) == ["again", "dev"]

    run("segment", "--db", corpus)
    assert run("tag", "--db", corpus, "--model", model).exit_code == 0
    db = open_db(corpus)
    rows = list(db.query("select * from category_quality where dataset = 'dev'"))
    assert len(rows) == 22 and {r_["model_version"] for r_ in rows} == {version}
    political = next(r_ for r_ in rows if r_["category"] == "political")
    assert political["coverage_support"] == 1 and political["coverage_recall"] == 0.0

    stale = json.loads((tmp_path / "m.card.json").read_text())
    stale["model_version"] = "tagger-t1-0000000000"
    (tmp_path / "m.card.json").write_text(json.dumps(stale))
    assert run("taxonomy", "evaluate", "--units", u, "--labels", l_, "--model", model, "--card", "dev").exit_code == 0
    fresh = json.loads((tmp_path / "m.card.json").read_text())
    assert fresh["model_version"] == version and list(fresh["sets"]) == ["dev"]


def test_a_broken_quality_card_fails_tag_before_it_writes(tmp_path, corpus):
    import shutil

    from taxonomy.pipeline import DEFAULT_MODEL_PATH

    model = tmp_path / "m.joblib"
    shutil.copy(DEFAULT_MODEL_PATH, model)
    (tmp_path / "m.card.json").write_text("{not json")
    run("segment", "--db", corpus)
    r = run("tag", "--db", corpus, "--model", model)
    assert r.exit_code == 1 and "cannot read the quality card" in r.output and len(r.output.strip().splitlines()) == 1
    assert open_db(corpus).execute("select count(*) from tags").fetchone()[0] == 0
