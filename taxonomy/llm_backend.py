"""Tagging clauses with a language model through Simon Willison's `llm` library (install extra ``[llm]``).

``LLMTagger`` has the offline ``TaggerModel``'s interface (``tag(records,
taggable, documents=...)``, ``version``, ``categories``), so
``taxonomy.pipeline.tag_snapshots`` and ``classify_units`` use it unchanged.
Clauses go to the model in batches of one document, in document order, with
their heading paths and lead-ins; the prompt is built from taxonomy.yaml and
llm_prompt.yaml. Every answer is validated against the taxonomy's category
ids and the five modalities; an invalid one is sent again (a bounded number of
times) and then recorded as a failure of that clause, never a crash.

Answers are cached in the ``llm_cache`` table, keyed by model id, prompt
version and a hash of the clause text with its heading path and lead-in: a
re-run, a re-segmentation that keeps the text, or another corpus pointed at
the same cache sends no request. Each request's answers are committed as they
arrive, so an interrupted run resumes where it stopped.

``llm`` is imported only here, and only when an ``LLMTagger`` is made.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils
import yaml

from policycorpus.db import transaction, utcnow
from policycorpus.errors import CorpusStateError, DependencyError, InputError, PolicyCorpusError
from taxonomy.taxonomy import MODALITIES, Taxonomy, load_taxonomy

if TYPE_CHECKING:
    import numpy as np

    from taxonomy.coverage import CellCalibration
    from taxonomy.model import TaggedResult, TaggerModel

PROMPT_PATH = Path(__file__).with_name("llm_prompt.yaml")
BACKEND = "llm"
MAX_ANSWER_CHARS = 20_000  # of a raw answer kept in the cache with a failure
MAX_LABELS = 3

# error kinds recorded in llm_cache.error_kind
EMPTY, MALFORMED, REFUSAL, UNKNOWN_CATEGORY, BAD_MODALITY, BAD_CONFIDENCE, MISSING, TIMEOUT, ERROR = (
    "empty", "malformed", "refusal", "unknown_category", "bad_modality", "bad_confidence", "missing",
    "timeout", "error")
BATCH_FAILURES = {EMPTY, MALFORMED, REFUSAL, TIMEOUT, ERROR}  # the whole answer is unusable


class BudgetExhausted(CorpusStateError):
    """The run reached its --max-requests or --max-cost bound; what was answered is cached."""

    exit_code = 3


# ---------------------------------------------------------------- the prompt

@dataclass(frozen=True)
class PromptSpec:
    instructions: str
    modality_rules: str
    answer_format: str
    phrases_per_category: int
    examples_per_category: int
    batch_clauses: int
    max_attempts: int
    max_clause_chars: int
    request_timeout: float
    max_failed_requests: int
    refusal_patterns: tuple[str, ...]
    uncertain_band: tuple[float, float]
    digest: str


@lru_cache(maxsize=4)
def load_prompt_spec(path: str | Path = PROMPT_PATH) -> PromptSpec:
    raw = Path(path).read_bytes()
    data = yaml.safe_load(raw) or {}
    band = data.get("uncertain_band") or [0.2, 0.6]
    return PromptSpec(
        instructions=str(data["instructions"]).strip(),
        modality_rules=str(data["modality_rules"]).strip(),
        answer_format=str(data["answer_format"]).strip(),
        phrases_per_category=int(data.get("phrases_per_category", 8)),
        examples_per_category=int(data.get("examples_per_category", 2)),
        batch_clauses=max(1, int(data.get("batch_clauses", 12))),
        max_attempts=max(1, int(data.get("max_attempts", 3))),
        max_clause_chars=max(100, int(data.get("max_clause_chars", 2000))),
        request_timeout=float(data.get("request_timeout") or 0),
        max_failed_requests=max(1, int(data.get("max_failed_requests", 6))),
        refusal_patterns=tuple(str(p) for p in data.get("refusal_patterns") or ()),
        uncertain_band=(float(band[0]), float(band[1])),
        digest=hashlib.sha256(raw).hexdigest()[:12],
    )


def system_prompt(tax: Taxonomy, spec: PromptSpec) -> str:
    """Instructions, every category (id, name, description, phrases, examples), modality rules, answer format."""
    lines = [spec.instructions, "", "Categories (id: name - description):"]
    for c in tax.categories:
        lines.append(f"- {c.id}: {c.name} - {c.description}")
        if c.phrases and spec.phrases_per_category:
            lines.append(f"  typical wording: {'; '.join(c.phrases[:spec.phrases_per_category])}")
        for e in c.examples[:spec.examples_per_category]:
            lines.append(f"  example: {e.text} -> {', '.join(e.labels)}")
    lines += ["", "Modality rules:", spec.modality_rules, "", spec.answer_format]
    return "\n".join(lines)


def answer_schema(categories: Sequence[str]) -> dict:
    """The JSON schema of an answer: one entry per clause with idx, categories, modality and confidence."""
    return {
        "type": "object",
        "properties": {
            "clauses": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "idx": {"type": "integer"},
                        "categories": {"type": "array", "items": {"type": "string", "enum": list(categories)}},
                        "modality": {"type": "string", "enum": list(MODALITIES)},
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                    "required": ["idx", "categories", "modality", "confidence"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["clauses"],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class ClauseItem:
    """One clause as the model sees it; ``key`` identifies its cached answer."""

    text: str
    heading: str = ""
    lead_in: str = ""

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps([self.text, self.heading, self.lead_in]).encode("utf-8")).hexdigest()


def _cut(text: str, limit: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[:limit] + " ..."


def batch_prompt(items: Sequence[ClauseItem], spec: PromptSpec) -> str:
    """The clauses of one request, numbered from 1, each with its heading path and lead-in."""
    lines = [f"Label these {len(items)} clauses of one policy (in document order):", ""]
    for n, item in enumerate(items, 1):
        lines.append(f"[{n}]")
        if item.heading:
            lines.append(f"heading: {_cut(item.heading, spec.max_clause_chars)}")
        if item.lead_in:
            lines.append(f"lead-in: {_cut(item.lead_in, spec.max_clause_chars)}")
        lines.append(f"clause: {_cut(item.text, spec.max_clause_chars)}")
        lines.append("")
    lines.append(f'Answer with JSON: {{"clauses": [...]}} with {len(items)} entries, idx 1 to {len(items)}.')
    return "\n".join(lines)


def prompt_version(system: str, schema: dict) -> str:
    """'p' + a hash of everything that shapes the answer besides the clauses: system prompt and schema."""
    payload = json.dumps({"system": system, "schema": schema}, sort_keys=True)
    return "p" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:10]


# ---------------------------------------------------------------- answers

@dataclass(frozen=True)
class ClauseAnswer:
    categories: tuple[str, ...]
    modality: str
    confidence: float
    raw: dict


@dataclass(frozen=True)
class ClauseFailure:
    kind: str
    message: str


_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.S)


def _json_of(raw: str):
    """The JSON value of an answer: the whole text, a fenced block, or the outermost {...} or [...] in it."""
    text = raw.strip()
    fenced = _FENCE.match(text)
    candidates = [fenced.group(1)] if fenced else [text]
    for open_, close in (("{", "}"), ("[", "]")):
        a, b = text.find(open_), text.rfind(close)
        if 0 <= a < b:
            candidates.append(text[a:b + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except (ValueError, RecursionError):
            continue
    raise ValueError("no JSON value in the answer")


def parse_answer(raw: str | None, n: int, categories: Iterable[str], spec: PromptSpec
                 ) -> dict[int, ClauseAnswer | ClauseFailure]:
    """Each clause's answer (1..n) or why there is none; never raises on what a model sends."""
    def all_fail(kind: str, message: str) -> dict[int, ClauseAnswer | ClauseFailure]:
        return {i: ClauseFailure(kind, message) for i in range(1, n + 1)}

    text = raw or ""
    if not text.strip():
        return all_fail(EMPTY, "the model answered nothing")
    try:
        value = _json_of(text)
    except ValueError:
        if any(re.search(p, text, re.I) for p in spec.refusal_patterns):
            return all_fail(REFUSAL, f"the model refused: {_cut(text, 200)}")
        return all_fail(MALFORMED, f"not JSON: {_cut(text, 200)}")
    entries = value.get("clauses") if isinstance(value, dict) else value
    if not isinstance(entries, list):
        return all_fail(MALFORMED, 'the JSON has no "clauses" list')
    known = set(categories)
    out: dict[int, ClauseAnswer | ClauseFailure] = {}
    for entry in entries:
        idx = entry.get("idx") if isinstance(entry, dict) else None
        if isinstance(idx, bool) or not isinstance(idx, int) or not 1 <= idx <= n or idx in out:
            continue
        out[idx] = _clause_answer(entry, known)
    for i in range(1, n + 1):
        out.setdefault(i, ClauseFailure(MISSING, f"the answer has no entry with idx {i}"))
    return out


