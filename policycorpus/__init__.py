"""PolicyCorpus: find, collect, tag and compare organizations' social media policies."""

__version__ = "0.1.0"
