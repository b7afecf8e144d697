"""Distributed crawling: N worker processes share one crawl through Redis (scrapy-redis).

Every worker runs the same spider over the same company list. What they share,
all under the key prefix ``policycorpus:<job>:``:

* ``requests`` – the scheduler's priority queue (scrapy-redis), so any worker
  may fetch a request another worker found;
* ``dupefilter`` – the scrapy-redis request fingerprints: the guard that no
  URL is scheduled (so fetched) twice across workers;
* ``claimed:<company>`` / ``budget:<company>`` – which URLs the spiders have
  already admitted for a company and how many pages, so the per-site page
  budget (--max-pages) holds for the whole crawl, not per worker;
* ``robots:<host:port>`` – robots.txt bodies: one worker fetches a site's
  robots.txt, the others read it from Redis;
* ``workers`` / ``busy`` – sorted sets of live and busy workers (score = expiry
  time in ms), so an idle worker keeps waiting while another one may still
  produce requests, and a killed worker stops counting after a few seconds;
* ``inflight:<worker>`` – the requests a worker took from the queue and has not
  answered yet; when a worker dies (its heartbeat expires), another worker puts
  them back in the queue, so a killed worker loses no page.

The first worker of a fresh crawl (no live worker registered) clears what an
earlier crawl of the same job left; `crawl --resume` keeps it, so the queue of
an interrupted distributed crawl is picked up where it stopped. The last
worker to finish removes the job's keys.

If Redis stops answering, a worker keeps crawling what it holds and retries
Redis on every occasion (new links wait in a local backlog) for
POLICYCORPUS_REDIS_RETRY_SECONDS (`crawl --redis-retry`); after that it stops
with the finish reason ``redis_unavailable``, leaving an interrupted crawl to
continue with `crawl --resume` (RedisGuard).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Self

from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from scrapy import signals
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from scrapy_redis.scheduler import Scheduler
from twisted.internet import task

from crawler.corpusdb import corpus_connection
from crawler.crawllog import log_robots_failure
from crawler.settings import REDIS_LOST, REDIS_RETRY_SECONDS
from policycorpus.db import utcnow

if TYPE_CHECKING:
    from redis import Redis
    from scrapy import Spider
    from scrapy.core.engine import _Slot
    from scrapy.core.scheduler import BaseScheduler
    from scrapy.crawler import Crawler
    from scrapy.robotstxt import RobotParser

    from crawler.spider import PolicySpider

logger = logging.getLogger(__name__)

KEY_PREFIX = "policycorpus"
WORKER_TTL_MS = 10_000  # a worker silent this long counts as gone
BUSY_TTL_MS = 5_000  # a busy mark expires unless refreshed
HEARTBEAT_SECONDS = 0.5
IDLE_GRACE_SECONDS = 1.5  # idle this long with nobody busy and an empty queue before a worker stops
# Fail fast (one immediate reconnect): RedisGuard does the retrying, without blocking the reactor.
REDIS_PARAMS = {"socket_timeout": 10, "socket_connect_timeout": 5, "retry": Retry(NoBackoff(), 1)}

# Admit a URL for a company: 1 = admitted, 0 = over the page budget, -1 = already admitted elsewhere.
CLAIM_SCRIPT = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return -1 end
if ARGV[3] == '1' then
  if redis.call('INCR', KEYS[2]) > tonumber(ARGV[2]) then return 0 end
end
return 1
"""
# Take the best request from the shared queue and record it as this worker's, in one step: a worker
# killed right after the pop still has it listed, and another worker puts it back in the queue.
POP_SCRIPT = """
local popped = redis.call('ZRANGE', KEYS[1], 0, 0)
if #popped == 0 then return false end
redis.call('ZREM', KEYS[1], popped[1])
redis.call('HSET', KEYS[2], redis.sha1hex(popped[1]), popped[1])
return popped[1]
"""
# Register a worker; the first live one of a fresh crawl clears the job's leftovers.
REGISTER_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if ARGV[4] == '1' and redis.call('ZCARD', KEYS[1]) == 0 then
  local stale = redis.call('KEYS', ARGV[5])
  for _, key in ipairs(stale) do
    if key ~= KEYS[1] then redis.call('DEL', key) end
  end
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return redis.call('ZCARD', KEYS[1])
"""


def job_prefix(job: str) -> str:
    return f"{KEY_PREFIX}:{job}"


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def now_ms() -> int:
    return int(time.time() * 1000)


def worker_names(members: Iterable[Any]) -> list[str]:
    """Worker ids from the members of a Redis set (bytes: the client does not decode its responses)."""
    return [m.decode() for m in members]


def connect(redis_url: str) -> Redis:
    import redis

    client = redis.Redis.from_url(redis_url, **REDIS_PARAMS)
    client.ping()
    return client


def redis_settings(redis_url: str, job: str = "default", worker_id: str | None = None, workers: int = 1,
                   idle_timeout: float = 300.0, retry_seconds: float = REDIS_RETRY_SECONDS) -> dict:
    """Scrapy settings that make the policy spider one worker of a shared crawl."""
    prefix = job_prefix(job)
    return {
        "SCHEDULER": "crawler.distributed.SharedScheduler",
        "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
        "SCHEDULER_QUEUE_KEY": f"{prefix}:requests",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_DUPEFILTER_KEY": f"{prefix}:dupefilter",
        # The queue outlives each worker: others still use it; the last worker cleans up.
        "SCHEDULER_PERSIST": True,
        "REDIS_URL": redis_url,
        "REDIS_PARAMS": dict(REDIS_PARAMS),  # the scrapy-redis queue's and dupefilter's client
        "POLICYCORPUS_REDIS_RETRY_SECONDS": retry_seconds,
        # The shared dupefilter must see every request, so the spider does not set dont_filter.
        "POLICYCORPUS_OWN_DUPEFILTER": False,
        "POLICYCORPUS_REDIS_PREFIX": prefix,
        "POLICYCORPUS_WORKER_ID": worker_id or default_worker_id(),
        "POLICYCORPUS_WORKERS": workers,
        "POLICYCORPUS_REDIS_IDLE_TIMEOUT": idle_timeout,
        "EXTENSIONS": {"crawler.distributed.WorkerCoordinator": 50},
        "DOWNLOADER_MIDDLEWARES": {
            "crawler.crawllog.LoggedRobotsTxtMiddleware": None,
            "crawler.distributed.SharedRobotsTxtMiddleware": 100,
        },
    }


def register_worker(client: Redis, job: str, worker_id: str, *, fresh: bool) -> int:
    """Announce a worker; returns how many live workers the job has now."""
    prefix = job_prefix(job)
    now = now_ms()
    return int(client.eval(REGISTER_SCRIPT, 1, f"{prefix}:workers", worker_id, now - WORKER_TTL_MS,
                           now + WORKER_TTL_MS, "1" if fresh else "0", f"{prefix}:*"))


def wait_for_workers(client: Redis, job: str, worker_id: str, workers: int, timeout: float, fresh: bool) -> int:
    """Register and block until `workers` workers are live (so none finds an empty queue and leaves early)."""
    deadline = time.monotonic() + timeout
    live = register_worker(client, job, worker_id, fresh=fresh)
    while live < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {live} of {workers} workers joined job {job!r} within {timeout:.0f} s")
        time.sleep(0.2)
        live = register_worker(client, job, worker_id, fresh=False)
    return live


class RedisGuard:
    """Bounded patience with Redis.

    Every Redis call of a worker reports here. The first failure starts a clock and logs one
    warning; calls go on being tried at their next occasion (the heartbeat tries twice a second),
    and the first success stops the clock. Once Redis has failed for `retry_seconds`, the worker
    stops its crawl with the finish reason REDIS_LOST, and no further Redis call is made.
    """

    def __init__(self, crawler: Crawler, redis_url: str, retry_seconds: float) -> None:
        self.crawler = crawler
        self.redis_url = redis_url
        self.retry_seconds = retry_seconds
        self.down_since: float | None = None
        self.gave_up = False
        self.last_error = ""

    @property
    def down(self) -> bool:
        return self.gave_up or self.down_since is not None

    def failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self.last_error = " ".join(str(exc).split())[:200] or type(exc).__name__
        if self.down_since is None:
            self.down_since = now
            logger.warning("Redis at %s is not answering (%s); retrying for up to %.0f s",
                           self.redis_url, self.last_error, self.retry_seconds)
        if now - self.down_since >= self.retry_seconds:
            self.give_up()

    def succeeded(self) -> None:
        if self.down_since is not None and not self.gave_up:
            logger.info("Redis at %s answers again after %.1f s", self.redis_url, time.monotonic() - self.down_since)
            self.down_since = None

    def give_up(self) -> None:
        if self.gave_up:
            return
        self.gave_up = True
        waited = time.monotonic() - (self.down_since or time.monotonic())
        self.crawler.stats.set_value("policycorpus/redis_error", f"Redis at {self.redis_url} did not answer for "
                                     f"{waited:.0f} s ({self.last_error})")
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None:
            deferred_from_coro(engine.close_spider_async(reason=REDIS_LOST))

    def attempt(self, call: Callable[..., Any], *args: Any, default: Any = None, **kwargs: Any) -> Any:
        """call(*args, **kwargs), or `default` if Redis fails (or was given up on)."""
        if self.gave_up:
            return default
        try:
            result = call(*args, **kwargs)
        except RedisError as exc:
            self.failed(exc)
            return default
        self.succeeded()
        return result


class SharedClaims:
    """The shared admission set and page budget of each company (see CLAIM_SCRIPT)."""

    def __init__(self, client: Redis, prefix: str, max_pages: int) -> None:
        self.client = client
        self.prefix = prefix
        self.max_pages = max_pages
        self.script = client.register_script(CLAIM_SCRIPT)
        self.guard: RedisGuard | None = None  # set by WorkerCoordinator when the spider opens

    def admit(self, company_key: str, urls: list[tuple[str, bool]]) -> list[int]:
        """For each (url, counts against the page budget), 1 admitted, 0 over budget, -1 taken.

        While Redis does not answer every URL is admitted: the shared dupefilter still keeps a
        URL from being fetched twice once the request reaches Redis; only the page budget may be
        overrun by the links found during the outage.
        """
        if not urls:
            return []
        if self.guard is None:
            return self._admit(company_key, urls)
        return self.guard.attempt(self._admit, company_key, urls, default=[1] * len(urls))

    def _admit(self, company_key: str, urls: list[tuple[str, bool]]) -> list[int]:
        keys = [f"{self.prefix}:claimed:{company_key}", f"{self.prefix}:budget:{company_key}"]
        pipe = self.client.pipeline(transaction=False)
        for url, count_page in urls:
            self.script(keys=keys, args=[url, self.max_pages, "1" if count_page else "0"], client=pipe)
        return [int(r) for r in pipe.execute()]


class SharedScheduler(Scheduler):
    """scrapy-redis scheduler that takes a request only when this worker can start it soon, and marks the
    worker busy the moment it does.

    Scrapy pulls requests until CONCURRENT_REQUESTS are in its downloader, most of them waiting for
    a site's download delay; a worker doing that would hoard the shared queue while the others idle.
    """

    coordinator: "WorkerCoordinator | None" = None
    max_waiting = 2  # requests held in the downloader without being transferred

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Requests found while Redis did not answer, with whether the shared dupefilter passed them.
        self.backlog: deque[tuple[Request, bool]] = deque()

    def enqueue_request(self, request: Request) -> bool:
        if self.coordinator is None:
            return self._enqueue(request)
        if self.backlog or self.coordinator.guard.down:  # keep the order; no call to a Redis known down
            self.backlog.append((request, False))
            return True
        checked: list[bool] = []
        try:
            return self._enqueue(request, checked)
        except RedisError as exc:
            self.coordinator.guard.failed(exc)
            self.backlog.append((request, bool(checked)))
            return True

    def _enqueue(self, request, checked: list | None = None) -> bool:
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        if checked is not None:
            checked.append(True)
        self.queue.push(request)
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def push_backlog(self) -> None:
        """Send the requests kept while Redis was down (raises RedisError if it still is)."""
        while self.backlog:
            request, checked = self.backlog[0]
            if checked or request.dont_filter or not self.df.request_seen(request):
                self.backlog[0] = (request, True)
                self.queue.push(request)
            self.backlog.popleft()

    def has_pending_requests(self) -> bool:
        if self.coordinator is None:
            return super().has_pending_requests()
        if self.backlog:
            return True
        return self.coordinator.guard.attempt(lambda: len(self) > 0, default=not self.coordinator.guard.gave_up)

    def next_request(self) -> Request | None:
        downloader = getattr(getattr(self.spider, "crawler", None), "engine", None)
        downloader = getattr(downloader, "downloader", None)
        if downloader is not None:
            transferring = sum(len(slot.transferring) for slot in downloader.slots.values())
            if len(downloader.active) - transferring >= self.max_waiting:
                return None
        if self.coordinator is None:
            return super().next_request()
        return self.coordinator.guard.attempt(self._pop, self.coordinator)

    def _pop(self, coordinator: WorkerCoordinator) -> Request | None:
        self.push_backlog()
        data = coordinator.pop_script(keys=[self.queue.key, coordinator.inflight_key])
        if not data:
            return None
        if self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        request = self.queue._decode_request(data)
        request.meta["inflight_key"] = hashlib.sha1(data).hexdigest()
        coordinator.mark_busy()
        return request

    def requeue(self, encoded: list[bytes]) -> int:
        """Put serialized requests back in the queue (they passed the dupefilter once already)."""
        for data in encoded:
            self.queue.push(self.queue._decode_request(data))
        return len(encoded)


class WorkerCoordinator:
    """Heartbeat, busy marks and the decision when this worker may stop."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.prefix = settings.get("POLICYCORPUS_REDIS_PREFIX")
        self.worker_id = settings.get("POLICYCORPUS_WORKER_ID")
        self.idle_timeout = settings.getfloat("POLICYCORPUS_REDIS_IDLE_TIMEOUT", 300.0)
        self.guard = RedisGuard(crawler, settings.get("REDIS_URL"),
                                settings.getfloat("POLICYCORPUS_REDIS_RETRY_SECONDS", REDIS_RETRY_SECONDS))
        self.client = connect(settings.get("REDIS_URL"))
        self.idle_since: float | None = None
        self.last_busy_mark = 0.0
        self.inflight_key = self.key(f"inflight:{self.worker_id}")
        self.pop_script = self.client.register_script(POP_SCRIPT)
        self.released: list[str] = []
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        coordinator = cls(crawler)
        crawler.signals.connect(coordinator.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(coordinator.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(coordinator.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(coordinator.request_scheduled, signal=signals.request_scheduled)
        return coordinator

    # -- keys ------------------------------------------------------------------------------

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def mark_busy(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_busy_mark > 0.5:
            self.client.zadd(self.key("busy"), {self.worker_id: now_ms() + BUSY_TTL_MS})
            self.last_busy_mark = now
        self.idle_since = None

    def release(self, inflight_key: str | None) -> None:
        """A request taken from the queue was answered (or went back to it as a retry or redirect).

        Releases are sent in batches (heartbeat, idle): a worker killed before sending one gets that
        request fetched again by another worker, which the store absorbs (same text, no new snapshot).
        """
        if inflight_key:
            self.released.append(inflight_key)
            if len(self.released) >= 200:
                self.guard.attempt(self.flush_released)

    def flush_released(self) -> None:
        """Tell Redis which requests are answered, once what they produced is kept.

        The spider says a request is answered at the end of its callback, but Scrapy hands the
        callback's items and requests to the pipelines and the scheduler concurrently, after the
        callback ran: a request still being scraped stays listed as this worker's until all of its
        output is through, and buffered rows are committed first, so a worker killed at any moment
        has either kept a page's policy and links or left the page to the other workers.
        """
        if not self.released or self.guard.down:
            return
        scraping = self._keys_being_scraped()
        ready = [key for key in self.released if key not in scraping]
        if not ready:
            return
        conn = corpus_connection(self.crawler)
        if not conn.closed:
            conn.flush()
        self.released = [key for key in self.released if key in scraping]
        try:
            self.client.hdel(self.inflight_key, *ready)
        except RedisError:
            self.released.extend(ready)  # sent with the next batch
            raise

    def _keys_being_scraped(self) -> set[str]:
        """In-flight keys of the responses the scraper has not finished (callback output still in work)."""
        engine = self.crawler.engine
        slot = getattr(getattr(engine, "scraper", None), "slot", None)
        if slot is None:
            return set()
        requests = [*slot.active, *(request for _, request, _ in slot.queue)]
        return {key for request in requests if (key := request.meta.get("inflight_key"))}

    def request_scheduled(self, request: Request, spider: Spider | None = None) -> None:
        # a retry or redirect of a request this worker holds goes back through the shared queue
        self.release(request.meta.pop("inflight_key", None))

    def others_inflight(self) -> bool:
        """Whether another worker holds unanswered requests; those of dead workers are requeued first."""
        live = set(worker_names(self.client.zrangebyscore(self.key("workers"), now_ms(), "+inf")))
        pending = False
        prefix = self.key("inflight:")
        for key in self.client.scan_iter(match=f"{prefix}*", count=1000):
            owner = key.decode()[len(prefix):]
            if owner == self.worker_id:
                continue
            if owner in live:
                pending = pending or bool(self.client.hlen(key))
                continue
            pipe = self.client.pipeline(transaction=True)  # only one worker gets a dead worker's requests
            pipe.hvals(key)
            pipe.delete(key)
            encoded, _ = pipe.execute()
            if encoded:
                self.requeue_from(owner, encoded)
                pending = True
        return pending

    def requeue_from(self, owner: str, encoded: list[bytes]) -> None:
        scheduler = self._shared_scheduler()
        count = scheduler.requeue(encoded)
        logger.warning("worker %s stopped answering: %d of its requests are back in the queue", owner, count)
        conn = corpus_connection(self.crawler)
        spider = self.crawler.spider
        for data in encoded:
            request = scheduler.queue._decode_request(data)
            state_for = getattr(spider, "state_for", None)
            state = state_for(request.meta) if state_for else None
            conn.buffer("crawl_log", {
                "crawl_id": conn.crawl_id, "company_id": state.company_id if state else None, "url": request.url,
                "status": None, "outcome": "requeued",
                "reason": f"was in flight at worker {owner}, which stopped answering; back in the shared queue",
                "at": utcnow(), "worker": conn.worker,
            })

    def others_busy(self) -> int:
        now = now_ms()
        busy = self.client.zrangebyscore(self.key("busy"), now, "+inf")
        return sum(1 for w in worker_names(busy) if w != self.worker_id)

    def queue_length(self) -> int:
        return int(self.client.zcard(self.key("requests")))

    def _engine_slot(self) -> _Slot:
        """The engine's slot (its scheduler and next-call timer): Scrapy internals, there while the spider is open."""
        slot = self.crawler.engine._slot
        if slot is None:
            raise RuntimeError("the crawl engine has no open spider")
        return slot

    def _shared_scheduler(self) -> SharedScheduler:
        scheduler = self._engine_slot().scheduler
        if not isinstance(scheduler, SharedScheduler):
            raise RuntimeError("a shared crawl needs SCHEDULER = crawler.distributed.SharedScheduler")
        return scheduler

    # -- signals ---------------------------------------------------------------------------

    def spider_opened(self, spider: PolicySpider) -> None:
        scheduler = self._engine_slot().scheduler
        if isinstance(scheduler, SharedScheduler):
            scheduler.coordinator = self
        spider.coordinator = self
        claims = getattr(spider, "claims", None)
        if claims is not None:
            claims.guard = self.guard
        self.guard.attempt(self.requeue_own_leftovers, scheduler)
        self.guard.attempt(self.mark_busy, force=True)
        self.loop = task.LoopingCall(self.heartbeat)
        self.loop.start(HEARTBEAT_SECONDS, now=False)

    def requeue_own_leftovers(self, scheduler: BaseScheduler) -> None:
        """Requests an earlier run of this worker id took and never answered (it stopped, or lost Redis)."""
        if not isinstance(scheduler, SharedScheduler):
            return
        pipe = self.client.pipeline(transaction=True)
        pipe.hvals(self.inflight_key)
        pipe.delete(self.inflight_key)
        encoded, _ = pipe.execute()
        if encoded:
            scheduler.requeue(encoded)

    def heartbeat(self) -> None:
        if self.guard.gave_up:
            if self.loop and self.loop.running:
                self.loop.stop()
            return
        self.guard.attempt(self.beat)

    def beat(self) -> None:
        engine = self.crawler.engine
        self.client.zadd(self.key("workers"), {self.worker_id: now_ms() + WORKER_TTL_MS})
        scheduler = self._engine_slot().scheduler
        if isinstance(scheduler, SharedScheduler) and scheduler.backlog:
            scheduler.push_backlog()
        self.flush_released()
        idle = engine.spider_is_idle()
        if not idle:
            self.mark_busy()
        elif self.queue_length():
            self._engine_slot().nextcall.schedule()  # work appeared in the shared queue: take it now
        elif self.idle_since is not None:
            self._engine_slot().nextcall.schedule()  # re-check whether this worker may stop

    def spider_idle(self, spider: Spider) -> None:
        if self.guard.gave_up:
            return  # the worker is stopping
        if self.guard.attempt(self.may_stop, default=False) is False:
            raise DontCloseSpider

    def may_stop(self) -> bool:
        """Whether this idle worker may stop: the shared crawl is complete."""
        now = time.monotonic()
        if self.idle_since is None:
            self.idle_since = now
            self.client.zrem(self.key("busy"), self.worker_id)
            # idle: nothing of ours is in flight (entries left by a failed callback are stale)
            self.released.clear()
            self.client.delete(self.inflight_key)
        if self.queue_length():
            return False
        if now - self.idle_since < IDLE_GRACE_SECONDS:
            return False
        if (self.others_busy() or self.others_inflight()) and now - self.idle_since < self.idle_timeout:
            self.idle_since = min(self.idle_since, now - IDLE_GRACE_SECONDS)  # keep the timeout running
            return False
        return True  # empty queue, nobody busy for a while: the crawl is complete

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.loop and self.loop.running:
            self.loop.stop()
        if self.guard.gave_up:
            return  # nothing can be handed back: a resumed crawl requeues this worker's requests itself
        self.guard.attempt(self.leave, reason)

    def leave(self, reason: str) -> None:
        """Hand back what this worker held and sign off; the last worker of a finished crawl cleans up."""
        self.flush_released()
        if reason == "finished":
            self.client.delete(self.inflight_key)
        else:  # interrupted: what this worker held goes back to the others now, not after a timeout
            pipe = self.client.pipeline(transaction=True)
            pipe.hvals(self.inflight_key)
            pipe.delete(self.inflight_key)
            encoded, _ = pipe.execute()
            if encoded:
                self._shared_scheduler().requeue(encoded)
        self.client.zrem(self.key("busy"), self.worker_id)
        self.client.zrem(self.key("workers"), self.worker_id)
        if reason == "finished":
            self.client.zremrangebyscore(self.key("workers"), "-inf", now_ms())
            if self.client.zcard(self.key("workers")) == 0 and not self.queue_length():
                keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
                if keys:
                    self.client.delete(*keys)


class SharedRobotsTxtMiddleware(RobotsTxtMiddleware):
    """robots.txt fetched once per site for all workers: the first one stores the body in Redis."""

    WAIT_SECONDS = 30.0

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.prefix = crawler.settings.get("POLICYCORPUS_REDIS_PREFIX")
        self.client = connect(crawler.settings.get("REDIS_URL"))
        coordinator = crawler.get_extension(WorkerCoordinator)
        self.guard = coordinator.guard if coordinator else RedisGuard(crawler, crawler.settings.get("REDIS_URL"), 0)

    async def robot_parser(self, request: Request) -> RobotParser | None:
        url = urlparse_cached(request)
        netloc = url.netloc
        if netloc in self._parsers:
            return await super().robot_parser(request)
        key = f"{self.prefix}:robots:{netloc}"
        deadline = time.monotonic() + self.WAIT_SECONDS
        while True:
            # while Redis does not answer, every worker fetches robots.txt for itself
            body = self.guard.attempt(self.client.get, key)
            if body is not None:
                parser = build_from_crawler(self._parserimpl, self.crawler, body)
                self._parsers[netloc] = parser
                return parser
            if self.guard.down or self.guard.attempt(self.client.set, f"{key}:lock", self.worker_id(), nx=True,
                                                     px=int(self.WAIT_SECONDS * 1000)):
                break  # this worker fetches it
            if time.monotonic() > deadline:
                break  # the fetching worker died: fetch it ourselves
            from twisted.internet import reactor  # the one Scrapy installed

            await maybe_deferred_to_future(task.deferLater(reactor, 0.1, lambda: None))
        robots_request = Request(f"{url.scheme}://{netloc}/robots.txt", priority=self.DOWNLOAD_PRIORITY,
                                 meta={"dont_obey_robotstxt": True}, callback=NO_CALLBACK)
        body = b""  # a failed fetch means "everything allowed", as in Scrapy's own middleware
        try:
            response = await self.crawler.engine.download_async(robots_request)
            if response.status < 400:
                body = response.body
        except Exception as exc:
            log_robots_failure(self.crawler, robots_request.url, exc)
        self.guard.attempt(self.client.set, key, body)
        parser = build_from_crawler(self._parserimpl, self.crawler, body)
        self._parsers[netloc] = parser
        return parser

    def worker_id(self) -> str:
        return self.crawler.settings.get("POLICYCORPUS_WORKER_ID") or "worker"
