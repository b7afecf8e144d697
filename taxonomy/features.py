"""Features of a clause in its context: its words, its heading path, its lead-in, and the taxonomy's phrases.

A record is a dict (or an object with the same attributes) with ``text``,
optional ``context`` (the whole sentence a line fragment belongs to),
``heading`` (path joined by ' > ' or a list) and ``lead_in``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

from taxonomy.taxonomy import TAXONOMY_PATH, load_taxonomy

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"(?<!\w)@\w+")
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
_DIGITS = re.compile(r"\d+")
_TOKEN = re.compile(r"#|\w+(?:['’]\w+)?")


def normalize(text: str) -> str:
    """Lower-case text with URLs, @handles, #hashtags and numbers replaced by marker words."""
    text = text.lower()
    if "http" in text or "www." in text:
        text = _URL.sub(" xurl ", text)
    if "@" in text:
        text = _HANDLE.sub(" xhandle ", text)
    if "#" in text:
        text = _HASHTAG.sub(r" xhashtag \1 ", text)
    return _DIGITS.sub("0", text)


def field(record: dict | object, name: str) -> str:
    value = record.get(name) if isinstance(record, dict) else getattr(record, name, None)
    if isinstance(value, (list, tuple)):
        value = " > ".join(value)
    return value or ""


def clause_text(record: dict | object) -> str:
    """The clause, plus the rest of its sentence when it is a line fragment, plus its lead-in.

    A list item is read with the sentence that introduces it ("When you reply
    to comments:" + "stay calm"): the lead-in's words count as the item's own.
    """
    text, context, lead_in = field(record, "text"), field(record, "context"), field(record, "lead_in")
    out = text if not context or context == text else f"{text} {context}"
    return f"{out} {lead_in}" if lead_in else out


class PhraseMatcher:
    """Counts, per category, the indicative phrases found in a text (token-based, fast)."""

    def __init__(self, phrases_by_category: list[list[str]]) -> None:
        self.n_categories = len(phrases_by_category)
        self.exact: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        self.prefix: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for k, phrases in enumerate(phrases_by_category):
            for phrase in phrases:
                tokens = tuple(_TOKEN.findall(phrase.replace("*", "STAR_").lower())) if phrase else ()
                tokens = tuple(t.replace("star_", "*") if t.endswith("star_") else t for t in tokens)
                if not tokens:
                    continue
                head, rest = tokens[0], tokens[1:]
                if head.endswith("*"):
                    self.prefix.setdefault(head[:-1], []).append((rest, k))
                else:
                    self.exact.setdefault(head, []).append((rest, k))
        self.prefix_lengths = sorted({len(p) for p in self.prefix})
        self._memo: dict[str, list] = {}

    @staticmethod
    def _token_matches(token: str, pattern: str) -> bool:
        return token.startswith(pattern[:-1]) if pattern.endswith("*") else token == pattern

    def _rest_matches(self, tokens: list[str], i: int, rest: tuple[str, ...]) -> bool:
        if i + len(rest) > len(tokens):
            return False
        return all(self._token_matches(tokens[i + j], p) for j, p in enumerate(rest))

    def _candidates(self, token: str) -> list[tuple[list[str] | None, tuple[str, ...], int]]:
        """Phrases that can start with this token (memoised: tokens repeat across clauses).

        Each is (rest as a list when it has no prefix pattern, so one slice
        comparison checks it; else None), its rest, its category.
        """
        hit = self._memo.get(token)
        if hit is None:
            found = list(self.exact.get(token, ()))
            for n in self.prefix_lengths:
                if n > len(token):
                    break
                found.extend(self.prefix.get(token[:n], ()))
            hit = [(None if any(p.endswith("*") for p in rest) else list(rest), rest, k) for rest, k in found]
            if len(self._memo) < 500_000:
                self._memo[token] = hit
        return hit

    def counts(self, text: str) -> dict[int, int]:
        tokens = _TOKEN.findall(text.lower())
        found: dict[int, int] = {}
        candidates = self._candidates
        for i, token in enumerate(tokens):
            for plain, rest, k in candidates(token):
                if rest and not (tokens[i + 1: i + 1 + len(rest)] == plain if plain is not None
                                 else self._rest_matches(tokens, i + 1, rest)):
                    continue
                found[k] = found.get(k, 0) + 1
        return found

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_memo"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._memo = state.get("_memo", {})

    def transform(self, texts: list[str], cache: dict | None = None) -> sp.csr_matrix:
        """Matrix of log(1 + count) per text and category; ``cache`` memoises repeated texts (headings)."""
        rows, cols, vals = [], [], []
        for r, text in enumerate(texts):
            if not text:
                continue
            if cache is not None:
                hit = cache.get(text)
                if hit is None:
                    hit = cache[text] = self.counts(text)
            else:
                hit = self.counts(text)
            for k, n in hit.items():
                rows.append(r)
                cols.append(k)
                vals.append(np.log1p(n))
        return sp.csr_matrix((vals, (rows, cols)), shape=(len(texts), self.n_categories), dtype=np.float64)


