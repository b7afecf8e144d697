"""Crawl benchmark: our policy spider versus a bare Scrapy spider on the same generated local web.

    python bench/crawl.py [--sites 200] [--pages 50] [--workers 3 --redis]

Starts bench/genweb.py (200 sites x 50 pages on 127.0.x.y) in its own
process, then runs, each in a fresh process, (1) a bare Scrapy spider that
fetches exactly the URL list of the web and does nothing else, (2) our
spider crawling the same sites from their homepages with politeness off.
Prints pages/s of both (responses / time between Scrapy's start and finish
stats) and the ratio. Target: ours >= 70% of bare.

With --workers N --redis it then starts a redis-server on a free port and runs
N worker processes of our spider sharing one crawl of the same web
(crawler/distributed.py), and prints their combined pages/s (all responses /
time from the first worker's start to the last one's finish) next to the
single-process figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from genweb import page_paths, site_address  # noqa: E402

SPEED_SETTINGS = {"CONCURRENT_REQUESTS": 64, "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "DOWNLOAD_DELAY": 0,
                  "AUTOTHROTTLE_ENABLED": False, "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False,
                  "COOKIES_ENABLED": False}


def stats_rate(stats: dict, pages_key: str = "response_received_count") -> dict:
    elapsed = (stats["finish_time"] - stats["start_time"]).total_seconds()
    pages = stats.get(pages_key, 0)
    return {"pages": pages, "seconds": round(elapsed, 2), "pages_per_s": round(pages / elapsed, 1)}


def run_bare(urls: list[str]) -> dict:
    import scrapy
    from scrapy.crawler import CrawlerProcess

    class BareSpider(scrapy.Spider):
        name = "bare"

        async def start(self):
            for url in urls:
                yield scrapy.Request(url, dont_filter=True)

        def parse(self, response):
            return None

    process = CrawlerProcess(settings={**SPEED_SETTINGS, "ROBOTSTXT_OBEY": False})
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler)
    process.start()
    return stats_rate(crawler.stats.get_stats())


def run_ours(db_path: str, companies_csv: str) -> dict:
    from crawler.settings import crawl_settings
    from policycorpus.companies import import_companies, parse_company_csv
    from policycorpus.db import open_db

    db = open_db(db_path)
    import_companies(db, parse_company_csv(companies_csv))
    companies = list(db["companies"].rows)
    crawl_id = db["crawls"].insert({"status": "running"}).last_pk
    db.conn.close()
    settings = crawl_settings(db_path=db_path, crawl_id=crawl_id, polite=False, allow_private=True,
                              max_pages=60, progress=False, extra=SPEED_SETTINGS)
    from scrapy.crawler import CrawlerProcess

    from crawler.spider import PolicySpider

    process = CrawlerProcess(settings=settings)
    crawler = process.create_crawler(PolicySpider)
    process.crawl(crawler, companies=companies, crawl_id=crawl_id)
    process.start()
    result = stats_rate(crawler.stats.get_stats())
    db = open_db(db_path)
    result["policies"] = db.execute("select count(*) from documents").fetchone()[0]
    result["html_pages"] = db.execute("select count(*) from crawl_log where outcome='ok' and url not like '%sitemap.xml'").fetchone()[0]
    return result


def run_worker(db_path: str, companies_csv: str, redis_url: str, worker_id: str, workers: int) -> dict:
    from scrapy.crawler import CrawlerProcess

    from crawler.distributed import connect, redis_settings, wait_for_workers
    from crawler.settings import crawl_settings
    from crawler.spider import PolicySpider
    from policycorpus.companies import import_companies, parse_company_csv
    from policycorpus.db import open_db

    db = open_db(db_path)
    import_companies(db, parse_company_csv(companies_csv))
    companies = list(db["companies"].rows)
    crawl_id = db["crawls"].insert({"status": "running", "job": "bench", "worker": worker_id}).last_pk
    db.conn.close()
    wait_for_workers(connect(redis_url), "bench", worker_id, workers, timeout=120, fresh=True)
    extra = {**SPEED_SETTINGS, **redis_settings(redis_url, job="bench", worker_id=worker_id, workers=workers)}
    settings = crawl_settings(db_path=db_path, crawl_id=crawl_id, polite=False, allow_private=True,
                              max_pages=60, progress=False, extra=extra)
    process = CrawlerProcess(settings=settings)
    crawler = process.create_crawler(PolicySpider)
    process.crawl(crawler, companies=companies, crawl_id=crawl_id)
    process.start()
    stats = crawler.stats.get_stats()
    db = open_db(db_path)
    return {"worker": worker_id, "pages": stats.get("response_received_count", 0),
            "start": stats["start_time"].timestamp(), "finish": stats["finish_time"].timestamp(),
            "policies": db.execute("select count(*) from documents").fetchone()[0]}


def run_distributed(tmp: str, companies_csv: str, workers: int) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from redis_fixture import redis_server

    with redis_server() as redis_url:
        procs = []
        for i in range(workers):
            cmd = [sys.executable, __file__, "--run", "worker", "--arg", str(Path(tmp) / f"worker{i}.db"),
                   "--arg", companies_csv, "--arg", redis_url, "--arg", f"w{i + 1}", "--arg", str(workers)]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                          env={**os.environ, "PYTHONPATH": str(ROOT)}))
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=1800)
            if proc.returncode != 0:
                sys.exit(f"worker failed:\n{err[-3000:]}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    pages = sum(r["pages"] for r in results)
    seconds = max(r["finish"] for r in results) - min(r["start"] for r in results)
    return {"workers": workers, "pages": pages, "seconds": round(seconds, 2),
            "pages_per_s": round(pages / seconds, 1), "per_worker_pages": [r["pages"] for r in results],
            "policies": sum(r["policies"] for r in results)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--workers", type=int, default=0, help="also run this many distributed workers (needs --redis)")
    parser.add_argument("--redis", action="store_true", help="distributed workers share the crawl through a local redis-server")
    parser.add_argument("--run", choices=["bare", "ours", "worker"], help=argparse.SUPPRESS)
    parser.add_argument("--arg", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run == "bare":
        print(json.dumps(run_bare(json.loads(Path(args.arg[0]).read_text()))))
        return
    if args.run == "ours":
        print(json.dumps(run_ours(args.arg[0], args.arg[1])))
        return
    if args.run == "worker":
        print(json.dumps(run_worker(*args.arg[:4], int(args.arg[4]))))
        return
    if args.workers and not args.redis:
        parser.error("--workers needs --redis")

    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "genweb.py"), "--sites", str(args.sites),
                               "--pages", str(args.pages), "--port", str(args.port)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready", "generated web did not start"
        with tempfile.TemporaryDirectory() as tmp:
            urls = [f"http://{site_address(i)}:{args.port}{p}" for i in range(args.sites) for p in page_paths(args.pages)]
            (Path(tmp) / "urls.json").write_text(json.dumps(urls))
            with open(Path(tmp) / "companies.csv", "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["name", "homepage", "industry"])
                for i in range(args.sites):
                    writer.writerow([f"Bench Company {i}", f"http://{site_address(i)}:{args.port}/", "bench"])
            print(f"Generated web: {args.sites} sites x {args.pages} pages = {len(urls)} pages", flush=True)
            results = {}
            for name, extra in (("bare", [str(Path(tmp) / "urls.json")]),
                                ("ours", [str(Path(tmp) / "bench.db"), str(Path(tmp) / "companies.csv")])):
                cmd = [sys.executable, __file__, "--run", name] + sum((["--arg", a] for a in extra), [])
                started = time.monotonic()
                out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
                if out.returncode != 0:
                    sys.exit(f"{name} spider failed:\n{out.stderr[-3000:]}")
                results[name] = json.loads(out.stdout.strip().splitlines()[-1])
                results[name]["wall_s"] = round(time.monotonic() - started, 1)
                print(f"{name:5} spider: {results[name]}", flush=True)
            if args.workers:
                results["distributed"] = run_distributed(tmp, str(Path(tmp) / "companies.csv"), args.workers)
                print(f"distributed: {results['distributed']}", flush=True)
    finally:
        server.terminate()
        server.wait()
    ratio = results["ours"]["pages_per_s"] / results["bare"]["pages_per_s"]
    print(f"bare Scrapy: {results['bare']['pages_per_s']} pages/s")
    print(f"our spider:  {results['ours']['pages_per_s']} pages/s "
          f"({results['ours']['html_pages']} pages, {results['ours']['policies']} policies found of {args.sites} planted)")
    print(f"ratio: {ratio:.0%} of the bare rate (target >= 70%)")
    if "distributed" in results:
        dist = results["distributed"]
        print(f"{dist['workers']} workers via Redis: {dist['pages_per_s']} pages/s combined "
              f"({dist['pages']} pages, per worker {dist['per_worker_pages']}, {dist['policies']} policies) "
              f"vs {results['ours']['pages_per_s']} pages/s single-process "
              f"({dist['pages_per_s'] / results['ours']['pages_per_s']:.0%}; {os.cpu_count()} CPU cores here)")


if __name__ == "__main__":
    main()
