"""Kill a crawl, an import, a merge and a segment run at every write statement (traced with SQLite's trace
callback), resume, and check the corpus: every document's current snapshot right, no duplicates, nothing missing.

Each run is forked from this already-imported test process, so a kill-and-resume costs milliseconds (a crawl,
which starts Scrapy's reactor in the child, about a second).
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
    """Load the policy classifier and the crawler's modules once, before forking, so each child does not spend
    seconds on them (a forked crawl then starts in a fraction of a second)."""
    import crawler.spider  # noqa: F401
    from crawler.classify import default_classifier
    from policycorpus.extract import extract

    default_classifier()
    extract(b"<html><body><p>warm up the extractors</p></body></html>", "http://127.0.0.1/")
    import_scrapy_components()


def import_scrapy_components():
    """Import every component a crawl's settings name (Scrapy loads them lazily, about 2 s per crawl)."""
    from scrapy.settings import Settings
    from scrapy.utils.misc import load_object

    from crawler.settings import crawl_settings

    settings = Settings(crawl_settings(db_path="unused.db", crawl_id=1))
    paths: list[str] = []
    for name, value in settings.items():
        value = settings.getwithbase(name) if name + "_BASE" in settings else value
        if isinstance(value, str) and "." in value and " " not in value:
            paths.append(value)
        elif hasattr(value, "keys"):
            paths += [k for k in value.keys() if isinstance(k, str) and "." in k]
        elif isinstance(value, dict):
            paths += [v for v in value.values() if isinstance(v, str) and "." in v]
    for path in paths:
        try:
            load_object(path)
        except (ImportError, NameError, ValueError, AttributeError):
            pass  # not an object path, or an optional component this machine lacks


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


# ---------------------------------------------------------------- merge


def shard_of(folder, db_path, names, version):
    """A worker's corpus: some of the policies imported (at a version)."""
    write_files(folder, version)
    from crawler.importer import assign_companies, find_files, import_documents

    db = open_db(db_path)
    assignments = []
    for name in names:
        assignments += assign_companies(find_files([str(folder / name)])[0], None, COMPANIES[name], None, None)
    import_documents(db, assignments)
    db.conn.close()
    return db_path


def merge_into(dest, sources):
    from crawler.merge import merge_databases

    def action():
        merge_databases(dest, sources)

    return action


def merged_state(db_path):
    db = open_db(db_path)
    state = {
        "companies": sorted(r[0] for r in db.execute("select name from companies")),
        "documents": sorted(db.execute("select co.name, d.url, s.text_hash, d.snapshot_count from documents d "
                                       "join companies co on co.id = d.company_id "
                                       "join snapshots s on s.id = d.latest_snapshot_id").fetchall()),
        "snapshots": sorted(db.execute("select d.url, s.text_hash from snapshots s "
                                       "join documents d on d.id = s.document_id").fetchall()),
        "versions": db.execute("select count(*) from document_versions").fetchone()[0],
    }
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    db.conn.close()
    return state


def test_merge_killed_at_every_write_then_resumed(tmp_path):
    folder = tmp_path / "files"
    first = shard_of(folder, tmp_path / "w1.db", ["harbour.md", "lantern.md"], 1)
    second = shard_of(folder, tmp_path / "w2.db", ["lantern.md", "quill.txt"], 2)
    reference = tmp_path / "reference.db"
    n = traced_run(merge_into(reference, [first, second]))
    expected = merged_state(reference)
    assert n > 10 and len(expected["documents"]) == len(POLICIES)
    for kill_at in range(1, n + 1):
        dest = tmp_path / f"merged-{kill_at}.db"
        traced_run(merge_into(dest, [first, second]), kill_at=kill_at)
        traced_run(merge_into(dest, [first, second]))  # resume: the same merge again
        assert merged_state(dest) == expected, f"killed at write {kill_at}"
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"{dest.name}{suffix}").unlink(missing_ok=True)


# ---------------------------------------------------------------- crawl

SITE = {
    "/": b'<html><head><title>Fernhill Co</title></head><body><h1>Fernhill Co</h1>'
         b'<a href="/about.html">About us</a> <a href="/policies/social-media.html">Social media policy</a></body></html>',
    "/about.html": b"<html><body><h1>About Fernhill</h1><p>We grow ferns.</p></body></html>",
    "/policies/social-media.html": (
        b"<html><head><title>Fernhill social media policy</title></head><body><h1>Social media policy</h1>"
        b"<p>This policy applies to all Fernhill employees who use social media.</p>"
        b"<p>Only the communications team may speak on behalf of Fernhill on social media.</p>"
        b"<p>Do not share confidential customer information online.</p>"
        b"<p>When you mention your work, say that the views are your own.</p>"
        b"<p>Breaches of this policy may lead to disciplinary action.</p></body></html>"),
}


@pytest.fixture(scope="module")
def tiny_site():
    """One small site on 127.0.0.1 (port 0): a homepage, an about page and a social media policy."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = SITE.get(self.path.split("?")[0])
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def crawl_action(db_path, resume):
    def action():
        from policycorpus.cli import cli

        args = ["crawl", "--allow-private", "--no-polite", "-q", "--db", str(db_path)] + (["--resume"] if resume else [])
        try:
            cli.main(args, standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                raise

    return action


def unfinished_crawl(db_path) -> bool:
    db = open_db(db_path)
    try:
        return db.execute("select count(*) from crawls where status != 'finished'").fetchone()[0] > 0
    finally:
        db.conn.close()


def check_crawled(db_path, policy_url):
    db = open_db(db_path)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    docs = list(db["documents"].rows)
    assert [d["url"] for d in docs] == [policy_url], "the policy is missing or counted twice"
    doc = docs[0]
    snap = db["snapshots"].get(doc["latest_snapshot_id"])
    assert snap["document_id"] == doc["id"] and "communications team" in snap["text"]
    assert db["snapshots"].count_where("document_id = ?", [doc["id"]]) == doc["snapshot_count"] == 1
    assert not db.execute("select count(*) from crawls where status != 'finished'").fetchone()[0]
    db.conn.close()


def test_crawl_killed_at_every_write_then_resumed(tmp_path, tiny_site):
    from policycorpus.companies import CompanyRow, import_companies

    base = tmp_path / "base.db"
    db = open_db(base)
    import_companies(db, [CompanyRow("Fernhill Co", tiny_site, None, "horticulture", "GB", [])])
    db.conn.close()
    reference = tmp_path / "reference.db"
    reference.write_bytes(base.read_bytes())
    n = traced_run(crawl_action(reference, resume=False))
    policy_url = tiny_site + "policies/social-media.html"
    check_crawled(reference, policy_url)
    assert n > 5
    for kill_at in range(1, n + 1):
        db_path = tmp_path / f"crawl-{kill_at}.db"
        db_path.write_bytes(base.read_bytes())
        traced_run(crawl_action(db_path, resume=False), kill_at=kill_at)
        # as a user would: --resume when the killed crawl left its row, else crawl again
        traced_run(crawl_action(db_path, resume=unfinished_crawl(db_path)))
        check_crawled(db_path, policy_url)
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"{db_path.name}{suffix}").unlink(missing_ok=True)
