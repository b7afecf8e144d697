"""`policycorpus crawl`: run the policy spider over the company list."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click
import sqlite_utils

from crawler.settings import (
    ARCHIVE_MAX_CAPTURE_MB,
    DEFAULT_ARCHIVE,
    DEFAULT_CONTACT_URL,
    REDIS_LOST,
    REDIS_RETRY_SECONDS,
    RENDER_MODES,
    RenderUnavailable,
)
from crawler.tally import CrawlTally, tally_from_db
from policycorpus.companies import find_companies
from policycorpus.db import inserted_id, open_db, transaction, utcnow
from policycorpus.options import UserError, db_option, quiet_option

if TYPE_CHECKING:
    from redis import Redis
    from scrapy.crawler import Crawler

    from crawler.archive import HistoryStats

# loggers of the libraries a crawl runs on, quiet without --verbose
LIBRARY_LOGGERS = ("scrapy", "scrapy_redis", "scrapy_playwright", "playwright", "twisted", "py.warnings", "asyncio",
                   "filelock", "urllib3", "trafilatura", "htmldate", "courlan", "charset_normalizer")



def start_crawl(db: sqlite_utils.Database, settings: dict, resume: bool, job: str | None = None, worker: str | None = None) -> tuple[int, set[int]]:
    """Create (or reopen with resume) the crawls row; return its id and the companies already done.

    A worker of a distributed crawl resumes its own last unfinished row (same --worker-id).
    """
    if resume:
        where, params = "status != 'finished' and coalesce(kind, 'crawl') = 'crawl'", []
        if worker:
            where, params = where + " and worker = ?", [worker]
        row = next(db["crawls"].rows_where(where, params, order_by="id desc", limit=1), None)
        if row is None:
            raise UserError("nothing to resume: every crawl in this corpus finished")
        done = {r["company_id"] for r in db["crawl_companies"].rows_where("crawl_id = ? and status = 'done'", [row["id"]])}
        db.table("crawls").update(row["id"], {"status": "running"})
        return row["id"], done
    crawl_id = inserted_id(db.table("crawls").insert({"started_at": utcnow(), "status": "running",
                                                      "settings": json.dumps(settings), "job": job, "worker": worker,
                                                      "kind": "crawl"}))
    return crawl_id, set()


def crawl_summary(db: sqlite_utils.Database, crawl_id: int) -> CrawlTally:
    """The crawl's totals, counted from its stored rows by the rules of its progress line."""
    tally = tally_from_db(db, crawl_id)
    tally.companies = db.execute("select count(*) from crawl_companies where crawl_id = ?", [crawl_id]).fetchone()[0]
    return tally


def summary_line(crawl_id: int, status: str, tally: CrawlTally) -> str:
    line = (f"Crawl {crawl_id} {status}: {tally.companies} companies, {tally.policies} policies found, "
            f"{tally.pages} pages fetched ({tally.rendered} rendered in a browser), {tally.refused} refused, "
            f"{tally.robots} robots-disallowed, {tally.errors} errors")
    return line + (f" ({tally.failures_text()})." if tally.errors else ".")


def unreachable_companies(db: sqlite_utils.Database, crawl_id: int, company_ids: list[int]) -> list[str]:
    """Companies of this crawl for which not one page was received."""
    rows = db.execute(
        "select c.name from companies c where c.id in (%s) and not exists (select 1 from crawl_log l "
        "where l.crawl_id = ? and l.company_id = c.id and l.outcome = 'ok' and l.url not like '%%/sitemap.xml')"
        % ",".join("?" * len(company_ids)),
        [*company_ids, crawl_id],
    ).fetchall()
    return [r[0] for r in rows]


def run_spider(settings: dict, companies: list[dict], crawl_id: int, verbose: bool = False) -> tuple[str, str]:
    """Run the spider in this process; returns Scrapy's finish reason and, for a worker that lost
    Redis, what happened. Without verbose, no library warning reaches the terminal: every outcome
    is in crawl_log, and the summary counts them."""
    from crawler.spider import PolicySpider

    crawler = run_crawler(PolicySpider, settings, verbose, companies=companies, crawl_id=crawl_id)
    reason = crawler.stats.get_value("finish_reason") or "unknown"
    return reason, crawler.stats.get_value("policycorpus/redis_error") or ""


