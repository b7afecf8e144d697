"""A scripted language model for the tests of the llm backend, registered through llm's own plugin hook.

It answers from the clause text alone (keywords give categories, modal words
the modality), so its answers are predictable, and it misbehaves on request:
a clause containing one of the MARKERS spoils its answer. Every request is
counted in REQUESTS (in this process) and, when $SCRIPTED_LLM_LOG names a
file, appended there as a JSON line (for a CLI run in a subprocess).
A clause with "zz-hang" makes the model sleep HANG_SECONDS first. $SCRIPTED_LLM_EXIT_AFTER=N ends the process abruptly (os._exit, as a kill
would) when request N+1 arrives; $SCRIPTED_LLM_INTERRUPT_AFTER=N raises
KeyboardInterrupt then, as Ctrl-C would.

In-process: ``llm.plugins.pm.register(scripted_llm, name="scripted")``. In a
subprocess: an entry point in the ``llm`` group (see tests/test_llm_backend.py).
"""

from __future__ import annotations

import json
import os
import re
import time

import llm

REQUESTS: list[dict] = []
_seen_flaky: set[str] = set()

KEYWORDS = (
    ("password", "security"), ("confidential", "confidentiality"), ("applies to", "scope"),
    ("respect", "respect"), ("disciplinary", "consequences"), ("training", "training"),
    ("personal data", "privacy"), ("journalist", "spokesperson"), ("report", "reporting"),
    ("official account", "official_accounts"), ("working hours", "work_time_use"),
)
MARKERS = ("zz-malformed", "zz-empty", "zz-refuse", "zz-timeout", "zz-hang", "zz-down", "zz-error", "zz-unknown", "zz-flaky")
HANG_SECONDS = 3


def clauses_of(prompt_text: str) -> list[str]:
    """The clause texts of a batch prompt, in order."""
    return re.findall(r"^clause: (.*)$", prompt_text, re.M)


def modality_of(text: str) -> str:
    t = text.lower()
    if re.search(r"\b(must not|never|do not)\b", t):
        return "prohibition"
    if re.search(r"\bmust\b", t):
        return "obligation"
    if re.search(r"\bshould\b", t):
        return "recommendation"
    if re.search(r"\bmay\b", t):
        return "permission"
    return "information"


def entry(idx: int, text: str) -> dict:
    t = text.lower()
    categories = [c for k, c in KEYWORDS if k in t][:3]
    if "zz-unknown" in t:
        categories = ["made_up_category"]
    return {"idx": idx, "categories": categories, "modality": modality_of(text),
            "confidence": 0.9 if categories else 0.5}


class ScriptedModel(llm.Model):
    can_stream = False

    def __init__(self, model_id: str, supports_schema: bool):
        self.model_id = model_id
        self.supports_schema = supports_schema

    def execute(self, prompt, stream, response, conversation):
        texts = clauses_of(prompt.prompt)
        limit = os.environ.get("SCRIPTED_LLM_EXIT_AFTER")
        if limit is not None and len(REQUESTS) >= int(limit):
            os._exit(17)
        limit = os.environ.get("SCRIPTED_LLM_INTERRUPT_AFTER")
        if limit is not None and len(REQUESTS) >= int(limit):
            raise KeyboardInterrupt  # as Ctrl-C during a request
        record = {"model": self.model_id, "clauses": texts, "schema": prompt.schema is not None,
                  "system": bool(prompt.system)}
        REQUESTS.append(record)
        if os.environ.get("SCRIPTED_LLM_LOG"):
            with open(os.environ["SCRIPTED_LLM_LOG"], "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        joined = " ".join(texts).lower()
        if "zz-down" in joined:
            raise ConnectionError("connection refused")
        if "zz-error" in joined:
            raise RuntimeError("the server answered 500")
        if "zz-timeout" in joined:
            raise TimeoutError("the scripted model timed out")
        if "zz-hang" in joined:  # a server that never answers in time
            time.sleep(HANG_SECONDS)
        if "zz-empty" in joined:
            return
        if "zz-refuse" in joined:
            yield "I'm sorry, but I can't help with that request."
            return
        flaky = [t for t in texts if "zz-flaky" in t.lower() and t not in _seen_flaky]
        if "zz-malformed" in joined or flaky:
            _seen_flaky.update(flaky)
            yield '{"clauses": [{"idx": 1, "categories": ["scope"'
            return
        answer = json.dumps({"clauses": [entry(i, t) for i, t in enumerate(texts, 1)]})
        if self.supports_schema:
            response.set_usage(input=len(prompt.prompt) // 4, output=len(answer) // 4)
            yield answer
        else:  # a chatty model without schema support: prose around a fenced block
            yield f"Here are the labels:\n```json\n{answer}\n```"


@llm.hookimpl
def register_models(register):
    register(ScriptedModel("scripted", supports_schema=True))
    register(ScriptedModel("scripted-text", supports_schema=False))
