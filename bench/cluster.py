"""Benchmark: clustering and the template pass over a generated corpus of 200,000 clauses.

Generates companies with one policy each, whose clauses are drawn from a
few dozen clause types with varied wording (plus clause types that carry no
taxonomy tag), and boilerplate templates shared by several companies with
the company name substituted. Each step runs in its own process; the bench
prints its wall time and peak memory (max RSS).

    python bench/cluster.py                 # 200,000 clauses
    python bench/cluster.py --clauses 20000 --keep out/bench.db

Target on a 2-core machine: each step under 3 minutes and 4 GB with the default ('function':
the tagger's stored probabilities and modality with TF-IDF/LSA) representation. The generated
clauses carry tagger-like scores (clauses.scores), as a tagged corpus does. The embedding-sample step prints the figures of sentence embeddings on a
sample of 2,000 clauses, with the embedding time extrapolated to the whole corpus; the cluster-static
step clusters the whole corpus with GloVe word vectors (the 'static' extra) in place of TF-IDF/LSA.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Clause types: (category or None, patterns). {o} = organization, {x} = a varying word.
TYPES = [
    ("scope", ["This policy applies to all {o} {people} who use {platform}.",
               "These rules cover {people} of {o}, on or off duty, on every {platform} account."]),
    ("confidentiality", ["Do not share {secret} about {o} or its {partners}.",
                         "Never disclose {secret} on {platform}, even in private groups."]),
    ("spokesperson", ["Only the {team} may speak for {o}; refer {press} to them.",
                      "Send every question from {press} to the {team} before you reply."]),
    ("respect", ["Be courteous to {partners}; {bad} has no place in our {platform} posts.",
                 "We do not tolerate {bad} towards colleagues or {partners}."]),
    ("disclosure", ["When you mention {o}, say that the views are your own.",
                    "Identify yourself as a {o} employee when you discuss our {topic}."]),
    ("security", ["Protect official {platform} accounts with {secmeasure}.",
                  "Report a compromised {platform} account to the {team} at once and enable {secmeasure}."]),
    ("consequences", ["Breaking these rules may lead to {penalty}.",
                      "{o} may respond to violations with {penalty}."]),
    ("political", ["Keep {topic} out of official {o} channels during election periods.",
                   "Do not use {platform} accounts of {o} for campaigning on {topic}."]),
    ("training", ["The {team} offers training and a toolkit on {topic}.",
                  "Complete the {topic} course before you run a {platform} account."]),
    ("privacy", ["Ask before you post photos of {partners} or colleagues.",
                 "Never publish personal details of {partners} on {platform}."]),
    ("engagement", ["Reply to questions on {platform} within one working day and stay calm with {bad}.",
                    "Thank people for feedback about {topic} and move long threads to private messages."]),
    ("work_time_use", ["Personal use of {platform} at work should stay brief and not affect your duties.",
                       "You may check {platform} during breaks on your own device."]),
    (None, ["Parking permits for the {place} are issued by the facilities desk.",
            "The canteen in the {place} serves {food} every Thursday.",
            "Bicycle racks near the {place} are cleared each {season}."]),
]
WORDS = {
    "people": ["employees", "contractors", "volunteers", "interns", "agency staff", "trustees", "members"],
    "platform": ["LinkedIn", "Instagram", "TikTok", "YouTube", "Mastodon", "Facebook", "X", "Reddit", "blog"],
    "secret": ["quarterly results", "customer lists", "unreleased products", "merger plans", "internal figures", "source code"],
    "partners": ["customers", "suppliers", "patients", "students", "clients", "members"],
    "team": ["press office", "communications team", "social media team", "legal department", "brand team"],
    "press": ["journalists", "reporters", "analysts", "bloggers", "podcasters"],
    "bad": ["harassment", "abuse", "discrimination", "hate speech", "bullying", "threats"],
    "topic": ["politics", "products", "elections", "research", "industry news", "our services"],
    "secmeasure": ["two-factor authentication", "a password manager", "strong passwords", "hardware keys"],
    "penalty": ["disciplinary action", "termination of employment", "loss of account access", "a written warning"],
    "place": ["north building", "main campus", "east wing", "head office", "warehouse"],
    "food": ["soup", "curry", "pasta", "salads", "pancakes"],
    "season": ["winter", "spring", "summer", "autumn"],
}
FILLER = "please note that in general where possible as needed at all times for example in particular".split()
BOILERPLATE = [
    "{o} provides social media accounts so that our community can follow news, events and releases from every project we host.",
    "Posts from member company handles and vendor channels cannot be shared by {o}, to keep a neutral space for the whole ecosystem.",
    "Images shared by {o} must carry the credit of their author and meet the brand guidelines published on the {o} website.",
    "Anyone who wants {o} to share content can open a request in the public tracker with the text, links and images they propose.",
    "{o} uses hashtags to organise posts about its events, to measure campaigns and to reach audiences beyond its followers.",
]


def generate(n_clauses: int, per_policy: int = 100, seed: int = 0):
    """Yield (company, [(text, category)]) policies totalling n_clauses clauses."""
    rng = random.Random(seed)
    n_policies = max(1, n_clauses // per_policy)
    for p in range(n_policies):
        org = f"Org{p:05d}"
        clauses = []
        shared = [b for b in BOILERPLATE if rng.random() < 0.03]
        for b in shared:
            clauses.append((b.format(o=org), None))
        while len(clauses) < per_policy:
            category, patterns = rng.choice(TYPES)
            text = rng.choice(patterns).format(o=org, **{k: rng.choice(v) for k, v in WORDS.items()})
            if rng.random() < 0.5:
                text = f"{rng.choice(FILLER).capitalize()} {' '.join(rng.sample(FILLER, 3))}: {text}"
            clauses.append((text, category))
        yield org, clauses


def build(db_path: Path, n_clauses: int) -> None:
    from policycorpus.companies import ensure_company
    from policycorpus.db import open_db
    from policycorpus.store import Fetched, save_document
    from policycorpus.structure import Block

    db = open_db(db_path)
    _fill_categories(db)
    model = "bench-1"
    rng = random.Random(1)
    for org, clauses in generate(n_clauses):
        company_id = ensure_company(db, org)
        blocks = [Block("paragraph", t) for t, _ in clauses]
        res = save_document(db, company_id, Fetched(f"https://{org.lower()}.example/policy", b"", "text/html", blocks,
                                                    title=f"{org} policy", extractor="bench"))
        spans = json.loads(db["snapshots"].get(res.snapshot_id)["structure"])
        with db.conn:
            cur = db.conn.cursor()
            for position, ((text, category), span) in enumerate(zip(clauses, spans)):
                cur.execute(
                    "insert into clauses (snapshot_id, document_id, company_id, position, kind, text, span_start, span_end,"
                    " segmenter_version, modality, model_version, scores) values (?, ?, ?, ?, 'clause', ?, ?, ?, 'seg-bench', ?, ?, ?)",
                    (res.snapshot_id, res.document_id, company_id, position, span["text"], span["start"], span["end"],
                     "obligation" if "must" in text or "Do not" in text else "information", model,
                     json.dumps(scores_of(category, rng))),
                )
                if category:
                    cur.execute("insert into tags (clause_id, category, score, model_version) values (?, ?, 0.9, ?)",
                                (cur.lastrowid, category, model))


CATEGORIES = sorted({c for c, _ in TYPES if c} | {"brand_voice", "official_accounts", "participation", "monitoring"})


def scores_of(category: str | None, rng: random.Random) -> dict[str, float]:
    """Every category's probability as a tagger stores it (clauses.scores): high for the clause's type, a little
    for two others, so the function representation clusters what a tagged corpus would give it."""
    scores = {c: round(rng.uniform(0.0005, 0.05), 4) for c in rng.sample(CATEGORIES, 2)}
    if category:
        scores[category] = round(rng.uniform(0.6, 0.98), 4)
    return scores


def _fill_categories(db) -> None:
    try:
        from taxonomy.pipeline import sync_categories

        sync_categories(db)
        return
    except ImportError:
        pass
    import yaml

    data = yaml.safe_load((ROOT / "taxonomy" / "taxonomy.yaml").read_text(encoding="utf-8"))
    db["categories"].insert_all(
        ({"id": c["id"], "name": c.get("name"), "group_name": c["group"], "group_order": data["groups"].index(c["group"]),
          "position": i} for i, c in enumerate(data["categories"])), pk="id", replace=True)


def step(name: str, db_path: str) -> dict:
    """Run one step in this process and report its time and peak memory."""
    from policycorpus.db import open_db

    db = open_db(db_path)
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    started = time.monotonic()
    if name in ("cluster", "cluster-hdbscan"):
        from analysis.cluster import run_clustering

        method = "hdbscan" if name == "cluster-hdbscan" else "kmeans"
        run_id, model, summaries = run_clustering(db, method=method, random_state=0, verbose=True)
        outcome = {"clusters": model.n_clusters_, "silhouette": model.quality_,
                   "untagged_clusters": sum(1 for s in summaries if s.category_overlap < 0.5)}
    elif name == "embedding-sample":
        outcome = embedding_sample(db)
    elif name == "cluster-static":
        outcome = static_clustering(db)
    else:
        from analysis.template_families import run_templates

        run = run_templates(db, verbose=True)
        outcome = {"families": len(run.families), "largest_family_companies": max((len(f["companies"]) for f in run.families), default=0),
                   "documents": len(run.documents)}
    seconds = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = usage.ru_maxrss / 1024
    # CPU time of the process, for machines shared with other work (wall time then says little)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    return {"step": name, "seconds": round(seconds, 1), "peak_mb": round(peak_mb), "cpu_s": round(cpu, 1), **outcome}


EMBED_SAMPLE = 2000


def embedding_sample(db) -> dict:
    """Sentence embeddings are too slow for 200,000 clauses on 2 cores: embed a sample of the clauses,
    cluster those, and extrapolate the embedding time linearly to the whole corpus (printed as such)."""
    import numpy as np

    from analysis.cluster import clause_frame_of
    from analysis.corpus import current_clauses
    from analysis.estimators import ClauseClusterer, SentenceEmbedder

    clauses = current_clauses(db, with_tags=False)
    rng = np.random.default_rng(0)
    chosen = [clauses[i] for i in sorted(rng.choice(len(clauses), size=min(EMBED_SAMPLE, len(clauses)), replace=False))]
    sample = [c.text for c in chosen]
    try:
        embedder = SentenceEmbedder().fit(sample[:2])
    except Exception as exc:  # the 'embeddings' extra is optional
        return {"skipped": f"embeddings unavailable: {exc}"}
    started = time.monotonic()
    vectors = embedder.transform(sample)
    embed_seconds = time.monotonic() - started
    started = time.monotonic()
    model = ClauseClusterer(representation="function-embedding", random_state=0).fit(
        clause_frame_of(chosen, sample), embeddings=vectors)
    cluster_seconds = time.monotonic() - started
    per_clause = embed_seconds / len(sample)
    return {"sample": len(sample), "embed_s": round(embed_seconds, 1), "cluster_s": round(cluster_seconds, 1),
            "clusters": model.n_clusters_,
            "extrapolated_embed_s_all": round(per_clause * len(clauses)), "clauses": len(clauses),
            "note": "embedding time extrapolated linearly from the sample; cached in clause_embeddings after the first run"}


def static_clustering(db) -> dict:
    """The whole corpus with the function representation on GloVe word vectors (the 'static' extra)."""
    from analysis.cluster import run_clustering
    from policycorpus.errors import DependencyError

    try:
        run_id, model, summaries = run_clustering(db, backend="function-static", random_state=0, verbose=True)
    except DependencyError as exc:
        return {"skipped": str(exc)}
    return {"clusters": model.n_clusters_, "silhouette": model.quality_}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clauses", type=int, default=200_000)
    parser.add_argument("--keep", help="Keep the generated corpus at this path.")
    parser.add_argument("--step", choices=["cluster", "cluster-hdbscan", "templates", "embedding-sample", "cluster-static"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(step(args.step, args.db)), flush=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(args.keep) if args.keep else Path(tmp) / "bench.db"
        if db_path.exists():
            db_path.unlink()
        started = time.monotonic()
        build(db_path, args.clauses)
        print(f"generated {args.clauses} clauses in {time.monotonic() - started:.0f} s", flush=True)
        failed = False
        for name in ("cluster", "cluster-hdbscan", "templates", "embedding-sample", "cluster-static"):
            out = subprocess.run([sys.executable, __file__, "--step", name, "--db", str(db_path)],
                                 capture_output=True, text=True, cwd=ROOT)
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                return out.returncode
            result = json.loads(out.stdout.strip().splitlines()[-1])
            ok = result["seconds"] < 180 and result["peak_mb"] < 4096
            if name not in ("embedding-sample", "cluster-static"):  # the target is for the default representation
                failed |= not ok
            print(f"{name:16} {result['seconds']:7.1f} s  cpu {result['cpu_s']:7.1f} s  peak {result['peak_mb']:5d} MB  "
                  f"{'ok' if ok else 'OVER TARGET'}  "
                  + "  ".join(f"{k}={v}" for k, v in result.items() if k not in ("step", "seconds", "peak_mb", "cpu_s")),
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
