"""Languages of pages: what a page declares, its other-language versions, and a guess from its words.

Data in languages.yaml. A page's language comes first from what it declares (``<html lang>``,
``Content-Language``), then from a guess over its text (function words; Japanese by its script).
Other-language versions of a page come from ``hreflang`` (``<link rel="alternate">`` and links)
and from language-switcher links (a link whose ``lang`` attribute or whole text names a language).

The company list's ``language`` column says which version the crawl keeps when a page offers
several: ``en`` (the default), ``local`` (the language of the company's homepage) or a code
such as ``de``; see crawler/spider.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES_FILE = Path(__file__).with_name("languages.yaml")
DEFAULT_PREFERENCE = "en"
_WORD = re.compile(r"[^\W\d_]+")
_CODE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class Languages:
    codes: tuple[str, ...]
    labels: dict[str, str]  # switcher text -> code
    words: dict[str, frozenset[str]]
    scripts: dict[str, re.Pattern]


@lru_cache(maxsize=2)
def load_languages(path: str | Path = LANGUAGES_FILE) -> Languages:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["languages"]
    labels: dict[str, str] = {}
    words: dict[str, frozenset[str]] = {}
    scripts: dict = {}
    for code, spec in data.items():
        for label in spec.get("labels", []):
            labels.setdefault(str(label).lower(), code)
        words[code] = frozenset(str(w).lower() for w in spec.get("words", []))
        if spec.get("script"):
            scripts[code] = re.compile(spec["script"])
    return Languages(tuple(data), labels, words, scripts)


def normalise(tag: str | None) -> str | None:
    """'de-DE' -> 'de', 'pt_BR' -> 'pt', 'x-default' or garbage -> None."""
    if not tag:
        return None
    primary = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
    return primary if _CODE.match(primary) else None


def declared_language(root: Any, content_language: str | None = None) -> str | None:
    """The language a page declares: <html lang>, xml:lang, Content-Language, <meta http-equiv>."""
    html = root if getattr(root, "tag", "") == "html" else next(iter(root.iter("html")), None)
    if html is not None:
        code = normalise(html.get("lang") or html.get("{http://www.w3.org/XML/1998/namespace}lang"))
        if code:
            return code
    code = normalise((content_language or "").split(",")[0])
    if code or html is None:
        return code
    head = html.find("head")  # only the head's meta elements: a page's body is not walked
    meta = next((m.get("content") for m in (head.iter("meta") if head is not None else ())
                 if (m.get("http-equiv") or "").lower() == "content-language"), None)
    return normalise((meta or "").split(",")[0])


def language_links(root: Any, base_url: str, urljoin: Callable[[str], str]) -> dict[str, str]:
    """{absolute URL: language code} of a page's hreflang alternates and language-switcher links."""
    languages = load_languages()
    out: dict[str, str] = {}
    for element in root.iter("link", "a"):
        href = (element.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:")):
            continue
        code = normalise(element.get("hreflang"))
        if code is None and element.tag == "a":
            code = normalise(element.get("lang"))
            if code is None:
                text = " ".join(element.text_content().split()).lower()
                code = languages.labels.get(text) if 0 < len(text) <= 30 else None
        if code is None or (element.tag == "link" and "alternate" not in (element.get("rel") or "").lower()):
            continue
        try:
            out.setdefault(urljoin(href).split("#", 1)[0], code)
        except ValueError:
            continue
    return out


def guess_language(text: str, sample: int = 20_000) -> str | None:
    """The language of a text by its function words (Japanese by its kana); None when too little to tell."""
    languages = load_languages()
    text = text[:sample]
    for code, script in languages.scripts.items():
        if len(script.findall(text)) >= 20:
            return code
    counts = dict.fromkeys(languages.words, 0)
    for word in _WORD.findall(text.lower()):
        for code, words in languages.words.items():
            if word in words:
                counts[code] += 1
    best = max(counts, key=lambda code: counts[code])
    return best if counts[best] >= 5 else None


def preference(value: str | None) -> str:
    """The company list's language column: 'en' (default), 'local', or a language code."""
    value = (value or "").strip().lower()
    if value in ("", "english"):
        return DEFAULT_PREFERENCE
    if value in ("local", "all"):
        return value
    return normalise(value) or DEFAULT_PREFERENCE
