"""PolicyCorpus analysis."""
