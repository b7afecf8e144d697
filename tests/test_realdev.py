"""The real development set: the project's labels for the non-gold policies of shared/realcorpus.

The units are rebuilt from ../shared/realcorpus by the importer and the
segmenter; the default model's cross-validated figures (in its quality card,
see tests/test_taxonomy_quality.py) must stay above the floors in
eval/realdev/quality_floors.json, which may only be raised.
"""

import pytest

from taxonomy.realdev import FILES, LABELS_DIR, RealdevError, build_units, labels_path
from taxonomy.taxonomy import MODALITIES, load_taxonomy
from taxonomy.training import json_objects

from floors import CELL_METRICS, METRICS, ROOT, card_figures, check_above, check_only_raised

REALCORPUS = ROOT.parent / "shared" / "realcorpus"
FLOORS = LABELS_DIR.parent / "quality_floors.json"


@pytest.fixture(scope="module")
def batches():
    if not (REALCORPUS / "INDEX.tsv").exists():
        pytest.skip(f"real corpus not found at {REALCORPUS} (it lives beside the checkout in ../shared)")
    return {batch: build_units(REALCORPUS, batch) for batch in FILES}


def test_no_gold_document_is_in_the_development_set():
    rows = (REALCORPUS / "INDEX.tsv").read_text().splitlines() if (REALCORPUS / "INDEX.tsv").exists() else []
    if not rows:
        pytest.skip("real corpus not found")
    header = rows[0].split("\t")
    index = [dict(zip(header, r.split("\t"))) for r in rows[1:]]
    gold = {r["file"] for r in index if r.get("in_gold") == "yes"}
    listed = {r["file"] for r in index}
    for files in FILES.values():
        for rel in files:
            assert rel in listed and rel not in gold


def test_labels_are_well_formed_and_aligned(batches):
    ids = set(load_taxonomy().ids)
    for batch, units in batches.items():
        labels = [row for _, row in json_objects(labels_path(batch), require_text=False)]
        assert len(labels) == len(units)
        for row in labels:
            assert set(row["labels"]) <= ids and row["modality"] in MODALITIES


def test_a_misaligned_segmentation_is_refused(tmp_path):
    if not (REALCORPUS / "INDEX.tsv").exists():
        pytest.skip("real corpus not found")
    corpus = tmp_path / "realcorpus"
    for rel in FILES["A"]:
        target = corpus / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REALCORPUS / rel).read_bytes())
    first = corpus / FILES["A"][0]
    first.write_text(first.read_text() + "\n\nAn extra paragraph that was never labelled.\n")
    with pytest.raises(RealdevError, match="other units than were labelled"):
        build_units(corpus, "A")


@pytest.mark.parametrize("metric", METRICS + CELL_METRICS)
def test_real_development_set_stays_above_floors(metric):
    # the shipped model is trained on this set too: its figures come from document-grouped cross-validation
    check_above(card_figures("realdev"), FLOORS, metric)


def test_realdev_floors_are_only_raised():
    check_only_raised(FLOORS)
