"""Benchmark of the clause tagger: tags generated clauses and prints clauses/s and peak memory.

Usage:
    python bench/tag.py                 # 500,000 clauses with the default model
    python bench/tag.py -n 50000 --batch 5000 --model path/to/model.joblib

Runs on one core (BLAS threads are pinned to 1 before numpy loads); the
clauses/s figure divides by the CPU time of tagging, which stays meaningful
when other processes share the machine (wall-clock rate printed too). Clauses
are generated from word lists in this file with a fixed seed: a mix of
lengths, headings and list lead-ins like those of real policies.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUBJECTS = ["You", "Employees", "Staff", "Volunteers", "Team members", "Contractors", "Account owners",
            "The communications team", "Everyone", "Members of the community", "Managers", "We"]
MODALS = ["must", "must not", "should", "should not", "may", "can", "are encouraged to", "are required to",
          "never", "always", "will"]
VERBS = ["post", "share", "publish", "disclose", "discuss", "respond to", "report", "approve", "monitor",
         "create", "delete", "comment on", "tag", "forward", "review", "protect", "use"]
OBJECTS = ["confidential information", "photos of colleagues", "customer data", "official accounts",
           "comments from followers", "press enquiries", "their passwords", "political content",
           "the company logo", "hashtags", "negative feedback", "job openings", "release announcements",
           "personal opinions", "copyrighted images", "two-factor authentication", "harassing messages",
           "content calendars", "product roadmaps", "event photos"]
TAILS = ["", "on social media", "without approval", "during working hours", "on behalf of the organisation",
         "in a personal capacity", "within one working day", "to the press office", "in line with this policy",
         "unless authorised by the marketing team", "as soon as possible", "on any platform"]
EXTRA = ["This applies on and off duty.", "Breaches may lead to disciplinary action.",
         "If in doubt, ask your manager.", "Remember that posts are public and permanent.",
         "See the brand guidelines for details.", ""]
HEADINGS = ["Social media policy > Scope", "Guidelines > Confidentiality", "Official accounts", "Engagement",
            "Security", "Brand and voice > Hashtags", "Conduct", "Consequences", "", "Policy > Purpose"]
LEAD_INS = ["", "", "", "You must not:", "We encourage you to:", "Staff should:"]


def generate(n: int, seed: int = 0):
    """Yield n clause records, deterministic for a seed."""
    rng = random.Random(seed)
    for _ in range(n):
        sentence = f"{rng.choice(SUBJECTS)} {rng.choice(MODALS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        tail = rng.choice(TAILS)
        text = f"{sentence} {tail}".strip() + ". " + rng.choice(EXTRA)
        yield {"text": text.strip(), "heading": rng.choice(HEADINGS), "lead_in": rng.choice(LEAD_INS)}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--clauses", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--model", default=None, help="model file (default: the shipped model)")
    args = parser.parse_args(argv)

    from taxonomy.pipeline import get_model

    model = get_model(args.model)
    records = generate(args.clauses)
    done = tags = 0
    tagging = cpu = 0.0
    start = time.perf_counter()
    while done < args.clauses:
        batch = [next(records) for _ in range(min(args.batch, args.clauses - done))]
        t0, c0 = time.perf_counter(), time.process_time()
        results = model.tag(batch)
        tagging += time.perf_counter() - t0
        cpu += time.process_time() - c0
        tags += sum(len(r.labels) for r in results)
        done += len(batch)
        if done % (args.batch * 10) == 0:
            print(f"  {done:,} clauses, {done / cpu:,.0f} clauses per CPU second", file=sys.stderr)
    total = time.perf_counter() - start
    print(f"model {model.version}")
    print(f"tagged {done:,} clauses ({tags:,} tags): tagging took {tagging:.1f} s wall, {cpu:.1f} s CPU; "
          f"{total:.1f} s in all")
    # CPU time is the honest figure on a shared machine: wall time includes waiting for the core
    print(f"throughput: {done / cpu:,.0f} clauses/s on one core (CPU time); "
          f"{done / tagging:,.0f} clauses/s wall clock")
    print(f"peak RSS: {peak_rss_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