def _transform_unique(vectorizer, texts: list[str]):
    """Vectorize each distinct text once: headings and lead-ins repeat across the clauses of a document."""
    index: dict[str, int] = {}
    rows = [index.setdefault(t, len(index)) for t in texts]
    return vectorizer.transform(list(index))[rows]


_CHAR_CACHE_LIMIT = 200_000  # distinct words whose n-gram columns are remembered


def _word_char_columns(vectorizer: TfidfVectorizer, word: str) -> list[int]:
    """The vocabulary columns of a word's padded character n-grams, as ``char_wb`` makes them, in order."""
    vocabulary = vectorizer.vocabulary_
    min_n, max_n = vectorizer.ngram_range
    w = f" {word} "
    columns = []
    for n in range(min_n, max_n + 1):
        for offset in range(max(1, len(w) - n + 1)):
            column = vocabulary.get(w[offset: offset + n])
            if column is not None:
                columns.append(column)
        if len(w) <= n:  # a word shorter than n counts once, as in scikit-learn
            break
    return columns


def _analyses_word_by_word(vectorizer: TfidfVectorizer) -> bool:
    """True if ``_char_wb_transform`` computes exactly what this vectorizer's ``transform`` does."""
    return (vectorizer.analyzer == "char_wb" and vectorizer.input == "content" and vectorizer.lowercase
            and vectorizer.preprocessor is None and vectorizer.strip_accents is None and not vectorizer.binary)


def _char_wb_transform(vectorizer: TfidfVectorizer, texts: list[str], cache: dict[str, list[int]]):
    """``vectorizer.transform(texts)`` for a fitted ``char_wb`` TF-IDF vectorizer, computed word by word.

    ``char_wb`` n-grams never cross a word boundary, so a text's counts are the
    sum of its words' and each distinct word is analysed once (``cache``):
    the slicing and vocabulary look-ups of every n-gram of every clause were
    nearly half of the tagging time. The count matrix is built exactly as
    scikit-learn builds it (same dtype, canonical sorted indices) and goes
    through the vectorizer's own TF-IDF step, so the output is identical.
    """
    columns: list[int] = []
    indptr = [0]
    for text in texts:
        for word in text.lower().split():
            hit = cache.get(word)
            if hit is None:
                hit = _word_char_columns(vectorizer, word)
                if len(cache) < _CHAR_CACHE_LIMIT:
                    cache[word] = hit
            columns.extend(hit)
        indptr.append(len(columns))
    counts = sp.csr_array((np.ones(len(columns), dtype=vectorizer.dtype), np.asarray(columns, dtype=np.int32),
                           np.asarray(indptr, dtype=np.int32)), shape=(len(texts), len(vectorizer.vocabulary_)))
    counts.sum_duplicates()  # also sorts the indices of each row
    return vectorizer._tfidf.transform(counts, copy=False)