def _clause_answer(entry: dict, known: set[str]) -> ClauseAnswer | ClauseFailure:
    cats = entry.get("categories")
    if isinstance(cats, str):
        cats = [cats]
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        return ClauseFailure(MALFORMED, f"categories is not a list of ids: {_cut(json.dumps(cats), 200)}")
    unknown = sorted({c for c in cats if c not in known})
    if unknown:
        return ClauseFailure(UNKNOWN_CATEGORY, f"unknown categories: {_cut(', '.join(unknown), 200)}")
    modality = entry.get("modality")
    if modality not in MODALITIES:
        return ClauseFailure(BAD_MODALITY, f"unknown modality: {_cut(json.dumps(modality), 100)}")
    confidence = entry.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or confidence != confidence:
        return ClauseFailure(BAD_CONFIDENCE, f"confidence is not a number: {_cut(json.dumps(confidence), 100)}")
    ordered = tuple(dict.fromkeys(cats))[:MAX_LABELS]
    return ClauseAnswer(ordered, modality, min(1.0, max(0.0, float(confidence))), entry)


# ---------------------------------------------------------------- the cache

class LLMCache:
    """Answers and failures in a corpus's llm_cache table (possibly another corpus's: --llm-cache)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def lookup(self, model_id: str, version: str, keys: Sequence[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(
                    f"select * from llm_cache where model_id = ? and prompt_version = ? and clause_key in ({marks})",
                    [model_id, version, *chunk]):
                found[row["clause_key"]] = row
        return found

    def store(self, rows: list[dict]) -> None:
        if rows:
            with transaction(self.db):
                self.db.table("llm_cache").insert_all(rows, pk=("model_id", "prompt_version", "clause_key"), replace=True)


def _cache_row(model_id: str, version: str, item: ClauseItem, result: ClauseAnswer | ClauseFailure,
               attempts: int, raw: str) -> dict:
    row: dict[str, object] = {
        "model_id": model_id, "prompt_version": version, "clause_key": item.key,
        "text": item.text, "heading_path": item.heading or None, "lead_in": item.lead_in or None,
        "attempts": attempts, "created_at": utcnow(),
    }
    if isinstance(result, ClauseAnswer):
        row.update(status="ok", categories=json.dumps(list(result.categories)), modality=result.modality,
                   confidence=result.confidence, answer=json.dumps(result.raw, ensure_ascii=False)[:MAX_ANSWER_CHARS],
                   error_kind=None, error=None)
    else:
        row.update(status="error", categories=None, modality=None, confidence=None,
                   answer=(raw or "")[:MAX_ANSWER_CHARS], error_kind=result.kind, error=result.message)
    return row


# ---------------------------------------------------------------- the tagger

@dataclass
class LLMResult:
    """A clause's tagging, shaped like taxonomy.model.TaggedResult; ``error`` is set for a failed clause."""

    labels: dict[str, float]
    modality: str
    modality_score: float
    error: str | None = None


