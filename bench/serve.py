"""Benchmark: `policycorpus serve` on a generated corpus of 1,000,000 clauses.

Generates companies with one tagged policy each (clauses drawn from per-category
sentence patterns with varied wording plus a long tail of rarer words), builds the
FTS5 indexes the way `serve` does, starts `policycorpus serve` in its own process
and measures, over real HTTP on 127.0.0.1:

  * full-text search: the search_clauses canned query (FTS5 match, bm25 rank,
    highlighted terms, current clauses only), one- and two-word searches;
  * the comparison page /-/compare for 4 random companies (analysis.compare grid).

    python bench/serve.py                      # 1,000,000 clauses
    python bench/serve.py --clauses 100000 --keep out/bench-serve.db

Targets: p95 under 200 ms for search, under 500 ms for the comparison page.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (category, modality, pattern); {o} organization, other braces fill from WORDS. Written for this bench.
PATTERNS = [
    ("scope", "information", "This policy applies to all {people} of {o} who use {platform}, on or off duty."),
    ("scope", "information", "These rules cover every {platform} account that {people} use to talk about {o}."),
    ("official_accounts", "obligation", "New {platform} accounts for {o} must be approved by the {team} and registered."),
    ("participation", "recommendation", "We encourage {people} to share {topic} stories and amplify {o} posts."),
    ("work_time_use", "prohibition", "Do not use personal {platform} accounts during working hours on company devices."),
    ("spokesperson", "prohibition", "Only the {team} may speak for {o}; refer every {press} question to them."),
    ("disclosure", "obligation", "When you mention {o} online, say that the views are your own and not the employer's."),
    ("brand_voice", "recommendation", "Posts for {o} should follow the brand guide, use plain words and include alt text."),
    ("engagement", "recommendation", "Answer questions from {partners} politely and never argue with critics in public."),
    ("escalation", "obligation", "Pass complaints, incidents and {press} attention to the {team} straight away."),
    ("monitoring", "information", "{o} monitors mentions on {platform} and audits official accounts every year."),
    ("reporting", "obligation", "Report impersonation, harassment or a mistake you made to the {team} at once."),
    ("confidentiality", "prohibition", "Never disclose {secret} about {o} or its {partners} on any {platform}."),
    ("confidentiality", "prohibition", "You must not share confidential {secret}, even in private groups or messages."),
    ("privacy", "prohibition", "Do not post photos or personal details of {partners} or colleagues without consent."),
    ("respect", "prohibition", "{bad} towards colleagues or {partners} is not tolerated on any {platform}."),
    ("legal_compliance", "obligation", "Respect copyright, trademarks and securities rules in every post about {o}."),
    ("accuracy", "recommendation", "Check facts before posting, correct mistakes openly and remember posts are permanent."),
    ("political", "prohibition", "Keep political campaigning out of official {o} channels during elections."),
    ("security", "obligation", "Protect every account with {secmeasure} and never share your password with anyone."),
    ("consequences", "information", "Breaking these rules may lead to {penalty}."),
    ("training", "information", "The {team} offers training and a toolkit on {topic} for everyone who posts."),
    ("policy_framework", "information", "The {team} reviews this policy every year; it takes effect on publication."),
    ("employee_rights", "permission", "Nothing here stops you discussing wages or working conditions with colleagues."),
    (None, None, "Questions about {topic}? Visit the intranet page of the {team}."),
    (None, None, "Last updated by the {team}; see also the code of conduct."),
]
WORDS = {
    "people": ["employees", "contractors", "volunteers", "interns", "staff", "agency workers", "managers"],
    "platform": ["social media", "social networks", "LinkedIn", "forums", "video sites", "messaging apps", "blogs"],
    "team": ["communications team", "press office", "digital team", "social media team", "HR team", "legal team"],
    "topic": ["company news", "product launches", "community work", "careers", "events", "sustainability"],
    "press": ["journalist", "analyst", "blogger", "media", "investor"],
    "partners": ["customers", "clients", "patients", "students", "suppliers", "members"],
    "secret": ["financial results", "customer data", "unreleased products", "pricing plans", "internal discussions"],
    "bad": ["Harassment", "Discrimination", "Bullying", "Hate speech", "Threatening language"],
    "secmeasure": ["two-factor authentication", "strong passwords", "a password manager", "login alerts"],
    "penalty": ["disciplinary action up to dismissal", "removal of the post", "loss of account access", "a formal warning"],
}
INDUSTRIES = ["banking", "retail", "health", "software", "energy", "education", "logistics", "government", "media", "food"]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "CA", "AU", "IE", "SE", "ES"]
SEARCHES = ["confidential", "journalist", "password", "harassment", "copyright", "political", "photos consent",
            "disciplinary dismissal", "two-factor authentication", "working hours", "brand guide", "complaints",
            "impersonation", "wages", "training toolkit", "customer data", "views are your own", "elections",
            "intranet", "trademarks"]
FILLER = [f"{a}{b}{c}" for a in "bcdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "ai", "ou") for c in
          ("n", "r", "st", "l", "m", "sk", "nd", "x", "th", "v")]  # 1,050 rarer words, Zipf-drawn


def sentence(rng: random.Random, org: str, filler_weights) -> tuple[str | None, str | None, str]:
    category, modality, pattern = rng.choice(PATTERNS)
    text = re.sub(r"\{(\w+)\}", lambda m: org if m.group(1) == "o" else rng.choice(WORDS[m.group(1)]), pattern)
    extra = " ".join(rng.choices(FILLER, weights=filler_weights, k=rng.randint(2, 8)))
    return category, modality, f"{text} ({extra})"


def generate(db_path: Path, n_clauses: int, n_companies: int, seed: int = 7) -> None:
    from policycorpus.db import open_db, utcnow
    from taxonomy.pipeline import sync_categories

    rng = random.Random(seed)
    db = open_db(db_path)
    sync_categories(db)
    conn = db.conn
    conn.execute("PRAGMA synchronous=OFF")
    filler_weights = [1 / (i + 1) for i in range(len(FILLER))]
    per_company = n_clauses // n_companies
    now = utcnow()
    clause_id = 0
    with conn:
        for c in range(n_companies):
            name = f"Company {c:05d}"
            conn.execute(
                "insert into companies (id, name, slug, homepage, industry, country, added_at) values (?,?,?,?,?,?,?)",
                [c + 1, name, f"company-{c:05d}", f"https://c{c}.example/", INDUSTRIES[c % len(INDUSTRIES)],
                 COUNTRIES[(c // 3) % len(COUNTRIES)], now],
            )
            items = [sentence(rng, name, filler_weights) for _ in range(per_company)]
            text = "\n\n".join(t for _, _, t in items)
            url = f"https://c{c}.example/social-media-policy"
            conn.execute(
                "insert into documents (id, company_id, url, source, title, policy_score, first_seen, last_seen, "
                "latest_snapshot_id, snapshot_count) values (?,?,?,?,?,?,?,?,?,1)",
                [c + 1, c + 1, url, "crawl", f"{name} social media policy", 0.9, now, now, c + 1],
            )
            conn.execute(
                "insert into snapshots (id, document_id, fetched_at, year, http_status, content_type, text_hash, "
                "title, text, structure, extractor) values (?,?,?,?,?,?,?,?,?,?,?)",
                [c + 1, c + 1, now, int(now[:4]), 200, "text/html", f"h{c}", f"{name} social media policy", text,
                 "[]", "bench"],
            )
            clause_rows, tag_rows, offset = [], [], 0
            for position, (category, modality, t) in enumerate(items):
                clause_id += 1
                clause_rows.append((clause_id, c + 1, c + 1, c + 1, position, "clause", "", t, offset, offset + len(t),
                                    "bench-seg", modality or "information", 0.9, "bench-model"))
                offset += len(t) + 2
                if category:
                    tag_rows.append((clause_id, category, 0.8, "bench-model"))
            conn.executemany(
                "insert into clauses (id, snapshot_id, document_id, company_id, position, kind, heading_path, text, "
                "span_start, span_end, segmenter_version, modality, modality_score, model_version) "
                "values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", clause_rows)
            conn.executemany("insert into tags (clause_id, category, score, model_version) values (?,?,?,?)", tag_rows)
            if (c + 1) % 200 == 0:
                print(f"  generated {clause_id:,} clauses", file=sys.stderr, flush=True)
    conn.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure(client, urls: list[str], check) -> list[float]:
    timings = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        check(response)
    return timings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clauses", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=100, help="timed requests per measurement")
    parser.add_argument("--keep", type=Path, help="keep the generated database at this path")
    args = parser.parse_args(argv)
    import httpx

    tmp = tempfile.TemporaryDirectory()
    db_path = args.keep or Path(tmp.name) / "corpus.db"
    if not db_path.exists():
        started = time.perf_counter()
        generate(db_path, args.clauses, args.companies)
        print(f"generated {args.clauses:,} clauses of {args.companies:,} companies in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
    from publish.server import prepare_database

    started = time.perf_counter()
    prepare_database(db_path)
    print(f"full-text indexes and views ready in {time.perf_counter() - started:.1f} s "
          f"(database {db_path.stat().st_size / 1e6:.0f} MB)", flush=True)

    server = subprocess.Popen([sys.executable, "-m", "policycorpus", "serve", "--db", str(db_path), "--port", "0"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = server.stdout.readline()
        base = re.search(r"http://[\d.]+:\d+/", line).group(0)
        rng = random.Random(11)
        db_name = db_path.stem
        with httpx.Client(base_url=base, timeout=60) as client:
            searches = [f"/{db_name}/search_clauses.json?" + urlencode({"q": rng.choice(SEARCHES), "_shape": "objects"})
                        for _ in range(args.requests)]
            compares = ["/-/compare?" + urlencode({"companies": ",".join(
                f"Company {rng.randrange(args.companies):05d}" for _ in range(4))}) for _ in range(args.requests)]
            for url in searches[:5] + compares[:3]:  # warm up caches and the thread pool
                client.get(url)

            def search_ok(r):
                assert r.json()["rows"], r.url

            def grid_ok(r):
                assert 'id="pc-grid"' in r.text and "pc-cell pc-covered" in r.text

            results = {
                "full-text search (search_clauses)": (measure(client, searches, search_ok), 200),
                "comparison page (/-/compare, 4 companies)": (measure(client, compares, grid_ok), 500),
            }
    finally:
        server.terminate()
        server.wait(timeout=10)
    failed = False
    print(f"\n{args.clauses:,} clauses, {args.requests} requests each, over HTTP on loopback")
    for name, (timings, target) in results.items():
        p50, p95 = statistics.median(timings), percentile(timings, 0.95)
        ok = p95 < target
        failed |= not ok
        print(f"  {name:44} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   (target p95 < {target} ms: {'ok' if ok else 'MISSED'})")
    print(json.dumps({name: {"p50_ms": round(statistics.median(t), 1), "p95_ms": round(percentile(t, 0.95), 1)}
                      for name, (t, _) in results.items()}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