class ClauseFeaturizer(BaseEstimator, TransformerMixin):
    """Sparse features of clause records: word and character n-grams of the clause, words of the
    heading path and of the lead-in, and taxonomy phrase hits in each of them.

    Each block is TF-IDF weighted and l2-normalised on its own, then scaled by
    its weight, so the weights say how much each part of the context counts.
    """

    def __init__(
        self,
        taxonomy_path: str | None = None,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] | None = (3, 5),
        char_weight: float = 1.0,
        heading_weight: float = 0.5,
        lead_in_weight: float = 0.35,
        phrase_weight: float = 0.3,
        heading_phrase_weight: float = 0.5,
        max_char_features: int = 60000,
    ) -> None:
        self.taxonomy_path = taxonomy_path
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.char_weight = char_weight
        self.heading_weight = heading_weight
        self.lead_in_weight = lead_in_weight
        self.phrase_weight = phrase_weight
        self.heading_phrase_weight = heading_phrase_weight
        self.max_char_features = max_char_features

    def _texts(self, X):
        texts = [normalize(clause_text(r)) for r in X]
        headings = [normalize(field(r, "heading")) for r in X]
        leads = [normalize(field(r, "lead_in")) for r in X]
        return texts, headings, leads

    def fit(self, X: Sequence[Any], y: Any = None) -> Self:
        texts, headings, leads = self._texts(X)
        self.word_ = TfidfVectorizer(ngram_range=tuple(self.word_ngrams), sublinear_tf=True, min_df=1,
                                     token_pattern=r"(?u)\b\w+\b", dtype=np.float32).fit(texts)
        self.char_ = None
        if self.char_ngrams:
            self.char_ = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngrams), sublinear_tf=True,
                                         min_df=2, max_features=self.max_char_features, dtype=np.float32).fit(texts)
        self.heading_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b",
                                        dtype=np.float32).fit(headings + texts)
        self.lead_ = TfidfVectorizer(ngram_range=(1, 1), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b",
                                     dtype=np.float32).fit(leads + texts)
        tax = load_taxonomy(self._path())
        self.n_categories_ = len(tax.categories)
        # the phrases are learned state: a saved model does not depend on the file it was built from
        self.text_matcher_ = PhraseMatcher([list(c.phrases) for c in tax.categories])
        self.heading_matcher_ = PhraseMatcher([list(c.headings) + list(c.phrases) for c in tax.categories])
        return self

    def _char_transform(self, texts: list[str]):
        vectorizer = self.char_
        assert vectorizer is not None
        if not _analyses_word_by_word(vectorizer):
            return vectorizer.transform(texts)
        cache = self.__dict__.setdefault("_char_columns", {})
        return _char_wb_transform(vectorizer, texts, cache)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_char_columns", None)  # a cache, rebuilt on use
        return state

    def _path(self) -> str:
        return str(self.taxonomy_path or TAXONOMY_PATH)

    def transform(self, X: Sequence[Any]) -> sp.csr_matrix:
        texts, headings, leads = self._texts(X)
        text_matcher, heading_matcher = self.text_matcher_, self.heading_matcher_
        lead_cache: dict = {}
        heading_cache: dict = {}
        last_headings = [h.rsplit(" > ", 1)[-1] for h in headings]
        blocks = [self.word_.transform(texts)]
        if self.char_ is not None:
            blocks.append(self._char_transform(texts) * self.char_weight)
        blocks.append(_transform_unique(self.heading_, headings) * self.heading_weight)
        blocks.append(_transform_unique(self.lead_, leads) * self.lead_in_weight)
        blocks.append(text_matcher.transform(texts) * self.phrase_weight)
        blocks.append(text_matcher.transform(leads, lead_cache) * (self.phrase_weight * 0.5))
        blocks.append(heading_matcher.transform(last_headings, heading_cache) * self.heading_phrase_weight)
        blocks.append(heading_matcher.transform(headings, heading_cache) * (self.heading_phrase_weight * 0.5))
        return sp.hstack(blocks, format="csr", dtype=np.float32)