def run_crawler(spider_class: type, settings: dict, verbose: bool = False, **spider_args: Any) -> Crawler:
    """Run one spider in this process (Twisted's reactor starts once per process: a command runs one crawl);
    returns the finished Crawler, whose stats hold the finish reason and the spider's counts."""
    from scrapy.crawler import CrawlerProcess

    if not verbose:
        warnings.filterwarnings("ignore")  # deprecations and notes of Scrapy, Twisted, playwright ...
    process = CrawlerProcess(settings={**settings, "LOG_LEVEL": "INFO" if verbose else "WARNING"})
    if not verbose:  # the libraries' own log lines; the crawler's (e.g. Redis not answering) still show
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
    crawler = process.create_crawler(spider_class)
    process.crawl(crawler, **spider_args)
    process.start()
    return crawler


def end_crawl(db_path: str, crawl_id: int, status: str, done_companies: Iterable[dict] = ()) -> CrawlTally:
    """Record how the crawl ended (finished or interrupted) with its totals; returns them."""
    db = open_db(db_path)
    try:
        with transaction(db):
            for company in done_companies:  # companies whose last request was deduplicated are complete too
                db.table("crawl_companies").upsert({"crawl_id": crawl_id, "company_id": company["id"], "status": "done",
                                                    "finished_at": utcnow()}, pk=("crawl_id", "company_id"), alter=True)
            summary = crawl_summary(db, crawl_id)
            db.table("crawls").update(crawl_id, {"status": status, "finished_at": utcnow(),
                                                 "companies": summary.companies, **summary.columns()})
    finally:
        db.conn.close()
    return summary


@click.command()
@click.option("--company", "company_names", multiple=True, help="Crawl only this company (repeatable).")
@click.option("--resume", is_flag=True, help="Continue the last unfinished crawl; companies it finished are skipped.")
@click.option("--max-depth", default=3, show_default=True, type=click.IntRange(0, 10), help="Link depth from the homepage.")
@click.option("--max-pages", default=60, show_default=True, type=click.IntRange(1, 100000), help="Pages per site.")
@click.option("--threshold", default=0.5, show_default=True, type=click.FloatRange(0, 1), help="Policy score needed to keep a page.")
@click.option("--contact-url", default=DEFAULT_CONTACT_URL, show_default=True, help="Contact URL in the User-Agent.")
@click.option("--allow-private", is_flag=True, help="Allow every loopback/private address (local test webs only).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="ADDRESS[/BITS]",
              help="Allow this private or loopback address or network only (repeatable), e.g. --allow-host 127.0.0.21 "
                   "--allow-host 127.0.0.100/30; everything else private stays refused.")
@click.option("--timeout", default=20.0, show_default=True, type=click.FloatRange(0.1, 600), help="Seconds per download.")
@click.option("--max-size", default=10.0, show_default=True, type=click.FloatRange(0.01, 1024),
              help="Largest response body in MB (also after decompression); larger ones are logged as too_large.")
@click.option("--extract-timeout", default=10.0, show_default=True, type=click.FloatRange(0.5, 600),
              help="Seconds of extraction per page or PDF; a longer one is logged as extract_timeout.")
@click.option("--no-polite", is_flag=True, help="Turn AutoThrottle and per-domain limits off (benchmarks only).")
@click.option("--redis", "redis_url", default=None,
              help="Be one worker of a distributed crawl: queue, dupefilter, page budgets and robots.txt shared in "
                   "Redis (scrapy-redis), e.g. redis://127.0.0.1:6379/0.")
@click.option("--job", default="default", show_default=True, help="With --redis: name of the shared crawl the workers join.")
@click.option("--worker-id", default=None, help="With --redis: this worker's name in crawl_log (default host-pid).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 1000),
              help="With --redis: wait until this many workers joined before crawling.")
