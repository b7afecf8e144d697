"""With a sidecar that gives every file a public URL, no page, report or export shows a file:// path or the
folder the files were imported from (issue 15: real provenance)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from commandline import policycorpus

pytestmark = pytest.mark.slow

POLICIES = {
    "alder.md": ("Alder Rail", "https://alder-rail.example/policies/social-media",
                 "---\ntitle: Alder Rail social media policy\nlast_reviewed_at: 2025-03-14\n---\n\n"
                 "# Alder Rail social media policy\n\nThis policy applies to every Alder Rail employee.\n\n"
                 "- Only the press office may speak for Alder Rail online.\n"
                 "- Never share passenger data on social media.\n"),
    "birch.md": ("Birch Health", "https://birch-health.example/about/online-conduct",
                 "# Online conduct at Birch Health\n\nStaff must say that the views they post are their own.\n\n"
                 "Report abusive messages about colleagues to your manager.\n\n"
                 "Do not post photos of patients.\n"),
    "cedar.md": ("Cedar Council", "https://cedar.example/governance/social-media-policy",
                 "# Cedar Council social media policy\n\nCouncillors may use personal accounts.\n\n"
                 "Officers must not comment on planning decisions online.\n\n"
                 "Breaches may lead to disciplinary action.\n"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("provenance")
    folder = tmp / "private-folder-of-files"
    folder.mkdir()
    rows = ["file\tcompany\turl"]
    for name, (company, url, text) in POLICIES.items():
        (folder / name).write_text(text, encoding="utf-8")
        rows.append(f"{name}\t{company}\t{url}")
    (folder / "INDEX.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    db = tmp / "corpus.db"
    for step in (["import-docs", folder, "-q"], ["segment"], ["tag"]):
        policycorpus(*step, "--db", db)
    return {"db": db, "folder": folder, "tmp": tmp}


def assert_clean(text: str, where: str, folder: Path) -> None:
    # (the column documentation may say "file:// URI"; a path would be file:///...)
    assert "file:///" not in text and "file:%2F%2F%2F" not in text, f"{where} shows a file:// path"
    assert str(folder) not in text, f"{where} shows the local folder"


def test_pages_and_exports_show_no_local_path(corpus):
    from publish.server import make_datasette, prepare_database

    db = corpus["db"]
    prepare_database(db, log=lambda m: None)
    ds = make_datasette(db)
    conn = __import__("sqlite3").connect(db)
    document_ids = [r[0] for r in conn.execute("select id from documents")]
    clause_keys = [r[0] for r in conn.execute("select key from clauses limit 3")]
    conn.close()
    paths = ["/", "/corpus", "/-/charts", "/-/compare?company=Alder+Rail&company=Birch+Health&company=Cedar+Council"]
    for table in ("documents", "snapshots", "current_clauses", "current_cells", "document_versions"):
        paths += [f"/corpus/{table}", f"/corpus/{table}.json?_shape=array&_size=max",
                  f"/corpus/{table}.csv?_size=max"]
    paths += [f"/-/policy/{i}" for i in document_ids] + [f"/-/clause/{k}" for k in clause_keys]
    paths += ["/corpus/policies", "/corpus/policies.json?_shape=array", "/corpus/policies.csv"]

    async def fetch_all():
        out = {}
        for path in paths:
            response = await ds.client.get(path, follow_redirects=True)
            out[path] = (response.status_code, response.text)
        return out

    for path, (status, text) in asyncio.run(fetch_all()).items():
        assert status == 200, f"{path}: HTTP {status}"
        assert_clean(text, path, corpus["folder"])


def test_reports_and_release_show_no_local_path(corpus):
    db, tmp = corpus["db"], corpus["tmp"]
    out = tmp / "reports"
    policycorpus("compare", "alder", "birch", "cedar", "--format", "all", "-o", f"{out}/", "--db", db)
    for path in out.iterdir():
        if path.suffix in (".md", ".html", ".csv", ".json"):
            assert_clean(path.read_text(encoding="utf-8"), path.name, corpus["folder"])
    release = tmp / "release"
    policycorpus("release", "-o", release, "--db", db)
    for path in release.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json", ".md", ".cff"):
            assert_clean(path.read_text(encoding="utf-8"), str(path.relative_to(release)), corpus["folder"])
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    quoted = [cell["evidence"] for cells in data["cells"].values() for cell in cells.values() if cell["evidence"]]
    assert quoted and all(q["url"].startswith("https://") for q in quoted)
