"""One owner for "current": no module outside policycorpus/db.py selects current clauses, their latest
segmentation or their effective tags with SQL of its own; they read the views db.py declares."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("policycorpus", "crawler", "taxonomy", "analysis", "publish")
OWNER = ROOT / "policycorpus" / "db.py"

# Each pattern is a piece of the definitions that live in db.py's views.
PATTERNS = {
    "joins clauses to a document's latest snapshot": r"latest_snapshot_id\s*=\s*\w+\.snapshot_id|"
                                                     r"snapshot_id\s*=\s*\w+\.latest_snapshot_id",
    "picks a snapshot's latest segmentation": r"coalesce\(\s*(\w+\.)?segmenter_version",
    "picks the tags of a clause's model version": r"model_version\s*=\s*\w+\.model_version",
    "reads the tags table instead of effective_tags": r"\b(select|join)\b[^;]*?\bfrom\s+tags\b(?!\s*\))|\bjoin\s+tags\b",
}
# Writers of the tags table (the tagger) and the fingerprint of what changed may name it.
ALLOWED = {("taxonomy/pipeline.py", "reads the tags table instead of effective_tags"),
           ("publish/summary.py", "reads the tags table instead of effective_tags")}


def project_files():
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.suffix in (".py", ".yml", ".yaml", ".html", ".sql") and path != OWNER and path.is_file():
                yield path


def test_no_module_writes_its_own_current_sql():
    offences = []
    for path in project_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        relative = path.relative_to(ROOT).as_posix()
        for what, pattern in PATTERNS.items():
            if (relative, what) in ALLOWED:
                continue
            for match in re.finditer(pattern, text, flags=re.IGNORECASE):
                line = text.count("\n", 0, match.start()) + 1
                offences.append(f"{relative}:{line}: {what}")
    assert not offences, "read the views of policycorpus/db.py instead:\n" + "\n".join(offences)


def test_the_owner_declares_the_views():
    from policycorpus.db import VIEWS

    names = {v.name for v in VIEWS}
    assert {"snapshot_segments", "current_segments", "effective_tags", "current_clauses", "current_cells"} <= names


def test_the_patterns_catch_what_they_should():
    samples = {
        "join documents d on d.id = cl.document_id and d.latest_snapshot_id = cl.snapshot_id": 0,
        "and coalesce(cl.segmenter_version, '') = coalesce(": 1,
        "where cl.model_version is null or t.model_version = cl.model_version": 2,
        "select t.category from tags t where t.clause_id = 1": 3,
    }
    names = list(PATTERNS)
    for sample, index in samples.items():
        assert re.search(PATTERNS[names[index]], sample, flags=re.IGNORECASE), sample