@click.option("--redis-retry", default=REDIS_RETRY_SECONDS, show_default=True, type=click.FloatRange(0, 3600),
              metavar="SECONDS", help="With --redis: how long to keep retrying an unreachable Redis before the "
                                      "worker stops (the crawl is left to continue with --resume).")
@click.option("--warc-all", is_flag=True, help="Write every judged page to the crawl's WARC, not only accepted policies.")
@click.option("--render", type=click.Choice(RENDER_MODES), default="auto", show_default=True,
              help="Fetch pages through headless Chromium: auto = pages whose text scripts build (scripts and next "
                   "to no text); always = every HTML page; never = no browser. The network guard applies to every "
                   "request the browser makes.")
@click.option("--max-renders", default=10, show_default=True, type=click.IntRange(0, 10000),
              help="Pages rendered per site at most (also at most 90 s of browser time per site).")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("-v", "--verbose", is_flag=True, help="Also show the libraries' log and warnings (Scrapy, playwright).")
@db_option
def crawl(company_names, resume, max_depth, max_pages, threshold, contact_url, allow_private, allow_hosts, timeout,
          max_size, extract_timeout, no_polite, redis_url, job, worker_id, workers, redis_retry, warc_all, render,
          max_renders, quiet, verbose, db_path):
    """Discover and collect every company's social media policy.

    Starts at each company's homepage (and known policy_url), obeys
    robots.txt, reads sitemap.xml, follows the most policy-like links within
    --max-depth and --max-pages, judges candidate pages with the policy
    classifier and stores accepted ones as documents and snapshots. Every
    request's outcome lands in crawl_log, every judged page in candidates.

    Network safety: private, loopback, link-local and cloud-metadata
    addresses are refused (also after DNS resolution and redirects), and
    every scheme but http and https; --allow-host opens single addresses
    of a local test web, --allow-private all of them.

    Script-built pages: with --render auto (the default) a page with
    scripts and next to no text is fetched again through headless
    Chromium (bounded per site by --max-renders and browser time); the
    network guard checks every request the browser makes.

    Languages: where a page offers versions in several languages
    (hreflang, language switcher), the company list's language column
    says which is kept: en (default), local (the homepage's) or a code.

    Distributed: start the same command with --redis URL on several
    machines or processes; each worker writes to its --db (one shared file
    on one machine, or one file per worker merged later with
    'policycorpus merge').

    \b
    Example:
        policycorpus companies import companies.csv
        policycorpus crawl --db corpus.db
        policycorpus crawl --resume            # after an interruption
        policycorpus crawl --allow-host 127.0.0.21 --allow-host 127.0.0.22
        policycorpus crawl --render never      # no browser
    \b
    Example, three workers sharing one crawl through Redis:
        policycorpus crawl --redis redis://127.0.0.1:6379/0 --workers 3 --worker-id w1 --db w1.db &
        policycorpus crawl --redis redis://127.0.0.1:6379/0 --workers 3 --worker-id w2 --db w2.db &
        policycorpus crawl --redis redis://127.0.0.1:6379/0 --workers 3 --worker-id w3 --db w3.db
        policycorpus merge w1.db w2.db w3.db --db corpus.db
    """
    from crawler.safety import parse_networks
    from crawler.settings import crawl_settings

    try:
        parse_networks(allow_hosts)
    except ValueError as exc:
        raise UserError(f"--allow-host takes IP addresses or networks: {exc}") from None
    if not redis_url and (worker_id or workers > 1):
        raise UserError("--worker-id and --workers need --redis URL")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", job):
        raise UserError("--job takes a name of letters, digits, '.', '_' or '-' (at most 64)")
    if redis_url:
        from crawler.distributed import default_worker_id

        worker_id = worker_id or default_worker_id()
        redis_client(redis_url)  # an unreachable Redis is an error before any crawl row is made
    db = open_db(db_path)
    companies = find_companies(db, list(company_names)) if company_names else list(db["companies"].rows_where(order_by="id"))
    if not companies:
        raise UserError("no companies in the corpus: run 'policycorpus companies import FILE.csv' first")
    options = {"max_depth": max_depth, "max_pages": max_pages, "threshold": threshold,
               "allow_private": allow_private, "allow_hosts": list(allow_hosts), "polite": not no_polite,
               "contact_url": contact_url, "timeout": timeout, "max_size": int(max_size * 1024 * 1024),
               "extract_timeout": extract_timeout, "render": render, "max_renders": max_renders}
    crawl_id, done = start_crawl(db, options, resume, job=job if redis_url else None, worker=worker_id)
    todo = [c for c in companies if c["id"] not in done and (c.get("homepage") or c.get("policy_url"))]
    if resume:
        click.echo(f"Resuming crawl {crawl_id}: {len(done)} companies already done, {len(todo)} to go.", err=True)
    db.conn.close()
    try:
        extra = {}
        if redis_url:
            extra = join_distributed_crawl(redis_url, job, worker_id, workers, fresh=not resume, quiet=quiet,
                                           retry_seconds=redis_retry)
        if warc_all:
            extra["POLICYCORPUS_WARC_ALL"] = True
        try:
            settings = crawl_settings(db_path=db_path, crawl_id=crawl_id, progress=not quiet, extra=extra, **options)
        except RenderUnavailable as exc:
            raise UserError(str(exc)) from None
        if settings.get("POLICYCORPUS_RENDER_UNAVAILABLE") and not quiet:
            click.echo(f"Note: pages are not rendered ({settings['POLICYCORPUS_RENDER_UNAVAILABLE']}); "
                       "script-built pages are judged as they arrive.", err=True)
        reason, redis_error = run_spider(settings, todo, crawl_id, verbose=verbose) if todo else ("finished", "")
        status = "finished" if reason == "finished" else "interrupted"
        summary = end_crawl(db_path, crawl_id, status, todo if status == "finished" else [])
    except BaseException:
        # whatever ended the crawl (Redis gone before the start, a full disk, Ctrl-C here), its row must
        # not stay 'running': mark it interrupted, so that --resume continues it
        with contextlib.suppress(Exception):
            end_crawl(db_path, crawl_id, "interrupted")
        raise
    click.echo(summary_line(crawl_id, status, summary))
    if reason == REDIS_LOST:
        raise UserError(f"crawl {crawl_id} was interrupted: {redis_error or 'Redis stopped answering'}; continue it "
                        f"with 'policycorpus crawl --resume --redis URL --worker-id {worker_id}' when Redis is back")
    if status != "finished":
        raise UserError(f"crawl {crawl_id} was interrupted ({reason}); continue it with 'policycorpus crawl --resume'")
    # A worker of a shared crawl may never have fetched a given company's pages: another worker did.
    if todo and not redis_url:
        db = open_db(db_path)
        unreachable = unreachable_companies(db, crawl_id, [c["id"] for c in todo])
        db.conn.close()
    else:
        unreachable = []
    if unreachable:
        raise UserError(f"{len(unreachable)} compan{'y' if len(unreachable) == 1 else 'ies'} unreachable: "
                        f"{', '.join(unreachable[:10])} (details in crawl_log)")


