"""Page-level policy classifier: is this an employee social media policy?

Features are densities of phrase groups declared in ``policy_signals.yaml``
(audience, representation, rule-making verbs, and counter-signals such as
privacy, cookies, terms, rules for the public, marketing tips, satire) plus a
few structural measures. A logistic regression learns their weights from the
project's own labelled examples in ``classifier_examples.yaml``. Every
feature is bounded, so long real pages cannot push it outside the range seen
in training.

    >>> score, reasons = PolicyClassifier().score(extracted, title, url)
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import yaml

from policycorpus.structure import Block

if TYPE_CHECKING:
    from policycorpus.extract import Extracted

# What the classifier reads: an extracted document, its blocks, or a (Markdown) string
PolicyDocument: TypeAlias = "Extracted | list[Block] | str"

HERE = Path(__file__).resolve().parent
SIGNALS_PATH = HERE / "policy_signals.yaml"
EXAMPLES_PATH = HERE / "classifier_examples.yaml"
DENSITY_PRIOR_WORDS = 100
MAX_CHARS = 200_000  # longer pages are judged on their first 200k characters
MAX_SENTENCES = 3000


@dataclass(frozen=True)
class PhraseGroup:
    name: str
    description: str
    regex: re.Pattern
    cap: float
    per_sentence: bool = False
    count_cap: int = 0  # > 0: also emit `<name>_count`, the number of matches saturating at this value


def load_signals(path: str | Path = SIGNALS_PATH) -> dict:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    groups = []
    for name, spec in data["groups"].items():
        # per-sentence patterns carry their own anchors and word boundaries
        # patterns are lower case and matched against lower-cased text: much faster than re.I
        regex = re.compile(_alternation(spec["patterns"], bounded=spec.get("per") != "sentence"))
        groups.append(
            PhraseGroup(
                name, spec.get("description", ""), regex, float(spec.get("cap", 5.0)),
                spec.get("per") == "sentence", int(spec.get("count_cap", 0)),
            )
        )
    titles = {
        name: (spec.get("description", ""), re.compile("|".join(f"(?:{p})" for p in spec["patterns"]), re.I))
        for name, spec in data.get("title_patterns", {}).items()
    }
    audiences = {name: re.compile(_alternation(patterns)) for name, patterns in data.get("audiences", {}).items()}
    return {
        "audiences": audiences,
        "audience_share": float(data.get("audience_share", 0.7)),
        "groups": groups,
        "titles": titles,
        "threshold": float(data.get("threshold", 0.5)),
        "min_words": int(data.get("min_words", 40)),
        "C": float(data.get("regularization_C", 1.0)),
    }


def _alternation(patterns: list[str], bounded: bool = True) -> str:
    """One regular expression of the patterns, at word boundaries; patterns in Japanese or Chinese script
    have none (their words are not separated by spaces)."""
    spaced = [p for p in patterns if not _CJK.search(p)]
    unspaced = [p for p in patterns if _CJK.search(p)]
    parts = []
    if spaced:
        alternation = "|".join(f"(?:{p})" for p in spaced)
        parts.append(rf"\b(?:{alternation})\b" if bounded else alternation)
    parts += [f"(?:{p})" for p in unspaced]
    return "|".join(parts)


def load_examples(path: str | Path = EXAMPLES_PATH) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["examples"]


# ---------------------------------------------------------------------------- features

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\"'“(¿¡]?[A-Z0-9À-ÖØ-Þ])|(?<=[。！？])\s*")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_LEAD_LABEL = re.compile(r"^[^.!?:]{1,40}:\s+(?=\S)")  # "Confidentiality: Do not ..." -> "Do not ..."
_BULLET_PREFIX = re.compile(r"^\s*(?:[-*•]|\(?\w{1,3}[.)])\s+")


def _as_blocks(doc) -> tuple[list[Block], str | None]:
    """Accept an Extracted, a list of Blocks or a (Markdown) string."""
    if hasattr(doc, "blocks"):
        return list(doc.blocks), getattr(doc, "title", None)
    if isinstance(doc, list):
        return doc, None
    from policycorpus.extract import markdown_blocks

    return markdown_blocks(str(doc or "")), None


def count_words(text: str) -> int:
    """Words of a text; in Japanese or Chinese script, where words are not separated, two characters a word."""
    cjk = len(_CJK.findall(text))
    if not cjk:
        return len(text.split())
    return len(_CJK.sub(" ", text).split()) + cjk // 2


def _sentences(blocks: list[Block]) -> list[str]:
    out = []
    for block in blocks:
        if block.type == "heading":
            continue
        for sentence in _SENTENCE_SPLIT.split(block.text):
            sentence = _BULLET_PREFIX.sub("", sentence.strip())
            sentence = _LEAD_LABEL.sub("", sentence)
            if count_words(sentence) >= 3:  # bare labels ("Likes", "Twitter") are not statements
                out.append(sentence)
    return out


def example_blocks(text: str) -> list[Block]:
    """Blocks of a training example: every line of the example is its own paragraph, heading or item."""
    from policycorpus.extract import markdown_blocks

    return markdown_blocks(re.sub(r"\n(?=\S)", "\n\n", text))


class FeatureExtractor:
    """Turns (blocks, title, url) into a fixed-length, bounded feature vector."""

    def __init__(self, signals: dict) -> None:
        self.signals = signals
        self.names = (
            [g.name for g in signals["groups"]]
            + [f"{g.name}_count" for g in signals["groups"] if g.count_cap]
            + list(signals["titles"])
            + ["too_short", "heading_ratio", "heading_words", "prose_ratio", "prose_word_share"]
        )

    def transform_one(self, blocks: list[Block], title: str | None, url: str | None) -> tuple[np.ndarray, dict]:
        text = "\n".join(b.text for b in blocks)[:MAX_CHARS].lower()
        cjk = len(_CJK.findall(text))
        words = len(_WORD.findall(_CJK.sub(" ", text) if cjk else text)) + cjk // 2
        sentences = [s.lower() for s in _sentences(blocks)[:MAX_SENTENCES]]
        values: dict[str, float] = {}
        evidence: dict[str, list[str]] = {}
        for group in self.signals["groups"]:
            if group.per_sentence:
                hits = [m.group(0) for m in (group.regex.search(s) for s in sentences) if m]
                density = len(hits) / max(len(sentences), 1)
            else:
                hits = [m.group(0).lower() for m in group.regex.finditer(text)]
                # smoothed: one mention in a 60-word snippet is weak evidence, not a saturated density
                density = 100.0 * len(hits) / (words + DENSITY_PRIOR_WORDS)
            values[group.name] = min(density, group.cap)
            evidence[group.name] = [w for w, _ in Counter(h.lower() for h in hits).most_common(3)]
            if group.count_cap:
                values[f"{group.name}_count"] = min(len(hits), group.count_cap) / group.count_cap
                evidence[f"{group.name}_count"] = [f"{len(hits)} mentions"]
        label = " ".join(filter(None, [title or "", url or "", next((b.text for b in blocks if b.type == "heading"), "")]))
        for name, (_, regex) in self.signals["titles"].items():
            found = regex.search(label)
            values[name] = 1.0 if found else 0.0
            evidence[name] = [found.group(0)] if found else []
        non_headings = [b for b in blocks if b.type != "heading"]
        values["too_short"] = 1.0 if words < self.signals["min_words"] else 0.0
        values["heading_ratio"] = (len(blocks) - len(non_headings)) / max(len(blocks), 1)
        # outlines and tables of contents: a large share of the words are in headings
        # (policies stay under ~15%); 0 up to 15%, 1 from 35%
        block_words = {id(b): count_words(b.text) for b in blocks}
        heading_words = sum(block_words[id(b)] for b in blocks if b.type == "heading")
        share = heading_words / max(sum(block_words.values()), 1)
        values["heading_words"] = min(max((share - 0.15) / 0.2, 0.0), 1.0)
        values["prose_ratio"] = sum(block_words[id(b)] >= 8 for b in non_headings) / max(len(blocks), 1)
        prose_words = [block_words[id(b)] for b in non_headings]
        values["prose_word_share"] = sum(n for n in prose_words if n >= 8) / max(sum(block_words.values()), 1)
        evidence["too_short"] = [f"{words} words"]
        return np.array([values[n] for n in self.names], dtype=float), evidence


# ---------------------------------------------------------------------------- model


class PolicyClassifier:
    """Logistic regression over phrase-group features, trained on our own labelled examples.

    scikit-learn style: parameters are stored by ``__init__``; ``fit`` learns
    ``model_`` and ``feature_names_``; ``score`` fits on first use if needed.
    """

    def __init__(self, signals_path: str | Path | None = None, examples_path: str | Path | None = None,
                 C: float | None = None, threshold: float | None = None, random_state: int = 0) -> None:
        self.signals_path = signals_path
        self.examples_path = examples_path
        self.C = C
        self.threshold = threshold
        self.random_state = random_state

    # -- training
    def _setup(self):
        if not hasattr(self, "signals_"):
            self.signals_ = load_signals(self.signals_path or SIGNALS_PATH)
            self.features_ = FeatureExtractor(self.signals_)
            self.feature_names_ = self.features_.names
            if self.threshold is None:
                self.threshold_ = self.signals_["threshold"]
            else:
                self.threshold_ = float(self.threshold)

    def fit(self, docs: Iterable[tuple[PolicyDocument, str | None, str | None]] | None = None,
            y: Sequence[int] | None = None) -> PolicyClassifier:
        """Fit on (doc, title, url) triples and labels; by default on classifier_examples.yaml."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self._setup()
        if docs is None:
            examples = load_examples(self.examples_path or EXAMPLES_PATH)
            docs = [(example_blocks(e["text"]), e.get("title"), e.get("url")) for e in examples]
            y = [int(e["label"]) for e in examples]
        if y is None:
            raise ValueError("fit(docs) needs the documents' labels, y")
        X = np.vstack([self._vector(doc, title, url)[0] for doc, title, url in docs])
        C = self.C if self.C is not None else self.signals_["C"]
        self.model_ = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=C, class_weight="balanced", max_iter=1000, random_state=self.random_state),
        ).fit(X, np.asarray(y))
        self.n_examples_ = len(y)
        return self

    def _vector(self, doc, title, url):
        blocks, doc_title = _as_blocks(doc)
        return self.features_.transform_one(blocks, title if title is not None else doc_title, url)

    # -- prediction
    def score(self, doc: PolicyDocument, title: str | None = None, url: str | None = None) -> tuple[float, list[str]]:
        """Probability (0..1) that the document is an employee social media policy, and the main reasons."""
        if not hasattr(self, "model_"):
            self.fit()
        x, evidence = self._vector(doc, title, url)
        probability = float(self.model_.predict_proba(x[None, :])[0, 1])
        return round(probability, 4), self._reasons(x, evidence)

    def predict_proba(self, docs: Iterable[tuple[PolicyDocument, str | None, str | None]]) -> np.ndarray:
        """Scores of (doc, title, url) triples, as an (n, 2) array like scikit-learn classifiers."""
        if not hasattr(self, "model_"):
            self.fit()
        X = np.vstack([self._vector(doc, title, url)[0] for doc, title, url in docs])
        p = self.model_.predict_proba(X)[:, 1]
        return np.column_stack([1 - p, p])

    def audience(self, doc: Extracted | str) -> str | None:
        """Whom a policy addresses: employees, members (club members, players, officials), volunteers, or mixed
        when no kind has `audience_share` of the mentions; None when it names no one."""
        self._setup()
        blocks, _ = _as_blocks(doc)
        text = "\n".join(b.text for b in blocks)[:MAX_CHARS].lower()
        counts = {name: len(regex.findall(text)) for name, regex in self.signals_["audiences"].items()}
        total = sum(counts.values())
        if not total:
            return None
        best = max(counts, key=lambda name: counts[name])
        return best if counts[best] >= self.signals_["audience_share"] * total else "mixed"

    def is_policy(self, score: float) -> bool:
        self._setup()
        return score >= self.threshold_

    def _reasons(self, x: np.ndarray, evidence: dict, top: int = 6) -> list[str]:
        scaler, logreg = self.model_[0], self.model_[-1]
        contributions = logreg.coef_[0] * (x - scaler.mean_) / scaler.scale_
        order = np.argsort(-np.abs(contributions))
        reasons = []
        for i in order[:top]:
            if abs(contributions[i]) < 0.05:
                break
            name = self.feature_names_[i]
            detail = ", ".join(evidence.get(name, [])[:3])
            value = f"{x[i]:.2f}" if not float(x[i]).is_integer() else str(int(x[i]))
            reasons.append(f"{contributions[i]:+.2f} {name}={value}" + (f" ({detail})" if detail else ""))
        return reasons

    def weights(self) -> dict[str, float]:
        """Learned weight of each feature (on standardised features), for reports."""
        if not hasattr(self, "model_"):
            self.fit()
        return dict(zip(self.feature_names_, np.round(self.model_[-1].coef_[0], 3).tolist()))


@functools.lru_cache(maxsize=4)
def default_classifier(threshold: float | None = None) -> PolicyClassifier:
    """A fitted classifier with the shipped signals and examples (cached per process)."""
    return PolicyClassifier(threshold=threshold).fit()
