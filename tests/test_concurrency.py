"""Two writers at once give the same corpus as one: segment, tag and import-docs take the write lock."""

import subprocess
import sys

import pytest

from policycorpus.db import open_db

pytestmark = pytest.mark.slow

POLICY = """# {name} social media policy

Only the communications team may speak for {name} online.

## Confidentiality

- Do not share customer information on social media.
- Do not post about unannounced products.
- Say that your views are your own and not those of {name}.

Report harassment you receive online to your manager straight away.
"""
NAMES = ["Harbour Co", "Lantern Trust", "Quill Ltd", "Meadow Bank", "Orbit Labs", "Tidewater Council"]


def popen(*args):
    return subprocess.Popen([sys.executable, "-m", "policycorpus", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run_together(*commands):
    procs = [popen(*c) for c in commands]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0, err
        assert "Traceback" not in out + err
    return results


def files(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    sidecar = ["file\tcompany"]
    for name in NAMES:
        path = folder / f"{name.split()[0].lower()}.md"
        path.write_text(POLICY.format(name=name))
        sidecar.append(f"{path.name}\t{name}")
    (folder / "INDEX.tsv").write_text("\n".join(sidecar) + "\n")
    return folder


def shape(db_path):
    db = open_db(db_path)
    out = {
        "documents": sorted(r[0] for r in db.execute("select url from documents")),
        "snapshots": db["snapshots"].count,
        "versions": db["document_versions"].count,
        "clauses": sorted(r[0] for r in db.execute("select key from clauses")),
        "tags": sorted(db.execute("select c.key, t.category from tags t join clauses c on c.id = t.clause_id").fetchall()),
        "processing": sorted(db.execute("select snapshot_id, step from processing").fetchall()),
    }
    db.conn.close()
    return out


def test_concurrent_imports_segments_and_tags_equal_one_run(tmp_path):
    folder = files(tmp_path)
    single, double = tmp_path / "single.db", tmp_path / "double.db"
    for step in (["import-docs", folder, "-q"], ["segment"], ["tag"]):
        run_together([*step, "--db", single])
        run_together([*step, "--db", double], [*step, "--db", double])
    one, two = shape(single), shape(double)
    assert one["clauses"] and one["tags"]
    assert one == two


def test_concurrent_merges_equal_one_merge(tmp_path):
    """Two `merge` runs of the same worker corpora into one destination at once: the same corpus as one run."""
    folder = files(tmp_path)
    shards = []
    for i, names in enumerate((NAMES[:4], NAMES[2:])):
        part = tmp_path / f"part{i}"
        part.mkdir()
        for name in names:
            source = folder / f"{name.split()[0].lower()}.md"
            (part / source.name).write_text(source.read_text() + ("\nUpdated by worker two.\n" if i else ""))
        (part / "INDEX.tsv").write_text("file\tcompany\n" + "".join(
            f"{name.split()[0].lower()}.md\t{name}\n" for name in names))
        shard = tmp_path / f"w{i}.db"
        run_together(["import-docs", part, "-q", "--db", shard])
        shards.append(shard)
    single, double = tmp_path / "single.db", tmp_path / "double.db"
    run_together(["merge", *shards, "--db", single])
    run_together(["merge", *shards, "--db", double], ["merge", *shards, "--db", double])
    one, two = shape(single), shape(double)
    assert len(one["documents"]) == 8  # four files from each folder (two companies in both, at two URLs)
    assert one == two