def redis_client(redis_url: str) -> Redis:
    from crawler.distributed import connect

    try:
        return connect(redis_url)
    except Exception as exc:
        raise UserError(f"cannot reach Redis at {redis_url}: {exc}") from None


def join_distributed_crawl(redis_url: str, job: str, worker_id: str, workers: int, fresh: bool, quiet: bool,
                           retry_seconds: float = REDIS_RETRY_SECONDS) -> dict:
    """Register this worker in Redis (waiting for --workers of them) and return the Scrapy settings for it."""
    from redis.exceptions import RedisError

    from crawler.distributed import redis_settings, wait_for_workers

    client = redis_client(redis_url)
    if not quiet:
        click.echo(f"Worker {worker_id} joining job {job!r} at {redis_url} ...", err=True)
    try:
        wait_for_workers(client, job, worker_id, workers, timeout=120, fresh=fresh)
    except TimeoutError as exc:
        raise UserError(str(exc)) from None
    except RedisError as exc:
        raise UserError(f"lost Redis at {redis_url} while waiting for the other workers: {exc}") from None
    return redis_settings(redis_url, job=job, worker_id=worker_id, workers=workers, retry_seconds=retry_seconds)


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(dir_okay=False))
@db_option
def merge(sources, db_path):
    """Merge per-worker corpus databases into one corpus.

    \b
    Example:
        policycorpus merge worker1.db worker2.db worker3.db --db corpus.db
    """
    from crawler.merge import merge_databases

    stats = merge_databases(db_path, list(sources))  # policycorpus.errors become one-line errors in the CLI
    click.echo(f"Merged {len(sources)} databases into {db_path}: " + ", ".join(f"{v} {k}" for k, v in stats.items()))

