"""PolicyCorpus taxonomy."""