@dataclass
class RunStats:
    requests: int = 0
    cache_hits: int = 0
    answered: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usage_reported: bool = True
    failure_kinds: dict[str, int] = field(default_factory=dict)

    def cost(self, price: tuple[float, float] | None) -> float | None:
        """USD at ``price`` (per million input and output tokens), if the model reported its usage."""
        if price is None or not self.usage_reported:
            return None
        return (self.input_tokens * price[0] + self.output_tokens * price[1]) / 1e6

    def line(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.failure_kinds.items()))
        return (f"{self.requests} requests, {self.cache_hits} cache hits, {self.answered} answered, "
                f"{self.failures} failed" + (f" ({kinds})" if kinds else ""))


def _import_llm():
    try:
        import llm
    except ImportError as exc:
        raise DependencyError("the llm backend needs the llm library: pip install 'policycorpus[llm]'") from exc
    return llm


FATAL_ERRORS = {  # class names (of llm, openai, httpx, the standard library) that no retry of a clause can cure
    "NeedsKeyException", "UnknownModelError", "AuthenticationError", "PermissionDeniedError",
    "APIConnectionError", "ConnectError", "ConnectionError",
}


def _fatal(exc: BaseException) -> bool:
    """A missing key, an unknown model, an unreachable server: every clause would fail the same way."""
    return any(c.__name__ in FATAL_ERRORS for c in type(exc).__mro__) and not _timeout(exc)


