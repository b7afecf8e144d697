"""The exceptions of the PolicyCorpus library.

Library code (crawler, taxonomy, analysis, publish, policycorpus) raises only
these for problems a user can fix; it never imports click. The command line
(`policycorpus.cli`) turns them into one-line ``Error: …`` messages and exit
codes, the way sqlite-utils' CLI wraps its library's exceptions.

    from policycorpus.errors import InputError
    raise InputError("draft.docx: a draft must be .md, .txt, .html or .pdf")
"""

from __future__ import annotations


class PolicyCorpusError(Exception):
    """Base class: a problem the user can act on, described in one line."""

    exit_code = 1


class InputError(PolicyCorpusError, ValueError):
    """Bad input: a file, option, CSV row or name that cannot be used as given."""


class NotFoundError(PolicyCorpusError, LookupError):
    """Something named by the user does not exist: a company, document, file or database."""


class CorpusStateError(PolicyCorpusError):
    """The corpus is not ready for the request (nothing segmented yet, no template pass, ...)."""


class CorpusError(PolicyCorpusError):
    """The database file itself cannot be used: not a corpus, a newer schema, read-only, disk full."""


class BusyError(CorpusError):
    """Another command holds the corpus's write lock for longer than we may wait."""


class DependencyError(PolicyCorpusError):
    """An optional extra (embeddings, llm, a browser) is needed and not installed."""
