"""Modality of a clause: the strongest force it carries, by rules kept in modality.yaml."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Self

import numpy as np
import yaml
from sklearn.base import BaseEstimator

from taxonomy.taxonomy import MODALITIES

RULES_PATH = Path(__file__).with_name("modality.yaml")
EXAMPLES_PATH = Path(__file__).with_name("modality_examples.yaml")
# bump when fit() learns different attributes: a model pickled by older code is then refitted on load
RULES_FORMAT = 8

# strength order used to pick the strongest cue
STRENGTH = {m: len(MODALITIES) - 1 - i for i, m in enumerate(MODALITIES)}  # prohibition 4 ... information 0
CUED = MODALITIES[:-1]  # the modalities wording signals; information is what is left
CUE_SCORE = {"explicit": 0.9, "imperative": 0.75, "lead_in": 0.7, "heading": 0.6, "none": 0.7}

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
# contractions the patterns read in full ("you're welcome to", "it's fine", "isn't allowed")
_CONTRACTIONS = [(re.compile(p, re.I), r) for p, r in (
    (r"\b(you|we|they)'re\b", r"\1 are"), (r"\b(you|we|they|i|it)'ll\b", r"\1 will"),
    (r"\b(it|that|there|here|what|who)'s\b", r"\1 is"),
    (r"\b(is|are|does|was|were|has|have)n't\b", r"\1 not"))]


# a quotation: "..." or '...' (an apostrophe inside a word, as in don't, neither opens nor closes one)
_QUOTED = re.compile(r'"[^"]*"|(?<!\w)\'(?:[^\']|(?<=\w)\'(?=\w))*\'(?!\w)')


def blank_quotations(text: str, min_words: int) -> str:
    """Quoted text of at least ``min_words`` words replaced by a placeholder word.

    A suggested disclaimer or a sample post ("add 'the views expressed here do
    not represent my employer'") is an example, not the clause's own wording:
    its "not" must not turn the obligation to add it into a prohibition.
    """
    if '"' not in text and "'" not in text:
        return text
    return _QUOTED.sub(lambda m: " xquote " if len(m.group(0).split()) >= min_words else m.group(0), text)


_LEADING_NOISE = re.compile(r"^[\W\d_]*(?:(?:always|also|then|and|so|just|now|only)\s+)*", re.I)
# where one instruction can start inside a clause: after a sentence, a label ("Rude replies: ignore them")
# or an arrow ("Bug reports → ask for an issue")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?;])(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\betc\.)(?<!\bvs\.)\s+|\s(?:→|->)\s+", re.I)
_LABEL = re.compile(r"^\W*([^:.!?]{1,80}?):\s+")
# a sentence opening with a condition; the instruction follows one of its commas ("If X, or Y, report it")
_CONDITION_OPENER = re.compile(r"^[\W\d_]*(?:[a-z]\.\s+)?(?:if|when|whenever|before|after|once|while|unless|where|for(?! example| instance)|in|"
                               r"to|during|since|as|because|should|until|whether|on)\b", re.I)
_COMMA = re.compile(r",\s*")
_COORDINATED = re.compile(r"[,;]\s+(so|then|and then|but)\s+", re.I)
_CLAUSE_OPENERS = frozenset("what that whether if how who which where when why sure there".split())
_FINITE_VERBS = frozenset("is are was were has have had will would can could may might must should shall".split())
_PARENTHESES = re.compile(r"\([^()]*\)")
# a comma after a condition that does not yet open the main clause ("If X, or Y, report it")
_CONTINUATION = re.compile(r"^\W*(?:or|and|but|such as|e\.g|for example|including|especially|even|if|when|unless|where|"
                           r"which|who|whose|that|in|on|at|for|with|without|by|from|etc)\b", re.I)


def normalize(text: str) -> str:
    """Straight quotes and spelled-out contractions, so that one pattern covers every spelling."""
    text = text.translate(_QUOTES)
    if "'" in text:
        for pattern, repl in _CONTRACTIONS:
            text = pattern.sub(repl, text)
    return text


def _alternation(patterns: list[str]) -> re.Pattern:
    """One regex for a list of cue patterns, matched against lower-cased text.

    Patterns opening with a word boundary share one leading ``\\b``: the regex
    engine then tries the alternatives only where a word starts; patterns that
    open with the same group or word ("(may|might|can|could) ...") share it too,
    so that it is tried once per word. Both make the cue search several times
    faster (modality runs on every clause).
    """
    heads: dict[str, list[str]] = {}
    for p in patterns:
        if p.startswith(r"\b"):
            head, rest = _head_token(p[2:])
            heads.setdefault(head, []).append(rest)
    at_word = [f"{head}(?:{'|'.join(f'(?:{r})' for r in rests)})" if len(rests) > 1 else f"{head}{rests[0]}"
               for head, rests in heads.items()]
    others = [p for p in patterns if not p.startswith(r"\b")]
    parts = [r"\b(?=\w)(?:" + "|".join(f"(?:{p})" for p in at_word) + ")"] if at_word else []
    parts += [f"(?:{p})" for p in others]
    return re.compile("|".join(parts), re.M)


_HEAD_WORD = re.compile(r"[a-z']+(?=[ (])")


def _head_token(pattern: str) -> tuple[str, str]:
    """A pattern split after its opening group or word ("(may|can)", " be seen"), or ("", pattern)."""
    if pattern.startswith("("):
        depth, i, in_class = 0, 0, False
        while i < len(pattern):
            c = pattern[i]
            if c == "\\":
                i += 2
                continue
            if in_class:
                in_class = c != "]"
            elif c == "[":
                in_class = True
            elif c in "()":
                depth += 1 if c == "(" else -1
                if depth == 0:
                    break
            i += 1
        end = i + 1
        if depth == 0 and pattern[end:end + 1] not in ("?", "*", "+", "{"):
            return pattern[:end], pattern[end:]
        return "", pattern
    m = _HEAD_WORD.match(pattern)
    if m:
        return pattern[:m.end()], pattern[m.end():]
    return "", pattern


class Opening(NamedTuple):
    """A place in a clause where an instruction can open."""

    first: bool  # in the clause's first sentence
    instructs: bool  # an instruction opens here
    soft: bool = False  # softened: "Consider ...", "Pro tip: ..."
    secondary: bool = False  # after "so" or "then": it makes a description an instruction, not advice an order


class ModalityTagger(BaseEstimator):
    """Rule-based modality classifier with scikit-learn's interface.

    ``fit`` compiles the rules file (no labels are needed: the rules are the
    model); ``predict`` returns one modality per record, ``predict_with_score``
    also a confidence that reflects which kind of cue decided it.

    Records are dicts or objects with ``text`` (or ``context``), optional
    ``lead_in`` and ``heading``.
    """

    def __init__(self, rules_path: str | None = None, use_lead_in: bool = True, use_heading: bool = True) -> None:
        self.rules_path = rules_path
        self.use_lead_in = use_lead_in
        self.use_heading = use_heading

    def fit(self, X: Any = None, y: Any = None) -> Self:
        data = yaml.safe_load(Path(self.rules_path or RULES_PATH).read_text(encoding="utf-8"))
        self.neutralize_ = _alternation(data["neutralize"])
        self.overrides_ = {m: _alternation(p) for m, p in data["overrides"].items()}
        self.any_override_ = _alternation([p for ps in data["overrides"].values() for p in ps])
        self.patterns_ = {m: _alternation(data[m]) for m in CUED}
        self.imperative_verbs_ = frozenset(data["imperative_verbs"])
        self.noun_followers_ = frozenset(data["noun_followers"])
        self.phrasal_instructions_ = frozenset(data["phrasal_instructions"])
        self.heading_patterns_ = {
            m: re.compile(data[f"heading_{m}"], re.I)
            for m in MODALITIES if f"heading_{m}" in data
        }
        self.conditional_lead_in_ = re.compile(data["conditional_lead_in"], re.I)
        self.question_ = re.compile(data["question"], re.I)
        self.not_instruction_ = re.compile(data["not_instruction"], re.I)
        self.standalone_ = re.compile(data["standalone_sentence"])
        self.standalone_min_words_ = int(data["standalone_min_words"])
        self.declarative_opening_ = re.compile(data["declarative_opening"], re.I)
        self.heading_max_words_ = int(data["heading_max_words"])
        self.label_max_words_ = int(data["label_max_words"])
        self.heading_descriptive_start_ = re.compile(data["heading_descriptive_start"], re.I)
        self.heading_samples_ = re.compile(data["heading_samples"], re.I)
        self.quote_min_words_ = int(data["quote_min_words"])
        self.classes_ = np.array(MODALITIES)
        self.rules_format_ = RULES_FORMAT
        # what the rules were compiled from: a model's version should change when this does
        self.digest_ = hashlib.sha256(
            f"{RULES_FORMAT}\n{yaml.safe_dump(data, sort_keys=True)}".encode("utf-8")).hexdigest()[:12]
        return self

    def __setstate__(self, state):
        super().__setstate__(state)
        if state.get("rules_format_") != RULES_FORMAT and "classes_" in state:
            self.fit()  # pickled by an older version of this class: compile the rules it now needs

    # -- cues

    def explicit(self, text: str) -> str:
        """Strongest modality signalled by modal wording, or 'information'."""
        text = text.lower()
        found = "information"
        if self.any_override_.search(text):  # rare: one search instead of one per family
            for modality, pattern in self.overrides_.items():
                if pattern.search(text):
                    found = modality if STRENGTH[modality] > STRENGTH[found] else found
                    text = pattern.sub(" ", text)
        cleaned = self.neutralize_.sub(" ", text)
        for modality in CUED:
            if STRENGTH[modality] <= STRENGTH[found]:
                break
            if self.patterns_[modality].search(cleaned):
                return modality
        return found

    def is_imperative(self, text: str) -> bool:
        """True if a sentence of the clause opens with an instruction, also after a condition ("If in doubt, ask ...")."""
        return any(o.instructs for o in self._instructions(text))

    def hard_instruction(self, text: str) -> bool:
        """True if the clause gives an instruction that no recommending phrase softens."""
        return any(o.instructs and not o.soft and not o.secondary for o in self._instructions(text))

    def soft_instruction(self, text: str) -> bool:
        """True if the clause opens with a recommending phrase ("Consider ...", "Keep in mind ...")."""
        return any(o.soft for o in self._instructions(text) if o.first)

    def _instructions(self, text: str) -> list[Opening]:
        """Each place of the clause where an instruction can open, and whether one does.

        Any sentence counts ("Posted something you regret? Delete it."; "Most comments are thanks.
        Reply to them warmly."), so does the text after a short label ("Rude replies: ignore them") and
        after the comma that ends a condition ("If you think you were hacked, or you clicked a link, report
        it"). An instruction under a tip label ("Pro tip: reply within a day") or opening with a recommending
        phrase ("Consider ...", "Keep in mind ...") is softened.
        """
        if self._last_instructions[0] == text:  # classify asks several questions about the same clause
            return self._last_instructions[1]
        out: list[Opening] = []
        self._last_instructions = (text, out)
        if self.not_instruction_.match(_LEADING_NOISE.sub("", text, count=1)):
            return out  # "Thank you for ...", "Questions? Email ...": a sample reply or a contact, not a rule
        for n, sentence in enumerate(_SENTENCE_BREAK.split(text)):
            tip = False
            starts = [sentence]
            label = _LABEL.match(sentence)
            if label and len(label.group(1).split()) <= self.label_max_words_:
                tip = self._cached(self.label_force, label.group(1)) == "recommendation"
                starts.append(sentence[label.end():])
            for start in starts:
                for opening in self._openings(start):
                    soft = tip or self._opens_softly(opening)
                    out.append(Opening(n == 0, soft or self._starts_with_instruction(opening), soft))
            # an instruction after "so", "then" or "but" ("Some clients object, so check first") makes a
            # description an instruction; after "so" or "then" it does not outrank a recommending cue ("Posts
            # with images do better, so add one when you can"), after "but" it does ("It's fine, but ask first")
            for m in _COORDINATED.finditer(sentence):
                if self._starts_with_instruction(sentence[m.end():]):
                    out.append(Opening(n == 0, True, False, m.group(1).lower() != "but"))
        return out

    def _openings(self, sentence: str) -> list[str]:
        """The sentence, and after a condition the text after each comma up to the main clause."""
        out = [sentence]
        if not _CONDITION_OPENER.match(sentence):
            return out
        sentence = _PARENTHESES.sub("", sentence)
        for m in _COMMA.finditer(sentence):
            rest = sentence[m.end():]
            out.append(rest)
            head = rest.split(",", 1)[0].lower().split()
            if not _CONTINUATION.match(rest) and _FINITE_VERBS.intersection(head):
                break  # the main clause: "When debating, users should be accurate, acknowledge ..." ends here
        return out

    def _opens_softly(self, text: str) -> bool:
        rest = _LEADING_NOISE.sub("", text, count=1).lower()
        recommending = self.patterns_["recommendation"]
        # blanking can only remove a cue, so the costly blanking runs only when the raw text opens with one
        return bool(rest) and bool(recommending.match(rest)) and bool(recommending.match(self.neutralize_.sub(" ", rest)))

    def _starts_with_instruction(self, text: str) -> bool:
        rest = _LEADING_NOISE.sub("", text, count=1)
        if self.not_instruction_.match(rest):
            return False
        words = rest.split(None, 2)
        if not words:
            return False
        first = words[0].lower().strip(",.:;")
        if first not in self.imperative_verbs_:
            return False
        if len(words) == 1:
            return words[0][-1] in ".!"  # a one-word sentence: "When in doubt, escalate."
        follower = words[1].lower().strip(",.:;")
        if not follower:
            return False
        if follower in self.noun_followers_:
            after = words[2].split(None, 1)[0].lower().strip(",.:;") if len(words) > 2 else ""
            # "Ask for access", "Know and follow the law" instruct; "Use of social media" names a topic
            return (f"{first} {follower}" in self.phrasal_instructions_
                    or (follower in ("and", "or") and after in self.imperative_verbs_))
        # "Store contributors are ..." is a subject, not an instruction ("Check what is in the shot" is one)
        return (len(words) < 3 or follower in _CLAUSE_OPENERS
                or words[2].split(None, 1)[0].lower() not in _FINITE_VERBS)

    def stands_alone(self, text: str) -> bool:
        """A full declarative sentence after a list ("Staff who break these rules will be ...") is not one of its
        items: it keeps its own force instead of taking the lead-in's."""
        return (len(text.split()) >= self.standalone_min_words_ and bool(self.standalone_.search(text))
                and not any(o.instructs for o in self._instructions(text) if o.first))

    def _declarative(self, text: str) -> bool:
        """A full sentence stating something ("The panel meets every month."), not a bare item."""
        return bool(self.standalone_.search(text)) or (
            bool(self.declarative_opening_.match(text)) and text.rstrip()[-1:] in ".!" and len(text.split()) >= 5)

    def label_force(self, label: str) -> str:
        """Force a heading or a lead-in label gives to items without their own ("Tips", "Don'ts")."""
        for m, pattern in self.heading_patterns_.items():
            if m != "information" and pattern.search(label):
                return m
        return "information"

    def describes(self, heading: str) -> bool:
        """True if instructions under this heading path state aims or show examples rather than give rules:
        a descriptive label ("Goals", "Goals of the advocacy programme") or sample text ("Sample tweets > ...")."""
        last = heading.rsplit(" > ", 1)[-1]
        descriptive = self.heading_patterns_.get("information")
        if descriptive and len(last.split()) <= self.heading_max_words_ and descriptive.search(last):
            return True
        return bool(self.heading_descriptive_start_.match(last) or self.heading_samples_.search(heading))

    def classify(self, text: str, lead_in: str = "", heading: str = "") -> tuple[str, float]:
        """Modality of one clause (read with its lead-in and heading path) and the confidence of its cue."""
        text, lead_in, heading = (normalize(s) for s in (text, lead_in, heading))
        text = blank_quotations(text, self.quote_min_words_)
        if self.question_.search(text):
            # a question asks; under "Ask yourself before posting:" it is one of the questions to ask
            inherited = self._lead_in_force(lead_in)[0] if self.use_lead_in and lead_in else "information"
            return inherited, CUE_SCORE["lead_in" if inherited != "information" else "explicit"]
        modality = self.explicit(text)
        cue = "explicit" if modality != "information" else "none"
        own = modality
        if modality in ("information", "permission") and self.is_imperative(text):
            modality, cue = "obligation", "imperative"
        elif modality == "recommendation" and self.hard_instruction(text) and not self.soft_instruction(text):
            # an instruction outranks a softer cue later on ("Use the tag, ideally in the first line");
            # "Keep in mind ...", "Be mindful ..." are soft instructions themselves
            modality, cue = "obligation", "imperative"
        if self.use_lead_in and lead_in and not self.stands_alone(text):
            inherited, conditional = self._lead_in_force(lead_in)
            if inherited == "information" and conditional and cue == "imperative" and own == "information":
                # "Before you post:" + "check the facts" instructs; "Our goals:" + "grow the community" describes
                inherited = "obligation"
            # a list item's bare instruction takes the force of what introduces it:
            # "Objectives:" + "Share news" describes, "Never:" + "share passwords" forbids
            if cue == "imperative" or STRENGTH[inherited] > STRENGTH[modality]:
                modality, cue = inherited, "lead_in"
        if self.use_heading and heading and cue in ("none", "imperative"):
            last = heading.rsplit(" > ", 1)[-1]
            # only a short label ("Tips", "Don'ts") gives force; a title or a rule as heading
            # ("Never share your password") is followed by explanations and other instructions
            forced = self._cached(self.label_force, last) if len(last.split()) <= self.heading_max_words_ else None
            if forced in (None, "information") and cue == "imperative" and self._cached(self.describes, heading):
                modality, cue = "information", "heading"  # "Goals" + "Grow the community" describes
            elif forced not in (None, "information") and not (cue == "none" and self._declarative(text)):
                # a full sentence without an instruction under "Responsibilities" describes who does what
                modality, cue = forced, "heading"
        return modality, CUE_SCORE[cue]

    def _lead_in_force(self, lead_in: str) -> tuple[str, bool]:
        """Force a lead-in gives its items, and whether it sets a condition ("When you post:")."""
        hit = self._memo.get(("lead_in", lead_in)) if self._memo is not None else None
        if hit is None:
            force = self.explicit(lead_in)
            if force == "information" and self.label_force(lead_in) in ("recommendation", "obligation"):
                # "Some tips:" or "Requirements:"; a lead-in naming forbidden things ("Unacceptable content
                # includes:") introduces descriptions
                force = self.label_force(lead_in)
            if force == "information" and self.is_imperative(lead_in.rsplit(": ", 1)[-1]):
                force = "obligation"  # "Before posting, check:" + "the spelling of names"
            hit = (force, bool(self.conditional_lead_in_.search(lead_in)))
            if self._memo is not None:
                self._memo[("lead_in", lead_in)] = hit
        return hit

    def _cached(self, method, arg: str):
        if self._memo is None:
            return method(arg)
        key = (method.__name__, arg)
        if key not in self._memo:
            self._memo[key] = method(arg)
        return self._memo[key]

    _last_instructions: tuple[str | None, list] = (None, [])
    _memo: dict | None = None  # per predict call: lead-ins and headings repeat from clause to clause

    # -- scikit-learn interface

    def predict_with_score(self, X: Iterable[Any]) -> list[tuple[str, float]]:
        memo: dict = {}  # short list items repeat too
        out = []
        self._memo = {}
        try:
            for r in X:
                key = _fields(r)
                hit = memo.get(key)
                if hit is None:
                    hit = memo[key] = self.classify(*key)
                out.append(hit)
        finally:
            del self._memo
            self.__dict__.pop("_last_instructions", None)
        return out

    def predict(self, X: Iterable[Any]) -> np.ndarray:
        return np.array([m for m, _ in self.predict_with_score(X)], dtype=object)

    def score(self, X: Iterable[Any], y: Sequence[str]) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y, dtype=object)))


def load_examples(path: str | Path | None = None) -> tuple[list[dict], list[str]]:
    """The project's own labelled modality examples: records {text, lead_in?, heading?} and their modalities."""
    data = yaml.safe_load(Path(path or EXAMPLES_PATH).read_text(encoding="utf-8"))
    records, labels = [], []
    for modality, items in data.items():
        for item in items:
            record = dict(item) if isinstance(item, dict) else {"text": item}
            if not isinstance(record.get("text"), str):  # e.g. an unquoted "Remember: ..." read as a mapping
                raise ValueError(f"{path or EXAMPLES_PATH}: {modality} example without text: {item!r}")
            records.append(record)
            labels.append(modality)
    return records, labels


def _fields(record) -> tuple[str, str, str]:
    get = record.get if isinstance(record, dict) else lambda k, d=None: getattr(record, k, d)
    lead_in = get("lead_in") or ""
    # a line fragment is read with the rest of its sentence, but an item of a list that has a lead-in is read
    # on its own: its neighbours' "must" or "should" are theirs
    text = (get("text") if lead_in else None) or get("context") or get("text") or ""
    heading = get("heading") or ""
    if isinstance(heading, list):
        heading = " > ".join(heading)
    return text, lead_in, heading