def _within(seconds: float | None, fn, *args):
    """``fn(*args)``, or TimeoutError after ``seconds``: llm has no request timeout of its own.

    The call runs in a daemon thread, left behind if it hangs (a thread
    cannot be stopped), so a hung server or local model cannot hold the run.
    """
    if not seconds:
        return fn(*args)
    box: queue.Queue = queue.Queue(maxsize=1)

    def work():
        try:
            box.put((True, fn(*args)))
        except BaseException as exc:  # handed to the caller, KeyboardInterrupt included
            box.put((False, exc))

    threading.Thread(target=work, daemon=True, name="llm-request").start()
    try:
        ok, value = box.get(timeout=seconds)
    except queue.Empty:
        raise TimeoutError(f"no answer within {seconds:g} s") from None
    if not ok:
        raise value
    return value


def _timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or any("Timeout" in c.__name__ for c in type(exc).__mro__)


class LLMTagger:
    """Tags clauses with a model of the `llm` library; see the module docstring."""

    def __init__(self, model_id: str, cache_db: sqlite_utils.Database, *, taxonomy: Taxonomy | None = None,
                 spec: PromptSpec | None = None, max_requests: int | None = None, max_cost: float | None = None,
                 price: tuple[float, float] | None = None, retry_failed: bool = False,
                 timeout: float | None = None, progress: Callable[[RunStats], None] | None = None) -> None:
        llm = _import_llm()
        try:
            self.model = llm.get_model(model_id)
        except llm.UnknownModelError as exc:
            raise InputError(f"unknown llm model {model_id!r}: 'llm models' lists the installed ones "
                             "(a plugin such as llm-ollama adds more)") from exc
        if max_cost is not None and price is None:
            raise InputError("--max-cost needs --llm-price IN,OUT (USD per million input and output tokens): "
                             "llm does not know prices")
        self.model_id = self.model.model_id
        self.taxonomy = taxonomy or load_taxonomy()
        self.spec = spec or load_prompt_spec()
        self.categories = self.taxonomy.ids
        self.system = system_prompt(self.taxonomy, self.spec)
        self.schema = answer_schema(self.categories)
        self.use_schema = bool(getattr(self.model, "supports_schema", False))
        self.prompt_version = prompt_version(self.system, self.schema)
        self.version = f"{BACKEND}:{self.model_id}:{self.prompt_version}"
        self.cache = LLMCache(cache_db)
        self.max_requests, self.max_cost, self.price = max_requests, max_cost, price
        self.retry_failed = retry_failed
        self.timeout = self.spec.request_timeout if timeout is None else timeout
        self.progress = progress
        self.stats = RunStats()
        self.failed_in_a_row = 0

    # -- the TaggerModel interface

    def tag(self, records: Sequence[dict], taggable: Sequence[bool] | np.ndarray | None = None,
            documents: Sequence[Hashable] | None = None) -> list[LLMResult]:
        """Categories (each with the clause's confidence) and modality per record; untaggable ones get none."""
        n = len(records)
        taggable = [True] * n if taggable is None else [bool(t) for t in taggable]
        items = [ClauseItem(str(r.get("text") or ""), str(r.get("heading") or ""), str(r.get("lead_in") or ""))
                 for r in records]
        results: list[LLMResult | None] = [
            None if taggable[i] and items[i].text.strip() else LLMResult({}, "information", 1.0) for i in range(n)]
        answers = self._answers([items[i] for i in range(n) if results[i] is None],
                                [(documents[i] if documents is not None else None)
                                 for i in range(n) if results[i] is None])
        return [r if r is not None else answers[items[i].key] for i, r in enumerate(results)]

    # -- answers: cache first, then requests

    def _answers(self, items: list[ClauseItem], documents: list) -> dict[str, LLMResult]:
        cached = self.cache.lookup(self.model_id, self.prompt_version, [i.key for i in items])
        out: dict[str, LLMResult] = {}
        for key, row in cached.items():
            if row["status"] == "ok" or not self.retry_failed:
                out[key] = self._from_row(row)
        self.stats.cache_hits += sum(1 for i in items if i.key in out)
        todo_by_doc: dict = {}
        for item, doc in zip(items, documents):
            if item.key not in out:
                todo_by_doc.setdefault(doc, {}).setdefault(item.key, item)  # document order, each text once
        self._report()
        for doc_items in todo_by_doc.values():
            pending = list(doc_items.values())
            for start in range(0, len(pending), self.spec.batch_clauses):
                batch = [i for i in pending[start:start + self.spec.batch_clauses] if i.key not in out]
                if batch:
                    out.update(self._send(batch))
        return out

    def _from_row(self, row: dict) -> LLMResult:
        if row["status"] != "ok":
            return LLMResult({}, "information", 0.0, f"{row['error_kind']}: {row['error']}")
        confidence = float(row["confidence"])
        return LLMResult({c: round(confidence, 4) for c in json.loads(row["categories"])}, row["modality"],
                         round(confidence, 4))

    def _send(self, batch: list[ClauseItem]) -> dict[str, LLMResult]:
        """One batch: request, validate, cache; invalid clauses are sent again, up to max_attempts each.

        Clauses whose own entries were invalid go again together; when the
        whole answer was unusable (empty, not JSON, a refusal, a timeout) each
        clause goes again alone, so that one troublesome clause cannot sink
        the others.
        """
        out: dict[str, LLMResult] = {}
        todo: list[tuple[list[ClauseItem], int]] = [(batch, 1)]
        while todo:
            pending, attempt = todo.pop(0)
            self._check_budget()
            raw, parsed = self._request(pending)
            rows, retry = [], []
            for n, item in enumerate(pending, 1):
                result = parsed[n]
                if isinstance(result, ClauseFailure) and attempt < self.spec.max_attempts:
                    retry.append(item)
                    continue
                row = _cache_row(self.model_id, self.prompt_version, item, result, attempt, raw)
                rows.append(row)
                out[item.key] = self._from_row(row)
                if isinstance(result, ClauseFailure):
                    self.stats.failures += 1
                    self.stats.failure_kinds[result.kind] = self.stats.failure_kinds.get(result.kind, 0) + 1
                else:
                    self.stats.answered += 1
            self.cache.store(rows)
            self._report()
            if retry:
                whole = len(retry) == len(pending) > 1 and {r.kind for r in parsed.values() if isinstance(r, ClauseFailure)} <= BATCH_FAILURES
                todo[:0] = [([i], attempt + 1) for i in retry] if whole else [(retry, attempt + 1)]
        return out

    def _request(self, items: list[ClauseItem]) -> tuple[str, dict[int, ClauseAnswer | ClauseFailure]]:
        prompt = batch_prompt(items, self.spec)
        self.stats.requests += 1
        try:
            response, raw = _within(self.timeout, self._ask, prompt)
            self._count_usage(response)
        except PolicyCorpusError:
            raise
        except Exception as exc:  # a plugin's own errors: network, server, timeouts
            if _fatal(exc):
                raise DependencyError(f"llm model {self.model_id}: {exc}") from exc
            kind = TIMEOUT if _timeout(exc) else ERROR
            message = f"{type(exc).__name__}: {_cut(str(exc), 300)}"
            self.failed_in_a_row += 1
            if self.failed_in_a_row >= self.spec.max_failed_requests:
                raise DependencyError(f"llm model {self.model_id}: {self.failed_in_a_row} requests in a row failed "
                                      f"(last: {message}); stopped, the answers so far are cached") from exc
            return "", {i: ClauseFailure(kind, message) for i in range(1, len(items) + 1)}
        self.failed_in_a_row = 0
        return raw, parse_answer(raw, len(items), self.categories, self.spec)

    def _ask(self, prompt: str):
        response = self.model.prompt(prompt, system=self.system, schema=self.schema if self.use_schema else None,
                                     stream=False)  # the whole answer is needed anyway
        return response, response.text()

    def _count_usage(self, response) -> None:
        try:
            usage = response.usage()
        except Exception:  # a plugin that cannot say
            usage = None
        if usage is None or usage.input is None and usage.output is None:
            self.stats.usage_reported = False
            return
        self.stats.input_tokens += usage.input or 0
        self.stats.output_tokens += usage.output or 0

    def _check_budget(self) -> None:
        if self.max_requests is not None and self.stats.requests >= self.max_requests:
            raise BudgetExhausted(f"stopped at --max-requests {self.max_requests} ({self.stats.line()}); "
                                  "the answers are cached: run the same command again to continue")
        if self.max_cost is not None and self.stats.requests:
            cost = self.stats.cost(self.price)
            if cost is None:
                raise BudgetExhausted(f"model {self.model_id} reports no token usage, so --max-cost cannot be "
                                      f"enforced; stopped after {self.stats.requests} request(s): use --max-requests")
            if cost >= self.max_cost:
                raise BudgetExhausted(f"stopped at --max-cost {self.max_cost} (spent about ${cost:.4f}; "
                                      f"{self.stats.line()}); run the same command again to continue")

    def _report(self) -> None:
        if self.progress:
            self.progress(self.stats)


