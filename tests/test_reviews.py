"""Review decisions: a separate store, the overlay every reader sees, decisions that last, moving them, agreement,
and the review POST's guards."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from review_corpus import build, file_hash, run, write_policies

from policycorpus import reviews as rv
from policycorpus.agreement import cohen_kappa, krippendorff_alpha_nominal


def key_of(db: Path, fragment: str) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select clause_key from current_clauses where text like ?", [f"%{fragment}%"]).fetchone()[0]
    finally:
        conn.close()


def categories_of(db: Path, key: str, reviews: Path | None = None) -> tuple[list[str], str]:
    conn = sqlite3.connect(db)
    try:
        if reviews:
            rv.attach(conn, reviews)
        categories, modality = conn.execute(
            "select categories, modality from current_clauses where clause_key = ?", [key]).fetchone()
        return json.loads(categories), modality
    finally:
        conn.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("reviews"))


@pytest.fixture
def reviewed(corpus, tmp_path):
    """A copy of the corpus and four decisions by ana: confirm, remove, add, modality."""
    db = tmp_path / "corpus.db"
    shutil.copy(corpus, db)
    before = file_hash(db)
    keys = {"confirm": key_of(db, "Only the communications team"), "remove": key_of(db, "Never share customer information"),
            "add": key_of(db, "Be kind to colleagues"), "modality": key_of(db, "Breaches of this policy")}
    removed = categories_of(db, keys["remove"])[0][0]
    run("review", "decide", keys["confirm"], "confirm", categories_of(db, keys["confirm"])[0][0], "--reviewer", "ana",
        "--db", db)
    run("review", "decide", keys["remove"], "remove", removed, "--reviewer", "ana", "--db", db)
    run("review", "decide", keys["add"], "add", "official_accounts", "--reviewer", "ana", "--db", db)
    run("review", "decide", keys["modality"], "modality", "permission", "--reviewer", "ana", "--db", db)
    return {"db": db, "keys": keys, "removed": removed, "hash_before": before}


def assert_reviewed(db: Path, keys: dict, removed: str, reviews: Path | None = None):
    reviews = reviews or rv.default_path(db)
    assert removed not in categories_of(db, keys["remove"], reviews)[0]
    assert removed in categories_of(db, keys["remove"])[0], "the corpus itself keeps the model's tags"
    assert "official_accounts" in categories_of(db, keys["add"], reviews)[0]
    assert categories_of(db, keys["modality"], reviews)[1] == "permission"


def test_decisions_go_to_a_separate_store_and_the_overlay_shows_them(reviewed):
    db = reviewed["db"]
    assert rv.default_path(db).exists()
    assert file_hash(db) == reviewed["hash_before"], "a review session must not change the corpus file"
    assert_reviewed(db, reviewed["keys"], reviewed["removed"])
    conn = sqlite3.connect(db)
    rv.attach(conn, rv.default_path(db))
    sources = dict(conn.execute("select et.category, et.source from effective_tags et join current_segments cs "
                                "on cs.clause_id = et.clause_id where cs.clause_key = ?", [reviewed["keys"]["add"]]))
    assert sources["official_accounts"] == "review"
    assert "model" in conn.execute("select group_concat(distinct source) from effective_tags").fetchone()[0]


def test_compare_report_reflects_decisions(reviewed):
    db = reviewed["db"]
    md = run("compare", "harbour", "lantern", "quarry", "--db", db, "--format", "csv").stdout
    plain = run("compare", "harbour", "lantern", "quarry", "--db", db, "--format", "csv", "--reviews",
                db.parent / "none.reviews.db", check=False)
    assert plain.returncode != 0 and "no review store" in plain.stderr
    row = next(line for line in md.splitlines() if line.startswith("Who,official_accounts"))
    assert "Be kind to colleagues" in row, "the added category's evidence is the reviewed clause"
    markdown = run("compare", "harbour", "lantern", "quarry", "--db", db, "--format", "md").stdout
    assert "permission" in markdown.lower() or "may" in markdown


def test_decisions_survive_segment_tag_and_reimport(reviewed):
    db = reviewed["db"]
    files = write_policies(db.parent)
    conn = sqlite3.connect(db)
    ids_before = {r[0] for r in conn.execute("select clause_id from current_clauses")}
    with conn:
        conn.execute("delete from processing")  # segment and tag again from scratch: new clause rows
    conn.close()
    run("segment", "--db", db)
    run("tag", "--db", db)
    conn = sqlite3.connect(db)
    assert not ids_before & {r[0] for r in conn.execute("select clause_id from current_clauses")}
    conn.close()
    for name, path in files.items():
        run("import-docs", path, "--company", name, "--db", db, "-q")
    run("segment", "--db", db)
    run("tag", "--db", db)
    assert_reviewed(db, reviewed["keys"], reviewed["removed"])


def test_changed_text_keeps_history_and_requeues(reviewed, tmp_path):
    db = reviewed["db"]
    conn = sqlite3.connect(db)
    store = rv.open_store(rv.default_path(db))
    # the decision was made on another text of the clause: it is history now
    store.execute("update decisions set text_hash = '0000000000000000' where action = 'modality'")
    store.commit()
    rv.attach(conn, rv.default_path(db))
    modality = conn.execute("select modality from current_clauses where clause_key = ?",
                            [reviewed["keys"]["modality"]]).fetchone()[0]
    assert modality != "permission"
    from publish.review_pages import active_learning, clause_context

    queued = {r["clause_key"] for r in active_learning(conn, [], {}, limit=1000)}
    assert reviewed["keys"]["modality"] in queued and reviewed["keys"]["add"] not in queued
    context = clause_context(conn, reviewed["keys"]["modality"], {})
    assert context["stale"] and context["history"][0]["action"] == "modality"


def test_export_then_import_into_a_fresh_corpus_reproduces_decisions(reviewed, tmp_path):
    db = reviewed["db"]
    out = tmp_path / "decisions.jsonl"
    run("review", "export", out, "--db", db)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 4 and all(line["clause_key"] and line["document_url"] for line in lines)
    fresh_root = tmp_path / "fresh"
    fresh_root.mkdir()
    fresh = build(fresh_root, order=["Quarry Labs", "Lantern Trust", "Harbour Co"])
    assert "4 decisions imported" in run("review", "import", out, "--db", fresh).stdout
    assert "0 decisions imported" in run("review", "import", out, "--db", fresh).stdout
    # a corpus built elsewhere names the imported files by another local path: decisions follow the file name
    # and the clause text to this corpus's keys
    fresh_keys = {action: key_of(fresh, fragment) for action, fragment in (
        ("remove", "Never share customer information"), ("add", "Be kind to colleagues"),
        ("modality", "Breaches of this policy"))}
    assert_reviewed(fresh, fresh_keys, reviewed["removed"])
    status = run("review", "status", "--db", fresh).stdout
    assert "ana" in status and "official_accounts" in status


def test_import_refuses_bad_lines(corpus, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"reviewer": "x", "action": "explode", "clause_key": "a"}\n')
    result = run("review", "import", bad, "--db", corpus, "--reviews", tmp_path / "r.db", check=False)
    assert result.returncode == 1 and "line 1" in result.stderr and "unknown review action" in result.stderr


def test_parse_lines_refuses_json_python_cannot_read_with_its_line_number():
    from policycorpus.errors import InputError

    with pytest.raises(InputError, match="line 2: not JSON"):
        rv.parse_lines(["", "{oops"])
    # valid JSON, but an integer past Python's conversion limit (a ValueError without .msg)
    with pytest.raises(InputError, match="line 1: not readable JSON"):
        rv.parse_lines(['{"reviewer": "x", "action": "add", "value": ' + "1" * 5000 + "}"])


def test_sample_is_reproducible(corpus):
    first = run("review", "sample", "--n", "5", "--seed", "1", "--db", corpus).stdout
    assert first == run("review", "sample", "--n", "5", "--seed", "1", "--db", corpus).stdout
    assert len(first.splitlines()) == 5
    assert first != run("review", "sample", "--n", "5", "--seed", "2", "--db", corpus).stdout


# ---------------------------------------------------------------- agreement


def test_kappa_and_alpha_match_the_reference_implementations():
    import random

    from sklearn.metrics import cohen_kappa_score

    rng = random.Random(3)
    for _ in range(20):
        a = [rng.randint(0, 2) for _ in range(40)]
        b = [x if rng.random() < 0.6 else rng.randint(0, 2) for x in a]
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    krippendorff = pytest.importorskip("krippendorff")
    import numpy as np

    data = [[rng.choice([0, 1, 2, None]) for _ in range(30)] for _ in range(3)]
    units = [[data[c][u] for c in range(3)] for u in range(30)]
    reliability = np.array([[np.nan if v is None else v for v in row] for row in data], dtype=float)
    assert krippendorff_alpha_nominal(units) == pytest.approx(
        krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal"))


def test_agreement_command_matches_cohen_kappa_score(corpus, tmp_path):
    from sklearn.metrics import cohen_kappa_score

    db = tmp_path / "corpus.db"
    shutil.copy(corpus, db)
    conn = sqlite3.connect(db)
    keys = [r[0] for r in conn.execute("select clause_key from current_clauses order by clause_key")]
    categories = ["confidentiality", "privacy", "respect"]
    store = rv.open_store(rv.default_path(db))
    import random

    rng = random.Random(7)
    labels = {"ana": {}, "ben": {}}
    decisions = []
    for key in keys:
        for category in categories:
            a = rng.random() < 0.5
            b = a if rng.random() < 0.7 else not a
            for reviewer, value in (("ana", a), ("ben", b)):
                labels[reviewer][(key, category)] = int(value)
                decisions.append(rv.clause_decision(conn, key, reviewer, "add" if value else "remove",
                                                    category=category))
    rv.record(store, decisions)
    out = json.loads(run("agreement", "--db", db, "--reviewers", "ana,ben", "--json").stdout)
    rows = {r["category"]: r for r in out["rows"]}
    for category in categories:
        items = sorted(k for k in labels["ana"] if k[1] == category)
        expected = cohen_kappa_score([labels["ana"][k] for k in items], [labels["ben"][k] for k in items])
        assert rows[category]["kappa"] == pytest.approx(expected)
    assert rows["confidentiality"]["clauses"] == len(keys)
    text = run("agreement", "--db", db, "--reviewers", "ana,ben").stdout
    assert "overall" in text and f"{rows['overall']['kappa']:6.3f}".strip() in text
    assert run("agreement", "--db", db, "--reviewers", "ana,zed", check=False).returncode == 1


# ---------------------------------------------------------------- the review POST's guards


def datasette_for(db: Path, **config):
    from publish.server import make_datasette, prepare_database

    prepare_database(db, log=lambda m: None)
    return make_datasette(db, plugin_config=config)


async def post_decision(ds, *, with_token=True, with_cookie=True):
    page = await ds.client.get("/-/compare")
    cookie = page.cookies.get("ds_csrftoken")
    if cookie is None:  # the cookie is set by the first page that asks for a token
        page = await ds.client.get("/-/review?companies=Harbour%20Co")
        cookie = page.cookies.get("ds_csrftoken")
    token = None
    match = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    if match:
        token = match.group(1)
    data = {"action": "modality", "value": "permission", "next": "/-/review"}
    conn = sqlite3.connect(ds.databases["corpus"].path)
    data["clause_key"] = conn.execute("select clause_key from current_clauses limit 1").fetchone()[0]
    if with_token:
        data["csrftoken"] = token or "forged"
    cookies = {"ds_csrftoken": cookie} if (with_cookie and cookie) else {}
    return await ds.client.post("/-/review/decide", data=data, cookies=cookies)


def decision_count(store: Path) -> int:
    if not store.exists():
        return 0
    conn = sqlite3.connect(store)
    try:
        return conn.execute("select count(*) from decisions").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def served_copy(corpus, tmp_path):
    db = tmp_path / "corpus.db"
    shutil.copy(corpus, db)
    store = tmp_path / "corpus.reviews.db"
    rv.open_store(store).close()
    return db, store


def test_post_in_review_mode_with_reviewer_and_token_is_recorded(served_copy):
    db, store = served_copy
    ds = datasette_for(db, review=True, reviewer="ana", reviews=str(store))
    response = asyncio.run(post_decision(ds))
    assert response.status_code == 303, response.text
    assert decision_count(store) == 1


def test_post_without_review_mode_is_refused(served_copy):
    db, store = served_copy
    ds = datasette_for(db, review=False, reviewer="ana", reviews=str(store))
    response = asyncio.run(post_decision(ds))
    assert response.status_code in (403, 405) and decision_count(store) == 0


def test_post_without_reviewer_is_refused(served_copy):
    db, store = served_copy
    ds = datasette_for(db, review=True, reviewer=None, reviews=str(store))
    response = asyncio.run(post_decision(ds))
    assert response.status_code == 403 and "reviewer" in response.text and decision_count(store) == 0


def test_post_without_csrf_token_is_refused(served_copy):
    db, store = served_copy
    ds = datasette_for(db, review=True, reviewer="ana", reviews=str(store))
    assert asyncio.run(post_decision(ds, with_token=False)).status_code == 403
    assert asyncio.run(post_decision(ds, with_cookie=False)).status_code == 403
    genuine = asyncio.run(post_decision(ds, with_token=True, with_cookie=True))
    assert genuine.status_code == 303  # the real token works on the same site ...
    assert decision_count(store) == 1  # ... and only it wrote


def test_serve_review_needs_a_reviewer(corpus):
    result = run("serve", "--db", corpus, "--review", "--port", "0", check=False)
    assert result.returncode == 1 and "--reviewer" in result.stderr


def test_visitors_sql_still_cannot_attach(served_copy):
    db, store = served_copy
    ds = datasette_for(db, review=True, reviewer="ana", reviews=str(store))

    async def attempt():
        return await ds.client.get("/corpus.json?sql=" + "attach%20database%20%27%2Ftmp%2Fx.db%27%20as%20x")

    response = asyncio.run(attempt())
    assert response.status_code >= 400 or "error" in response.text.lower()


# ---------------------------------------------------------------- learning from reviews


def test_training_with_reviews_learns_the_corrections(reviewed, tmp_path):
    db = reviewed["db"]
    model = tmp_path / "reviewed.joblib"
    out = run("taxonomy", "train", "--reviews", rv.default_path(db), "--db", db, "-o", model)
    assert "reviewed clauses" in out.stdout
    card = json.loads(model.with_suffix(".card.json").read_text())
    assert card["training"]["reviewed_clauses"] == 4
    run("tag", "--db", db, "--model", model)
    # the model itself (no review overlay) now tags the corrected clauses as reviewed
    assert "official_accounts" in categories_of(db, reviewed["keys"]["add"])[0]
    assert run("taxonomy", "train", "--reviews", rv.default_path(db), "-o", model, check=False).returncode == 1


# ---------------------------------------------------------------- double coding a sample in the browser


async def code_sample(ds, n: int, seed: int, remove_first: bool) -> list[str]:
    """Walk the sample queue as a coder: accept every clause as shown, except (remove_first) the first clause's
    first category, removed. The clause keys in the order the queue gave them."""
    seen = []
    url = f"/-/review?sample={n}&seed={seed}"
    for _ in range(n + 2):
        page = await ds.client.get(url)
        assert page.status_code == 200, page.text
        if 'id="pc-sample-done"' in page.text:
            return seen
        key = re.search(r'data-clause-key="([0-9a-f]{16})"', page.text).group(1)
        token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
        cookies = {"ds_csrftoken": page.cookies.get("ds_csrftoken") or ds._test_cookie}
        ds._test_cookie = cookies["ds_csrftoken"]
        proposed = re.findall(r'<tr data-category="([a-z_]+)"', page.text)
        if remove_first and not seen and proposed:
            posted = await ds.client.post("/-/review/decide", cookies=cookies, data={
                "csrftoken": token, "action": "remove", "clause_key": key, "category": proposed[0], "next": url})
            assert posted.status_code == 303, posted.text
        posted = await ds.client.post("/-/review/decide", cookies=cookies, data={
            "csrftoken": token, "action": "accept", "clause_key": key, "next": url})
        assert posted.status_code == 303, posted.text
        seen.append(key)
    raise AssertionError("the sample queue did not end")


def test_two_coders_double_code_a_sample_in_the_queue(served_copy):
    db, store = served_copy
    drawn = [json.loads(line)["clause_key"]
             for line in run("review", "sample", "--n", "4", "--seed", "3", "--db", db).stdout.splitlines()]
    codings = {}
    for name, remove_first in (("ana", False), ("ben", True)):
        ds = datasette_for(db, review=True, reviewer=name, reviews=str(store))
        ds._test_cookie = None
        codings[name] = asyncio.run(code_sample(ds, 4, 3, remove_first))
        progress = asyncio.run(ds.client.get("/-/review?sample=4&seed=3")).text
        assert "4 of 4 sampled clauses coded by you" in progress
    # both coders walked exactly the clauses of 'review sample', in its order
    assert codings["ana"] == codings["ben"] == drawn
    out = json.loads(run("agreement", "--db", db, "--reviewers", "ana,ben", "--json").stdout)
    overall = next(r for r in out["rows"] if r["category"] == "overall")
    assert overall["clauses"] == 4
    assert overall["kappa"] is not None and overall["kappa"] < 1.0  # ben removed a tag ana accepted
    assert next(r for r in out["rows"] if r["category"] == "overall")["kappa_model_ana"] == pytest.approx(1.0)
