# PolicyCorpus — `make demo` runs the whole pipeline on the bundled demo web, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DB     ?= demo-out/corpus.db
PORT   ?= 8631

.PHONY: install demo demo-pipeline test evaluate bench docs clean

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

# How the default tagger model (or MODEL=...) agrees with the project's own labelled documents,
# with the real development set (units rebuilt from ../shared/realcorpus) and with the gold set.
# The figures are also recorded in the model's quality card (taxonomy/models/default.card.json,
# or MODEL's .card.json), which `policycorpus tag` copies into corpus.db for reports.
REALCORPUS ?= ../shared/realcorpus
GOLD    ?= $(REALCORPUS)/gold
OWNDOCS := $(foreach s,$(basename $(basename $(wildcard taxonomy/owndocs/*.units.jsonl))),--units $(s).units.jsonl --labels $(s).labels.jsonl)
evaluate: $(STAMP)
	@echo "== own labelled documents (taxonomy/owndocs)"
	$(BIN)/policycorpus taxonomy evaluate $(OWNDOCS) $(if $(MODEL),--model $(MODEL)) \
	  --card owndocs --description "taxonomy/owndocs: fictional policies written and labelled by the PolicyCorpus team"
	@if [ -d $(REALCORPUS) ]; then echo "== real development set (taxonomy/realdev)"; \
	  $(BIN)/python -m taxonomy.realdev $(REALCORPUS) -o demo-out/realdev >/dev/null && \
	  $(BIN)/policycorpus taxonomy evaluate $(foreach b,A B C,--units demo-out/realdev/realdev-$(b).units.jsonl --labels taxonomy/realdev/labels/$(b).labels.jsonl) $(if $(MODEL),--model $(MODEL)) \
	    --card realdev --description "taxonomy/realdev: real policies of shared/realcorpus labelled by the PolicyCorpus team"; \
	else echo "real corpus not found at $(REALCORPUS)"; fi
	@if [ -f $(GOLD)/units.jsonl ]; then echo "== gold set ($(GOLD))"; \
	  $(BIN)/policycorpus taxonomy evaluate --units $(GOLD)/units.jsonl --labels $(GOLD)/labels.jsonl $(if $(MODEL),--model $(MODEL)) \
	    --card gold --description "shared/realcorpus/gold: real policies labelled by hand, never used for training"; \
	else echo "gold set not found at $(GOLD)"; fi

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

# pywb (a local web archive for `policycorpus history --archive` and its tests) pins redis==2.10.6, which the
# distributed crawl's redis>=5 excludes, so it lives in its own virtualenv.
pywb: .venv-pywb/bin/wayback
.venv-pywb/bin/wayback:
	$(PYTHON) -m venv .venv-pywb
	.venv-pywb/bin/pip install -q pywb