# ---------------------------------------------------------------- only the uncertain clauses

class UncertainOnlyTagger:
    """The offline model's tags, except for uncertain clauses, which the language model tags.

    With the offline model's cell calibration (``calibration``, its
    ``thresholds.json``), the uncertain clauses are those that decide an
    uncertain grid cell: for each document and category whose calibrated
    state is ``uncertain``, its ``per_cell`` strongest clauses for that
    category -- exactly the cells a person would otherwise check by hand.
    Without a calibration, a clause is uncertain when the offline model's best
    category score lies in the prompt file's ``uncertain_band``, or when it
    carries a category of its document whose every carrying clause scores in
    that band. A clause the language model fails on keeps the offline tags.
    """

    def __init__(self, offline: TaggerModel, llm_tagger: LLMTagger, calibration: CellCalibration | None = None,
                 per_cell: int = 3) -> None:
        self.offline, self.llm = offline, llm_tagger
        self.calibration, self.per_cell = calibration, per_cell
        self.categories = llm_tagger.categories
        self.version = f"{llm_tagger.version}+uncertain:{offline.version}"
        self.stats = llm_tagger.stats
        self.sent = 0

    def tag(self, records: Sequence[dict], taggable: Sequence[bool] | np.ndarray | None = None,
            documents: Sequence[Hashable] | None = None) -> Sequence[TaggedResult | LLMResult]:
        base = self.offline.tag(records, taggable, documents)
        if not records:
            return base
        if self.calibration is not None:
            mask = uncertain_cell_mask(base, self.calibration, taggable, documents, self.per_cell)
        else:
            mask = uncertain_mask(self.offline.tagger.predict_proba(records), base, taggable, documents,
                                  self.llm.spec.uncertain_band)
        idx = [i for i, m in enumerate(mask) if m]
        self.sent += len(idx)
        answers = self.llm.tag([records[i] for i in idx], None,
                               None if documents is None else [documents[i] for i in idx])
        out: list[TaggedResult | LLMResult] = list(base)
        for i, answer in zip(idx, answers):
            if answer.error is None:
                out[i] = answer
        return out


