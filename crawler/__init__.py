"""PolicyCorpus crawler."""
