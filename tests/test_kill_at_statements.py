"""Kill an import and a segment run at every write statement (traced with SQLite's trace callback), resume,
and check the corpus: every document's current snapshot right, no duplicates, nothing missing.

Each run is forked from this already-imported test process, so a kill-and-resume costs milliseconds.
"""

import os
import sqlite3

import pytest

from policycorpus.db import open_db

pytestmark = pytest.mark.slow

WRITE_VERBS = ("insert", "update", "delete", "replace", "begin", "commit", "savepoint", "release", "create",
               "alter", "drop", "pragma application_id")

POLICIES = {
    "harbour.md": "# Harbour Co social media policy\n\nOnly the press office may speak for Harbour Co.\n\n"
                  "- Do not share client data online.\n- Say your views are your own.\n",
    "lantern.md": "# Lantern Trust staff guidelines\n\nReport online abuse to your manager.\n\n"
                  "Never post photos of service users without consent.\n",
    "quill.txt": "Quill Ltd online conduct rules\n\nBe courteous to colleagues on every platform.\n",
}
COMPANIES = {"harbour.md": "Harbour Co", "lantern.md": "Lantern Trust", "quill.txt": "Quill Ltd"}


def write_files(folder, version):
    folder.mkdir(exist_ok=True)
    for name, text in POLICIES.items():
        (folder / name).write_text(text + ("\nUpdated: staff must complete training.\n" if version == 2 else ""))


def traced_run(action, kill_at=None):
    """Run ``action`` in a forked child; with kill_at=N the child dies (os._exit) at its N-th write statement.

    Returns the number of write statements the child made (only meaningful when it was not killed).
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        count = [0]
        original_connect = sqlite3.connect

        def trace(statement):
            if statement.lstrip().lower().startswith(WRITE_VERBS):
                count[0] += 1
                if kill_at is not None and count[0] >= kill_at:
                    os._exit(9)

        def connect(*args, **kwargs):
            conn = original_connect(*args, **kwargs)
            conn.set_trace_callback(trace)
            return conn

        sqlite3.connect = connect
        try:
            action()
        except BaseException:  # noqa: BLE001 - report as a non-zero exit
            import traceback

            traceback.print_exc()
            os._exit(3)
        os.write(write_fd, str(count[0]).encode())
        os._exit(0)
    os.close(write_fd)
    _, status = os.waitpid(pid, 0)
    output = os.read(read_fd, 100).decode()
    os.close(read_fd)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 9), f"child failed with exit code {code}"
    return int(output) if code == 0 and output else None


@pytest.fixture(autouse=True, scope="module")
def warm_classifier():
    """Load the policy classifier once, before forking, so each child does not spend seconds on it."""
    from crawler.classify import default_classifier

    default_classifier()


def import_all(folder, db_path):
    from crawler.importer import assign_companies, find_files, import_documents

    open_db(db_path).conn.close()  # the schema exists before the traced run: kills land in the import's writes

    def action():
        db = open_db(db_path)
        assignments = []
        for name in sorted(POLICIES):
            assignments += assign_companies(find_files([str(folder / name)])[0], None, COMPANIES[name], None, None)
        import_documents(db, assignments)
        db.conn.close()

    return action


def segment_all(db_path):
    from taxonomy.pipeline import segment_snapshots

    def action():
        db = open_db(db_path)
        segment_snapshots(db)
        db.conn.close()

    return action


def check_imported(db_path, version):
    db = open_db(db_path)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    docs = list(db["documents"].rows)
    assert len(docs) == len(POLICIES), "a policy is missing"
    assert not db.execute("select document_id, text_hash from snapshots group by 1, 2 having count(*) > 1").fetchall()
    for doc in docs:
        snap = db["snapshots"].get(doc["latest_snapshot_id"])
        assert snap["document_id"] == doc["id"]
        assert ("Updated: staff must complete training." in snap["text"]) == (version == 2), doc["url"]
        assert doc["snapshot_count"] == db["snapshots"].count_where("document_id = ?", [doc["id"]])
        assert db.execute("select snapshot_id from document_versions where document_id = ? order by id desc limit 1",
                          [doc["id"]]).fetchone()[0] == doc["latest_snapshot_id"]
    db.conn.close()


def check_segmented(db_path, expected):
    db = open_db(db_path)
    got = {r[0]: r[1] for r in db.execute("select snapshot_id, count(*) from clauses group by snapshot_id")}
    assert got == expected
    done = {r[0] for r in db.execute("select snapshot_id from processing where step = 'segment'")}
    assert done == set(expected)
    db.conn.close()


def test_import_killed_at_every_write_then_resumed(tmp_path):
    folder = tmp_path / "files"
    write_files(folder, 1)
    reference = tmp_path / "reference.db"
    n_first = traced_run(import_all(folder, reference))
    write_files(folder, 2)
    n_second = traced_run(import_all(folder, reference))
    assert n_first > 10 and n_second > 10
    check_imported(reference, 2)
    for version, n in ((1, n_first), (2, n_second)):
        for kill_at in range(1, n + 1):
            db_path = tmp_path / f"v{version}-{kill_at}.db"
            write_files(folder, 1)
            if version == 2:
                traced_run(import_all(folder, db_path))
                write_files(folder, 2)
            traced_run(import_all(folder, db_path), kill_at=kill_at)
            traced_run(import_all(folder, db_path))  # resume: the same import again
            check_imported(db_path, version)
            db_path.unlink()
            for suffix in ("-wal", "-shm"):
                (tmp_path / f"{db_path.name}{suffix}").unlink(missing_ok=True)


def test_segment_killed_at_every_write_then_resumed(tmp_path):
    folder = tmp_path / "files"
    write_files(folder, 1)
    base = tmp_path / "base.db"
    traced_run(import_all(folder, base))
    reference = tmp_path / "reference.db"
    reference.write_bytes(base.read_bytes())
    n = traced_run(segment_all(reference))
    db = open_db(reference)
    expected = {r[0]: r[1] for r in db.execute("select snapshot_id, count(*) from clauses group by snapshot_id")}
    db.conn.close()
    assert n > 5 and expected
    for kill_at in range(1, n + 1):
        db_path = tmp_path / f"seg-{kill_at}.db"
        db_path.write_bytes(base.read_bytes())
        traced_run(segment_all(db_path), kill_at=kill_at)
        traced_run(segment_all(db_path))
        check_segmented(db_path, expected)