@click.command("import-docs")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--company", help="Company of every file the sidecar does not list (created if new).")
@click.option("--sidecar", type=click.Path(dir_okay=False),
              help="CSV/TSV with columns file, company (or organization) and optionally industry, country, peer_group, url.")
@click.option("--industry", help="Industry for companies created by this import (sidecar values win).")
@click.option("--country", help="Country for companies created by this import (sidecar values win).")
@click.option("--dry-run", is_flag=True, help="Show which company each file goes to, write nothing.")
@click.option("--extract-timeout", default=10.0, show_default=True, type=click.FloatRange(0.5, 600),
              help="Seconds of extraction per file; a longer one is skipped and reported.")
@db_option
@quiet_option
def import_docs(paths, company, sidecar, industry, country, dry_run, extract_timeout, db_path, quiet):
    """Add local policy files (.md .txt .html .htm .pdf .rst .adoc .php) as
    documents, without crawling. PATHS are files or folders (searched
    recursively; hidden files and other types are ignored).

    Each file's company comes from the --sidecar table (its `file` column is
    matched by path suffix, relative to the sidecar's folder), else from
    --company. With neither, an INDEX.tsv, index.tsv or index.csv in a given
    folder or the folder above is used. If any file is left without a company,
    nothing is imported.

    Re-importing an unchanged file adds no new version; a changed file adds one.

    \b
    Example:
        policycorpus import-docs policies/acme/ --company "Acme Ltd" --industry retail
        policycorpus import-docs ../shared/realcorpus/texts/ --sidecar ../shared/realcorpus/INDEX.tsv
        policycorpus import-docs scans/ --sidecar clients.csv --dry-run
    """
    import sys

    from crawler.importer import (
        CONTENT_TYPES,
        assign_companies,
        discover_sidecar,
        find_files,
        import_documents,
        read_sidecar,
    )

    files, ignored = find_files(list(paths))
    if not files:
        raise UserError(f"no supported files in {', '.join(paths)} (supported: {', '.join(sorted(CONTENT_TYPES))})")
    sidecar_path = sidecar
    if not sidecar_path and not company:
        sidecar_path = discover_sidecar(list(paths))
        if sidecar_path and not quiet:
            click.echo(f"Using {sidecar_path} (found next to the files) for company names.", err=True)
    table = read_sidecar(sidecar_path) if sidecar_path else None
    assignments = assign_companies(files, table, company, industry, country)
    if dry_run:
        for a in assignments:
            click.echo(f"{a.path}\t{a.company}\t{a.url}")
        click.echo(f"{len(assignments)} file(s) for {len({a.company for a in assignments})} companies; nothing written (dry run).")
        return
    db = open_db(db_path)
    progress = None if quiet else (lambda line: click.echo(line, err=True))
    summary = import_documents(db, assignments, progress, extract_timeout)
    click.echo(
        f"Imported {summary.files} file(s) for {len(summary.companies)} companies into {db_path}: "
        f"{summary.new_documents} new documents, {summary.new_snapshots} new versions, {summary.unchanged} unchanged"
        + (f", {len(summary.skipped)} skipped (reasons below)" if summary.skipped else "")
        + (f", {len(ignored)} other files ignored" if ignored else "")
        + "."
    )
    if summary.low_score and not quiet:
        click.echo(
            f"Note: {len(summary.low_score)} imported file(s) score below the policy threshold: "
            + ", ".join(summary.low_score[:5]) + (" ..." if len(summary.low_score) > 5 else ""),
            err=True,
        )
    if summary.skipped:
        for line in summary.skipped[:10]:
            click.echo(f"Skipped {line}", err=True)
    for line in summary.bounded[:10]:
        click.echo(f"Cut short {line}", err=True)
    sys.stdout.flush()


