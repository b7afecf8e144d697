# PolicyCorpus — `make demo` runs the whole pipeline on the bundled demo web, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DB     ?= demo-out/corpus.db
PORT   ?= 8631

.PHONY: install demo demo-pipeline test test-fast lint evaluate model model-embeddings bench docs clean

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

# Both cores: pytest-xdist runs test modules side by side (--dist loadfile keeps a module's fixtures in one
# worker; every test server binds port 0, so two workers never collide).
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

# The quick loop: everything but the tests marked slow (crawls, browsers, training, real corpora).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" -n 2 --dist loadfile

# ruff (pyproject's [tool.ruff]) and the type checker mypy (its [tool.mypy]: which packages, which libraries lack types)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# How the default tagger model agrees with the project's real labelled sets: the own documents
# (eval/owndocs), the real development set (units rebuilt from ../shared/realcorpus) and gold.
# The default model is trained on all three, so its figures come from 5-fold cross-validation
# grouped by document (python -m taxonomy.crossval: five trainings, a few minutes); they go into
# its quality card (taxonomy/models/default.card.json, which `policycorpus tag` copies into
# corpus.db for reports), and the cell thresholds (default.thresholds.json) are refitted.
# MODEL=file.joblib instead scores that model on each set as it is (it must not have been
# trained on them) and records the figures in MODEL's .card.json.
REALCORPUS ?= ../shared/realcorpus
GOLD    ?= $(REALCORPUS)/gold
OWNDOCS := $(foreach s,$(basename $(basename $(wildcard eval/owndocs/*.units.jsonl))),--units $(s).units.jsonl --labels $(s).labels.jsonl)
REALDEV := $(foreach b,A B C,--units demo-out/realdev/realdev-$(b).units.jsonl --labels eval/realdev/labels/$(b).labels.jsonl)
evaluate: $(STAMP)
	@test -f $(GOLD)/units.jsonl || { echo "gold set not found at $(GOLD)"; exit 1; }
	$(BIN)/python -m taxonomy.realdev $(REALCORPUS) -o demo-out/realdev >/dev/null
ifeq ($(MODEL),)
	$(BIN)/python -m taxonomy.crossval $(REALCORPUS) --realdev demo-out/realdev --card --write-thresholds
else
	$(BIN)/policycorpus taxonomy evaluate $(OWNDOCS) --model $(MODEL) \
	  --card owndocs --description "eval/owndocs: fictional policies written and labelled by the PolicyCorpus team"
	$(BIN)/policycorpus taxonomy evaluate $(REALDEV) --model $(MODEL) \
	  --card realdev --description "taxonomy/realdev: real policies of shared/realcorpus labelled by the PolicyCorpus team"
	$(BIN)/policycorpus taxonomy evaluate --units $(GOLD)/units.jsonl --labels $(GOLD)/labels.jsonl --model $(MODEL) \
	  --card gold --description "shared/realcorpus/gold: real policies labelled by hand"
endif

# Rebuild the shipped model from the taxonomy examples and every labelled set, then measure it.
model: $(STAMP)
	@test -f $(GOLD)/units.jsonl || { echo "gold set not found at $(GOLD)"; exit 1; }
	$(BIN)/python -m taxonomy.realdev $(REALCORPUS) -o demo-out/realdev >/dev/null
	$(BIN)/policycorpus taxonomy train $(OWNDOCS) $(REALDEV) --units $(GOLD)/units.jsonl --labels $(GOLD)/labels.jsonl \
	  -o taxonomy/models/default.joblib
	$(MAKE) evaluate

# The optional embeddings model, trained and cross-validated the same way (the venv needs the extra:
# .venv/bin/pip install -e '.[embeddings]'); its card and cell thresholds land beside it.
EMBEDDINGS_MODEL := taxonomy/models/embeddings.joblib
model-embeddings: $(STAMP)
	@test -f $(GOLD)/units.jsonl || { echo "gold set not found at $(GOLD)"; exit 1; }
	$(BIN)/python -m taxonomy.realdev $(REALCORPUS) -o demo-out/realdev >/dev/null
	$(BIN)/policycorpus taxonomy train $(OWNDOCS) $(REALDEV) --units $(GOLD)/units.jsonl --labels $(GOLD)/labels.jsonl \
	  --backend embeddings -o $(EMBEDDINGS_MODEL)
	$(BIN)/python -m taxonomy.crossval $(REALCORPUS) --realdev demo-out/realdev --model $(EMBEDDINGS_MODEL) \
	  --card --write-thresholds

bench: $(STAMP)
	$(BIN)/python bench/crawl.py --workers 3 --redis
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/tag.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/document_metadata.py

docs: $(STAMP)
	$(BIN)/policycorpus schema --markdown > docs/schema.md

clean:
	rm -rf demo-out .pytest_cache .mypy_cache build dist *.egg-info

# pywb (a local web archive for `policycorpus history --archive` and its tests) pins redis==2.10.6, which the
# distributed crawl's redis>=5 excludes, so it lives in its own virtualenv.
pywb: .venv-pywb/bin/wayback
.venv-pywb/bin/wayback:
	$(PYTHON) -m venv .venv-pywb
	.venv-pywb/bin/pip install -q pywb
