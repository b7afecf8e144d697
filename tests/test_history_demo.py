"""The demo's local archive (demo/archive.py): after two crawls and `policycorpus history`, the demo web's
changing policy has three versions over time (what `make demo` shows)."""

from __future__ import annotations

from demo.archive import CHANGING_PAGE, InternetArchiveServer, demo_captures
from demo.webserver import DemoWeb
from policycorpus.db import open_db

from commandline import policycorpus


def test_changing_demo_policy_has_three_versions_over_time(tmp_path):
    db_path = str(tmp_path / "corpus.db")
    slug, path = CHANGING_PAGE
    with DemoWeb(port=0, generation=1, sites=[slug]) as web:
        policycorpus("companies", "import", str(web.write_companies_csv(tmp_path / "c.csv")), "--db", db_path)
        policycorpus("crawl", "--allow-private", "-q", "--db", db_path)
        web.set_generation(2)
        policycorpus("crawl", "--allow-private", "-q", "--db", db_path)
        with InternetArchiveServer(demo_captures(web)) as archive:
            out = policycorpus("history", "--archive", archive.url, "--allow-host", "127.0.0.1", "--delay", "0",
                               "--db", db_path)
        url = web.url(slug, "/" + path)
    assert "1 new versions" in out.stdout, out.stdout
    db = open_db(db_path)
    doc = next(db["documents"].rows_where("url = ?", [url]))
    versions = db.execute("select v.since, v.source, s.text from document_versions v join snapshots s "
                          "on s.id = v.snapshot_id where v.document_id = ? order by v.since", [doc["id"]]).fetchall()
    assert [v[0][:4] for v in versions[:2]] == ["2021", "2024"] and len(versions) == 3
    assert [v[1] for v in versions] == ["archive", "archive", "crawl"]
    assert "Version 1.0" in versions[0][2] and "harassing" not in versions[0][2]
    assert "Account security" in versions[2][2]
    assert doc["latest_snapshot_id"] == db.execute("select snapshot_id from document_versions where document_id = ? "
                                                   "order by since desc limit 1", [doc["id"]]).fetchone()[0]