def start_history_run(db: sqlite_utils.Database, settings: dict, resume: bool) -> int:
    """The crawls row of a history run (kind 'history'); with resume, the last unfinished one is reopened, so
    the resumed run's crawl_log continues under the same id."""
    if resume:
        row = next(db["crawls"].rows_where("status != 'finished' and kind = 'history'", order_by="id desc", limit=1),
                   None)
        if row is not None:
            db.table("crawls").update(row["id"], {"status": "running"})
            return int(row["id"])
    return inserted_id(db.table("crawls").insert({"started_at": utcnow(), "status": "running", "kind": "history",
                                                  "settings": json.dumps(settings)}, alter=True))


def history_summary(crawl_id: int, status: str, stats: HistoryStats) -> str:
    s = stats.as_dict()
    return (f"History run {crawl_id} {status}: {s['documents']} documents read ({s['skipped_documents']} skipped by "
            f"--resume), {s['captures_kept']} captures kept of {s['captures_listed']} listed, {s['new_versions']} new "
            f"versions, {s['same_text']} with known text, {s['already_read']} already read, {s['empty']} empty, "
            f"{s['failed']} failed, {s['requests']} requests (each in crawl_log, crawl_id {crawl_id}).")


def company_documents(db: sqlite_utils.Database, company_names: tuple[str, ...]) -> list[int] | None:
    """Ids of the named companies' documents (None: every document)."""
    if not company_names:
        return None
    companies = find_companies(db, list(company_names))
    return [r["id"] for r in db["documents"].rows_where(
        "company_id in (%s)" % ",".join("?" * len(companies)), [c["id"] for c in companies])]


@click.command()
@click.option("--since", type=click.IntRange(1991, 2100), help="First year of captures to read.")
@click.option("--until", type=click.IntRange(1991, 2100), help="Last year of captures to read.")
@click.option("--per-year", default=2, show_default=True, type=click.IntRange(1, 366),
              help="Captures with distinct content kept per document and year.")
@click.option("--archive", default=DEFAULT_ARCHIVE, show_default=True,
              help="Web archive: the Internet Archive (no path) or a pywb collection, e.g. http://127.0.0.1:8080/my-coll.")
@click.option("--resume", is_flag=True, help="Continue the last unfinished history run: documents an earlier run "
                                             "finished with the same archive and years are skipped.")
@click.option("--company", "company_names", multiple=True, help="Only this company's documents (repeatable).")
@click.option("--delay", default=1.0, show_default=True, type=click.FloatRange(0, 600),
              help="Seconds between two requests to the archive (one request at a time).")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, 600), help="Seconds per request.")
@click.option("--max-size", default=ARCHIVE_MAX_CAPTURE_MB, show_default=True, type=click.FloatRange(0.01, 1024),
              help="Largest capture in MB (CDX listings: 20 MB); a larger one is logged as too_large.")
@click.option("--contact-url", default=DEFAULT_CONTACT_URL, show_default=True, help="Contact URL in the User-Agent.")
@click.option("--allow-private", is_flag=True, help="Allow an archive on a loopback/private address.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="ADDRESS[/BITS]",
              help="Allow this private or loopback address only (repeatable), e.g. --allow-host 127.0.0.1.")
