"""Fault benchmark: crawl 100 local sites of which 30 misbehave, with `policycorpus crawl`.

    python bench/faults.py [--sites 100] [--faulty 30] [--timeout 2]

The sites come from tests/faultweb.py (127.0.0.100 and up): every site has one good
social media policy; the faulty ones cycle through every kind of misbehaviour
(5xx with Retry-After, timeouts, slow drip, connection resets, redirect loops,
a 50 MB page, a gzip bomb, wrong/missing charset, binary served as HTML,
malformed and deeply nested HTML, truncated and encrypted PDFs, a calendar link
trap, the same policy under many URLs, redirects into loopback/metadata).
Prints pages fetched, faults survived (crawl finished, failure in crawl_log with
its reason, the site's policy captured), policies captured versus planted, and
snapshots lost or duplicated. Exits non-zero unless every policy is captured and
nothing is lost or duplicated.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from policycorpus.db import open_db  # noqa: E402

from faultweb import EXPECTED_LOG, FAULTS, POLICY_PATH, SAFETY_FAULTS, FaultWeb  # noqa: E402


def fault_list(sites: int, faulty: int) -> list[str | None]:
    kinds = FAULTS + SAFETY_FAULTS
    faults = [kinds[i % len(kinds)] for i in range(faulty)]
    healthy: list[str | None] = [None] * (sites - faulty)
    # spread the faulty sites among the healthy ones
    out, step = [], max(1, sites // max(faulty, 1))
    for i in range(sites):
        out.append(faults.pop(0) if faults and i % step == 0 else (healthy.pop() if healthy else faults.pop(0)))
    return out


def site_verdicts(web: FaultWeb, db) -> list[tuple[str, bool, str]]:
    """(fault, survived, detail) per faulty site."""
    companies = {r["homepage"]: r["id"] for r in db.query("select id, homepage from companies")}
    documents = {r["url"]: r for r in db.query("select * from documents")}
    verdicts = []
    for site in web.sites:
        if site.fault is None:
            continue
        base = web.base_url(site)
        company = companies[base + "/"]
        aliases = [base + POLICY_PATH] + ([base + p for p in web.duplicate_paths()]
                                          if site.fault == "duplicate_content" else [])
        captured = any(url in documents for url in aliases)
        expected = EXPECTED_LOG[site.fault]
        logged = True
        if expected:
            outcome, text = expected
            logged = bool(db.execute("select 1 from crawl_log where company_id = ? and outcome = ? and "
                                     "lower(reason) like ?", [company, outcome, f"%{text.lower()}%"]).fetchone())
        detail = ("" if captured else "policy missing; ") + ("" if logged else f"no {expected[0]} row in crawl_log")
        verdicts.append((site.fault, captured and logged, detail))
    return verdicts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--faulty", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=2.0, help="download timeout of the crawl, seconds")
    args = parser.parse_args(argv)
    faults = fault_list(args.sites, args.faulty)
    with tempfile.TemporaryDirectory() as tmp, FaultWeb(faults, stall_seconds=3 * args.timeout) as web:
        db_path = str(Path(tmp) / "corpus.db")
        cli = [sys.executable, "-m", "policycorpus"]
        subprocess.run([*cli, "companies", "import", str(web.write_companies_csv(Path(tmp) / "c.csv")), "--db", db_path],
                       check=True, capture_output=True, cwd=ROOT)
        started = time.monotonic()
        result = subprocess.run([*cli, "crawl", *web.allow_host_args(), "--timeout", str(args.timeout),
                                 "--max-pages", "30", "-q", "--db", db_path], capture_output=True, text=True, cwd=ROOT)
        elapsed = time.monotonic() - started
        db = open_db(db_path)
        crawl = db.execute("select status, pages from crawls order by id desc limit 1").fetchone()
        outcomes = Counter(r[0] for r in db.execute("select outcome from crawl_log"))
        verdicts = site_verdicts(web, db)
        planted = web.planted()
        documents = {r["url"] for r in db.query("select url from documents")}
        captured = sum(1 for url, site in planted.items() if url in documents or (
            site.fault == "duplicate_content" and any(web.base_url(site) + p in documents for p in web.duplicate_paths())))
        duplicated = db.execute("select count(*) from (select 1 from snapshots group by document_id, text_hash "
                                "having count(*) > 1)").fetchone()[0]
        duplicated += db.execute("select count(*) from (select 1 from documents d join snapshots s on "
                                 "s.id = d.latest_snapshot_id group by d.company_id, s.text_hash "
                                 "having count(*) > 1)").fetchone()[0]
        lost = len(planted) - captured
        integrity = db.execute("pragma integrity_check").fetchone()[0]
        served = len(web.requests)
    survived = sum(ok for _, ok, _ in verdicts)
    print(f"sites: {args.sites} ({args.faulty} misbehaving, {len(set(f for f in faults if f))} kinds of fault)")
    print(f"crawl: {crawl[0]} in {elapsed:.1f} s, exit status {result.returncode}")
    print(f"pages fetched: {crawl[1]} ok responses, {sum(outcomes.values())} crawl_log rows, {served} requests served")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1])))
    print(f"faults survived: {survived}/{len(verdicts)}")
    for fault, ok, detail in verdicts:
        if not ok:
            print(f"  NOT survived: {fault}: {detail}")
    print(f"policies captured: {captured}/{len(planted)} planted")
    print(f"snapshots lost: {lost}, duplicated: {duplicated}, integrity_check: {integrity}")
    good = result.returncode == 0 and survived == len(verdicts) and lost == 0 and duplicated == 0 and integrity == "ok"
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
    return 0 if good else 1


if __name__ == "__main__":
    raise SystemExit(main())