def uncertain_cell_mask(base: Sequence, calibration: CellCalibration,
                        taggable: Sequence[bool] | np.ndarray | None = None,
                        documents: Sequence[Hashable] | None = None, per_cell: int = 3) -> list[bool]:
    """The clauses that decide an uncertain calibrated cell (see UncertainOnlyTagger).

    ``base``: the offline model's results (each with ``scores``, every
    category's probability); ``calibration``: its ``CellCalibration``.
    """
    from taxonomy.coverage import UNCERTAIN, cell_states

    n = len(base)
    ok = [True] * n if taggable is None else [bool(t) for t in taggable]
    by_document: dict = {}
    for i in range(n):
        if ok[i]:
            by_document.setdefault(None if documents is None else documents[i], []).append(i)
    mask = [False] * n
    for rows in by_document.values():
        clauses = [{"idx": i, "scores": base[i].scores or base[i].labels} for i in rows]
        for cell in cell_states(clauses, calibration):
            if cell["state"] != UNCERTAIN:
                continue
            category = cell["category"]
            ranked = sorted(rows, key=lambda i: -float((base[i].scores or base[i].labels).get(category, 0.0)))
            for i in ranked[:per_cell]:
                if float((base[i].scores or base[i].labels).get(category, 0.0)) > 0:
                    mask[i] = True
    return mask