@click.option("-v", "--verbose", is_flag=True, help="Also show Scrapy's and Twisted's log and warnings.")
@quiet_option
@db_option
def history(since, until, per_year, archive, resume, company_names, delay, timeout, max_size, contact_url,
            allow_private, allow_hosts, verbose, quiet, db_path):
    """Backfill each document's earlier versions from a web archive.

    A Scrapy crawl of the archive: lists every document URL's captures
    through the archive's CDX API, keeps --per-year captures a year with
    distinct content (HTTP 200 only), reads the raw captures (id_ mode, no
    archive banner), extracts them and stores each new text as a snapshot
    dated by its capture time (source 'archive'). The current version of a
    document never moves back to an older capture. A page that moved is
    followed through the company's known policy URL and the redirects its
    captures recorded.

    Politeness as in crawls, and the archive's rate limits: one request at a
    time, at most one per --delay seconds (1 s, the Internet Archive's
    ask), 429 and 5xx answers retried (a 429 or 503 after its Retry-After,
    else a growing back-off, sending nothing else meanwhile), timeouts and
    size limits on every response, every request kept on the archive's host
    and checked by the network guard.
    Every request's outcome is in crawl_log under the run's crawls row
    (kind 'history'); a progress line shows while it runs (-q: none).

    Re-running reads no capture twice; --resume continues a killed or
    interrupted run, skipping the documents it finished.

    \b
    Example:
        policycorpus history --since 2015 --per-year 2          # the Internet Archive, 1 request/s
        policycorpus history --archive http://127.0.0.1:8080/my-coll --allow-host 127.0.0.1   # a local pywb
        policycorpus history --resume                           # after an interruption
    """
    from crawler.archive import HistoryStats, documents_to_read, listing_params, open_archive
    from crawler.settings import history_settings

    if since and until and since > until:
        raise UserError("--since is after --until")
    web_archive = open_archive(archive, allow_private, allow_hosts)  # refused before any run row or request
    db = open_db(db_path)
    params = listing_params(since, until, per_year)
    documents, skipped = documents_to_read(db, web_archive, params, resume=resume,
                                           document_ids=company_documents(db, company_names))
    options = {"archive": web_archive.base, "since": since, "until": until, "per_year": per_year, "delay": delay,
               "timeout": timeout, "max_size": int(max_size * 1024 * 1024), "allow_private": allow_private,
               "allow_hosts": list(allow_hosts), "contact_url": contact_url}
    crawl_id = start_history_run(db, options, resume)
    db.conn.close()
    stats, status = HistoryStats(skipped_documents=skipped), "finished"
    try:
        if documents:
            from crawler.history import HistorySpider

            settings = history_settings(db_path=db_path, crawl_id=crawl_id, progress=not quiet,
                                        **{k: v for k, v in options.items() if k not in ("archive", "since", "until",
                                                                                        "per_year")})
            crawler = run_crawler(HistorySpider, settings, verbose, documents=documents, archive=web_archive,
                                  since=since, until=until, per_year=per_year, params=params)
            stats = HistoryStats.from_crawl(crawler.stats.get_stats(), skipped)
            status = "finished" if crawler.stats.get_value("finish_reason") == "finished" else "interrupted"
        end_crawl(db_path, crawl_id, status)
    except BaseException:
        with contextlib.suppress(Exception):
            end_crawl(db_path, crawl_id, "interrupted")
        raise
    click.echo(history_summary(crawl_id, status, stats))
    if status != "finished":
        raise UserError(f"history run {crawl_id} was interrupted; continue it with 'policycorpus history --resume' "
                        "(with the same --archive and years)")


@click.command()
@click.option("--company", "company_names", multiple=True, help="Only this company's documents (repeatable).")
@quiet_option
@db_option
def reextract(company_names, quiet, db_path):
    """Rebuild snapshot texts from their stored raw bytes with the current extractors.

    After an extractor change: every snapshot's raw body (or the crawl's WARC
    record of it) is extracted again; a text that differs from every stored
    version of the document becomes a new snapshot (the current version's
    new text becomes current). Unchanged texts add nothing.

    \b
    Example:
        policycorpus reextract --db corpus.db
    """
    from crawler.reextract import reextract as run

    db = open_db(db_path)
    stats = run(db, db_path, company_documents(db, company_names))
    click.echo(f"reextract: {stats.snapshots} snapshots read, {stats.new_snapshots} new texts, "
               f"{stats.unchanged} unchanged, {stats.empty} extracted empty, {stats.no_raw} without raw bytes")
