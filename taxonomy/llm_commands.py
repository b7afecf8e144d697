"""The `--backend llm` options of `policycorpus tag` and `taxonomy classify|evaluate`, and what they run.

taxonomy/commands.py adds these options and hands over here when
``--backend llm`` is given; the library part is taxonomy/llm_backend.py.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import sqlite_utils

from policycorpus.db import open_db
from policycorpus.options import F, UserError

if TYPE_CHECKING:
    from taxonomy.llm_backend import LLMTagger

CACHE_ENV = "POLICYCORPUS_LLM_CACHE"
DEFAULT_UNIT_CACHE = "llm-cache.db"


def _price(ctx, param, value):
    if value is None:
        return None
    try:
        a, b = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("give two numbers, IN,OUT (USD per million input and output tokens)") from None
    if a < 0 or b < 0:
        raise click.BadParameter("prices cannot be negative")
    return a, b


def backend_options(for_corpus: bool) -> Callable[[F], F]:
    """--backend, --llm-model, --llm-cache, --max-requests, --max-cost, --llm-price, --retry-failed (+ --only)."""
    options = [
        click.option("--backend", type=click.Choice(["offline", "llm"]), default="offline", show_default=True,
                     help="offline: the trained tagger model; llm: a language model through the llm library "
                          "(needs: pip install 'policycorpus[llm]')."),
        click.option("--llm-model", metavar="NAME",
                     help="With --backend llm: the llm model id or alias ('llm models' lists them)."),
        click.option("--llm-cache", type=click.Path(dir_okay=False), metavar="PATH",
                     help="With --backend llm: the corpus file whose llm_cache table holds the answers "
                          + ("(default: this corpus)." if for_corpus
                             else f"(default: ${CACHE_ENV} or ./{DEFAULT_UNIT_CACHE}).")),
        click.option("--max-requests", type=click.IntRange(min=0), metavar="N",
                     help="With --backend llm: stop after N requests (answers so far are kept; run again to go on)."),
        click.option("--max-cost", type=click.FloatRange(min=0), metavar="USD",
                     help="With --backend llm: stop once the reported token usage costs this much (needs --llm-price; "
                          "a model that reports no usage stops after one request)."),
        click.option("--llm-price", callback=_price, metavar="IN,OUT",
                     help="USD per million input and output tokens, for --max-cost (llm does not know prices)."),
        click.option("--llm-timeout", type=click.FloatRange(min=0), metavar="SECONDS",
                     help="With --backend llm: a request unanswered after this long is a timeout (default: "
                          "request_timeout in taxonomy/llm_prompt.yaml; 0 waits as long as the plugin does)."),
        click.option("--retry-failed", is_flag=True,
                     help="With --backend llm: ask again for the clauses whose answers failed before."),
    ]
    if for_corpus:
        options.append(click.option(
            "--only", type=click.Choice(["all", "uncertain"]), default="all", show_default=True,
            help="With --backend llm: 'uncertain' sends only the clauses the offline model is unsure of; the "
                 "others keep the offline model's tags."))

    def decorate(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def check_backend(backend: str, llm_model: str | None, **llm_args: Any) -> None:
    if backend == "llm" and not llm_model:
        raise UserError("--backend llm needs --llm-model NAME ('llm models' lists them)")
    if backend != "llm":
        given = [k for k, v in llm_args.items() if v not in (None, False, "all")]
        if llm_model:
            given.insert(0, "llm_model")
        if given:
            raise UserError(f"--{given[0].replace('_', '-')} needs --backend llm")


def _progress(quiet: bool):
    if quiet:
        return None
    last = {"requests": -1}

    def report(stats) -> None:
        if stats.requests != last["requests"]:
            last["requests"] = stats.requests
            click.echo(f"llm: {stats.line()}", err=True)

    return report


def make_tagger(model: str, cache_db: sqlite_utils.Database, *, max_requests: int | None = None,
                max_cost: float | None = None, llm_price: tuple[float, float] | None = None,
                llm_timeout: float | None = None, retry_failed: bool = False, quiet: bool = False) -> LLMTagger:
    from taxonomy.llm_backend import LLMTagger

    return LLMTagger(model, cache_db, max_requests=max_requests, max_cost=max_cost, price=llm_price,
                     timeout=llm_timeout, retry_failed=retry_failed, progress=_progress(quiet))


def _summary(tagger) -> str:
    stats = tagger.stats
    line = f"llm {tagger.version}: {stats.line()}"
    if not stats.usage_reported:
        line += "; the model reports no token usage (cost unknown)"
    elif stats.input_tokens or stats.output_tokens:
        line += f"; {stats.input_tokens} input and {stats.output_tokens} output tokens"
    return line


def _stopped(exc, tagger) -> None:
    click.echo(f"Stopped: {exc}", err=True)
    click.echo(_summary(tagger), err=True)
    raise click.exceptions.Exit(exc.exit_code)


def run_tag(db_path: str, quiet: bool, llm_model: str, llm_cache: str | None, only: str,
            offline_model_file: str | None, **bounds: Any) -> None:
    """policycorpus tag --backend llm."""
    from taxonomy.evaluate import load_card
    from taxonomy.llm_backend import BudgetExhausted, UncertainOnlyTagger, card_path, reopen_failed
    from taxonomy.pipeline import store_quality_card, tag_snapshots

    db = open_db(db_path)
    cache_db = open_db(llm_cache) if llm_cache else db
    language = make_tagger(llm_model, cache_db, quiet=quiet, **bounds)
    tagger: LLMTagger | UncertainOnlyTagger = language
    if only == "uncertain":
        from taxonomy.pipeline import load_tagger as _model

        offline = _model(offline_model_file)
        calibration = calibration_or_note(offline, offline_model_file, quiet,
                                          "--only uncertain uses the score band of the prompt file instead")
        tagger = UncertainOnlyTagger(offline, language, calibration=calibration)
    try:
        card = load_card(card_path(language.model_id), tagger.version)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if bounds.get("retry_failed"):
        reopened = reopen_failed(db, cache_db, tagger.version, language.model_id,
                                 language.prompt_version)
        if reopened and not quiet:
            click.echo(f"llm: {reopened} snapshots have failed clauses: asking again", err=True)
    try:
        stats = tag_snapshots(db, tagger)
    except BudgetExhausted as exc:
        _stopped(exc, language)
    store_quality_card(db, card)
    if stats["snapshots"] == 0:
        click.echo(f"Nothing to tag: every segmented snapshot is tagged by {stats['version']}.")
    else:
        click.echo(f"Tagged {stats['clauses']} clauses of {stats['snapshots']} snapshots: "
                   f"{stats['tags']} tags ({stats['version']}).")
    if isinstance(tagger, UncertainOnlyTagger):  # --only uncertain
        click.echo(f"{tagger.sent} uncertain clauses went to the language model.", err=True)
    click.echo(_summary(language), err=True)
    if language.stats.failures:
        click.echo(f"{language.stats.failures} clauses have no valid answer (recorded in llm_cache with status 'error'; "
                   "--retry-failed asks again).", err=True)


def calibration_or_note(model: Any, model_file: str | None, quiet: bool, without: str,
                        missing_only: type[Exception] | None = None) -> Any:
    """The model's cell thresholds, or None after a note saying what happens ``without`` them. With
    ``missing_only`` (e.g. NotFoundError) only that problem is noted; others (a file fitted for another model)
    stay errors."""
    from policycorpus.errors import PolicyCorpusError
    from taxonomy.pipeline import get_calibration

    try:
        return get_calibration(model, model_file)
    except (missing_only or PolicyCorpusError) as exc:
        if not quiet:
            click.echo(f"Note: {exc}; {without}.", err=True)
        return None


def write_jsonl(rows: list[dict], output: str | None) -> None:
    """JSON lines to a file, or to standard output."""
    fh = open(output, "w", encoding="utf-8") if output else sys.stdout
    try:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if output:
            fh.close()


def _unit_cache(llm_cache: str | None):
    return open_db(llm_cache or os.environ.get(CACHE_ENV) or DEFAULT_UNIT_CACHE)


def run_classify(rows: list[dict], output: str | None, llm_model: str, llm_cache: str | None, **bounds: Any) -> None:
    """policycorpus taxonomy classify --backend llm."""
    from taxonomy.llm_backend import BudgetExhausted
    from taxonomy.pipeline import classify_units

    tagger = make_tagger(llm_model, _unit_cache(llm_cache), **bounds)
    try:
        out = classify_units(rows, tagger)
    except BudgetExhausted as exc:
        _stopped(exc, tagger)
    write_jsonl(out, output)
    click.echo(_summary(tagger), err=True)


def run_coverage(rows: list[dict], output: str | None, llm_model: str, llm_cache: str | None, **bounds: Any) -> None:
    """policycorpus taxonomy coverage --backend llm: the model's own decisions as cells (no calibration)."""
    from taxonomy.llm_backend import BudgetExhausted
    from taxonomy.pipeline import classified_cells, classify_units

    tagger = make_tagger(llm_model, _unit_cache(llm_cache), **bounds)
    try:
        classified = classify_units(rows, tagger)
    except BudgetExhausted as exc:
        _stopped(exc, tagger)
    write_jsonl(classified_cells(classified, list(tagger.categories)), output)
    click.echo(_summary(tagger) + "; cells are covered or absent as the model decided (no calibration: none "
               "is marked uncertain)", err=True)


