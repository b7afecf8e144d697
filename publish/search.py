"""Search terms from a form into an FTS5 query: phrases in quotes and OR work, everything else is literal.

Datasette's ``escape_fts`` quotes every word, so ``privacy OR patients`` searches for the word "OR" and a
quoted phrase is split apart. ``fts_query`` keeps "quoted phrases" as phrases and a bare OR between two
terms as FTS5's OR; every other word is quoted, so no input is an FTS5 syntax error. Empty input gives a
query that matches nothing (the page then says to type something).
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NOTHING = '""'


def fts_query(text: str | None) -> str:
    """An FTS5 query for what a person typed in a search box."""
    parts: list[str] = []
    for phrase, word in _TOKEN.findall(_CONTROL.sub(" ", text or "")):
        if word == "OR":
            if parts and parts[-1] != "OR":
                parts.append("OR")
            continue
        term = (phrase if phrase else word).replace('"', "").strip()
        if term:
            parts.append(f'"{term}"')
    while parts and parts[-1] == "OR":
        parts.pop()
    return " ".join(parts) or NOTHING
