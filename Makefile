# PolicyCorpus — `make demo` runs the whole pipeline on the bundled demo web, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DB     ?= demo-out/corpus.db
PORT   ?= 8631

.PHONY: install demo demo-pipeline test bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Serve the demo web on 127.0.0.21-40, crawl it twice (the changing policy), segment, tag,
# compare, cluster, find templates, then serve the corpus with Datasette.
demo: $(STAMP)
	$(BIN)/python -m demo.pipeline --db $(DB) --port $(PORT) --serve

# The same without Datasette at the end (used by tests and CI).
demo-pipeline: $(STAMP)
	$(BIN)/python -m demo.pipeline --db $(DB) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/crawl.py --workers 3 --redis
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/tag.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/serve.py

docs: $(STAMP)
	$(BIN)/policycorpus schema --markdown > docs/schema.md

clean:
	rm -rf demo-out .pytest_cache build dist *.egg-info