def uncertain_mask(P: np.ndarray, base: Sequence, taggable: Sequence[bool] | np.ndarray | None = None,
                   documents: Sequence[Hashable] | None = None, band: tuple[float, float] = (0.2, 0.6)
                   ) -> list[bool]:
    """Which clauses the offline model is unsure of (see UncertainOnlyTagger)."""
    lo, hi = band
    n = len(base)
    ok = [True] * n if taggable is None else [bool(t) for t in taggable]
    mask = [ok[i] and lo <= float(P[i].max()) <= hi for i in range(n)]
    cells: dict[tuple, list[int]] = {}
    for i, result in enumerate(base):
        if not ok[i]:
            continue
        for category in result.labels:
            cells.setdefault((None if documents is None else documents[i], category), []).append(i)
    for (_, category), rows in cells.items():
        if all(lo <= base[i].labels[category] <= hi for i in rows):
            for i in rows:
                mask[i] = True
    return mask


# ---------------------------------------------------------------- cards and failures

CARDS_ENV = "POLICYCORPUS_LLM_CARDS"


def card_path(model_id: str) -> Path:
    """Where the quality card of a language model lives: taxonomy/models/llm-<model id>.card.json.

    $POLICYCORPUS_LLM_CARDS names another folder. The card holds the full
    version (with the prompt version): a changed prompt starts a new card.
    """
    import os

    folder = Path(os.environ.get(CARDS_ENV) or Path(__file__).with_name("models"))
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._") or "model"
    return folder / f"llm-{safe}.card.json"


def reopen_failed(db: sqlite_utils.Database, cache_db: sqlite_utils.Database, version: str, model_id: str,
                  prompt_version: str) -> int:
    """Mark for re-tagging the snapshots with a clause whose answer failed (for --retry-failed)."""
    failed = {r[0] for r in cache_db.execute(
        "select clause_key from llm_cache where model_id = ? and prompt_version = ? and status = 'error'",
        [model_id, prompt_version]).fetchall()}
    if not failed:
        return 0
    snapshots = set()
    for clause_id, snapshot_id, text, heading, lead_in in db.execute(
            "select c.id, c.snapshot_id, c.text, c.heading_path, c.lead_in from clauses c join processing p "
            "on p.snapshot_id = c.snapshot_id and p.step = 'tag' and p.version = ?", [version]).fetchall():
        if ClauseItem(text or "", heading or "", lead_in or "").key in failed:
            snapshots.add(snapshot_id)
    if snapshots:
        with transaction(db):
            db.conn.executemany("delete from processing where snapshot_id = ? and step = 'tag' and version = ?",
                                [(s, version) for s in sorted(snapshots)])
    return len(snapshots)


def clause_failures(db: sqlite_utils.Database, model_id: str, prompt_version: str) -> list[dict]:
    """The corpus's clauses whose answer failed for this model and prompt, with the recorded error."""
    rows = {r["clause_key"]: r for r in db.query(
        "select clause_key, error_kind, error, attempts from llm_cache where model_id = ? and prompt_version = ? "
        "and status = 'error'", [model_id, prompt_version])}
    out: list[dict] = []
    if not rows:
        return out
    for clause_id, text, heading, lead_in in db.execute(
            "select id, text, heading_path, lead_in from clauses where kind = 'clause'").fetchall():
        row = rows.get(ClauseItem(text or "", heading or "", lead_in or "").key)
        if row:
            out.append({"clause_id": clause_id, **row})
    return out
