import json

from click.testing import CliRunner

from policycorpus.cli import cli
from policycorpus.db import open_db

GOOD = """name,homepage,policy_url,industry,country,peer_group
Northwind Bank,http://127.0.0.21:8631/,,banking,US,regional-banks
Harbor Mutual,http://127.0.0.22:8631/,http://127.0.0.22:8631/p.html,banking,US,regional-banks;us-finance
"""


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_import_and_list(tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text(GOOD)
    db_path = str(tmp_path / "corpus.db")
    result = run("companies", "import", str(csv), "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "2 new" in result.output
    db = open_db(db_path)
    harbor = next(db["companies"].rows_where("name = 'Harbor Mutual'"))
    assert json.loads(harbor["peer_groups"]) == ["regional-banks", "us-finance"]
    assert json.loads(harbor["domains"]) == ["127.0.0.22"]
    assert harbor["policy_url"].endswith("/p.html")
    listing = run("companies", "list", "--db", db_path)
    assert "Northwind Bank" in listing.output and "regional-banks" in listing.output
    again = run("companies", "import", str(csv), "--db", db_path)
    assert "0 new, 2 updated" in again.output
    assert db["companies"].count == 2


def test_bad_rows_reported_by_line_and_nothing_imported(tmp_path):
    db_path = str(tmp_path / "corpus.db")
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    assert run("companies", "import", str(good), "--db", db_path).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "name,homepage,industry\n"
        "Okay Co,http://127.0.0.30/,retail\n"
        ",http://127.0.0.31/,retail\n"
        "Ftp Co,ftp://example/,retail\n"
        "Okay Co,http://127.0.0.32/,retail\n"
    )
    result = run("companies", "import", str(bad), "--db", db_path)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "line 3" in result.output and "line 4" in result.output and "line 5" in result.output
    db = open_db(db_path)
    assert {r["name"] for r in db["companies"].rows} == {"Northwind Bank", "Harbor Mutual"}


def test_missing_file_and_missing_columns(tmp_path):
    db_path = str(tmp_path / "corpus.db")
    result = run("companies", "import", str(tmp_path / "nope.csv"), "--db", db_path)
    assert result.exit_code != 0 and "no such file" in result.output
    csv = tmp_path / "cols.csv"
    csv.write_text("company,url\nA,http://x/\n")
    result = run("companies", "import", str(csv), "--db", db_path)
    assert result.exit_code != 0 and "missing column" in result.output


def test_crawl_unknown_company_is_a_one_line_error(tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text(GOOD)
    db_path = str(tmp_path / "corpus.db")
    run("companies", "import", str(csv), "--db", db_path)
    result = run("crawl", "--company", "Nobody Inc", "--db", db_path)
    assert result.exit_code != 0
    assert "unknown company: Nobody Inc" in result.output
    assert len(result.output.strip().splitlines()) == 1
