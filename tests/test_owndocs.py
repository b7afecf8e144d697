"""The project's own labelled policy documents (eval/owndocs): well formed, and a second quality gate.

Written and labelled for the project (see eval/owndocs/README.md), they
measure the tagger on whole documents in the genres of real policies,
independently of the shared gold set. Their floors, like gold's, may only be
raised.
"""

from collections import defaultdict

import pytest

from taxonomy.taxonomy import MODALITIES, load_taxonomy
from taxonomy.training import read_unit_labels

from floors import CELL_METRICS, METRICS, ROOT, card_figures, check_above, check_only_raised

OWNDOCS = ROOT / "eval" / "owndocs"
FLOORS = OWNDOCS / "quality_floors.json"
SETS = sorted(p.name[: -len(".units.jsonl")] for p in OWNDOCS.glob("*.units.jsonl"))


def _pair(name):
    return OWNDOCS / f"{name}.units.jsonl", OWNDOCS / f"{name}.labels.jsonl"


@pytest.mark.parametrize("name", SETS)
def test_each_set_is_well_formed(name):
    units_path, labels_path = _pair(name)
    units, labels = read_unit_labels(units_path, labels_path)
    assert len(units) == len(labels_path.read_text().splitlines())
    ids = set(load_taxonomy().ids)
    idx = defaultdict(list)
    for unit, label in zip(units, labels):
        assert unit["doc"].startswith(f"{name}-") and unit["text"].strip()
        assert set(label["labels"]) <= ids and label["modality"] in MODALITIES
        idx[unit["doc"]].append(unit["idx"])
    for doc, seen in idx.items():
        assert seen == list(range(len(seen))), f"{doc}: idx must run 0..n-1 in document order"
        assert len(seen) >= 20, f"{doc}: a document, not a snippet"


def test_sets_cover_the_taxonomy():
    used = set()
    for name in SETS:
        _, labels = read_unit_labels(*_pair(name))
        used |= {c for row in labels for c in row["labels"]}
    assert len(SETS) >= 5 and used == set(load_taxonomy().ids)


@pytest.mark.parametrize("metric", METRICS + CELL_METRICS)
def test_own_documents_stay_above_floors(metric):
    # the shipped model is trained on these documents too: its figures come from document-grouped cross-validation
    check_above(card_figures("owndocs"), FLOORS, metric)


def test_own_floors_are_only_raised():
    check_only_raised(FLOORS)