def run_evaluate(units: list[dict], gold: list[dict], llm_model: str, llm_cache: str | None, as_json: bool,
                 card_name: str | None, description: str, **bounds: Any) -> None:
    """policycorpus taxonomy evaluate --backend llm: the figures, and with --card the model's quality card."""
    from taxonomy.evaluate import format_scores, score, update_card
    from taxonomy.llm_backend import BudgetExhausted, card_path
    from taxonomy.pipeline import classify_units

    tagger = make_tagger(llm_model, _unit_cache(llm_cache), **bounds)
    try:
        predicted = classify_units(units, tagger)
    except BudgetExhausted as exc:
        _stopped(exc, tagger)
    scores = score(gold, predicted, tagger.categories)
    failed = tagger.stats.failures
    if as_json:
        click.echo(json.dumps({"model_version": tagger.version, "failures": failed, **scores.as_dict()}, indent=2))
    else:
        click.echo(f"model {tagger.version}")
        click.echo(format_scores(scores))
    click.echo(_summary(tagger), err=True)
    if card_name:
        path = card_path(tagger.model_id)
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            update_card(path, tagger.version, card_name, scores, description)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot write the quality card {path}: {exc}") from exc
        click.echo(f"recorded as '{card_name}' in {path}", err=True)


def with_backend(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Keep the llm options together in one dict argument, ``llm_args``."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        keys = ("llm_cache", "max_requests", "max_cost", "llm_price", "llm_timeout", "retry_failed")
        llm_args = {k: kwargs.pop(k) for k in keys if k in kwargs}
        return fn(*args, llm_args=llm_args, **kwargs)

    return wrapper
