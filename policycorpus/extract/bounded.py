"""Extraction with a time limit: the work runs in a worker process that is killed when it overruns.

The extractors bound their own work (pages, tokens, attributes, lines, nesting), but a limit
on time is the only bound that holds for inputs nobody foresaw. A small pool of worker
processes serves the calls; a worker that overruns is killed and a fresh one started at once,
and the call returns an empty result whose warning says so. Calls are thread-safe: a caller
waits for an idle worker, so callers bound their own concurrency (the crawler uses a few threads).

A worker is a new interpreter (``python -c ...``), not a fork: the crawler has threads (a forked
child could inherit a held lock), and multiprocessing's spawn and forkserver would run the
caller's ``__main__`` again in the child. Jobs and results travel as pickles over its stdin/stdout.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from policycorpus.extract.base import MAX_BYTES, Extracted, empty

DEFAULT_TIMEOUT = 10.0  # seconds of wall time per document
DEFAULT_WORKERS = 2
# Documents smaller than this (PDFs aside) are extracted in the calling thread: with the work bounds,
# even a pattern that is quadratic in its input costs well under a second on 8 KB, while starting a
# worker costs a few tenths of a second (import-docs runs of a few small files, forked test runs).
# A PDF is never inline: a few KB of compressed content stream can hold millions of operators.
INLINE_BYTES = 8192
STARTUP_TIMEOUT = 120.0  # seconds for a new worker to import the extractors (not counted against a document)
READY = "ready"
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding the policycorpus package
_BOOT = f"import sys; sys.path.insert(0, {_ROOT!r}); from policycorpus.extract.bounded import serve; serve(sys.argv[1:])"

log = logging.getLogger(__name__)


def serve(options: list[str]) -> None:
    """The worker's loop (in its own interpreter): extract each job read from stdin, answer on stdout.

    With "preload" the extractors' lazy imports (trafilatura, pypdf, lxml: about a second) are done
    before the worker reports ready, so no document's time pays for them; without, a worker
    starts in a tenth of a second and the first HTML or PDF job pays for its imports.
    """
    if "preload" in options:
        import lxml.html  # noqa: F401
        import pypdf  # noqa: F401
        import trafilatura  # noqa: F401
        from w3lib.encoding import html_to_unicode  # noqa: F401

    from policycorpus.extract import dispatch as extraction

    # Ctrl-C is for the caller, which stops gracefully and then closes this worker's pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reader = Connection(os.dup(0), writable=False)
    writer = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # anything a library prints goes to stderr, not into the answers
    writer.send(READY)
    while True:
        try:
            body, url, content_type, fmt, max_bytes = reader.recv()
        except (EOFError, OSError):
            return
        try:
            result = extraction.extract(body, url, content_type, fmt=fmt, max_bytes=max_bytes, detect=False)
        except BaseException as exc:  # noqa: BLE001 - extract never raises; MemoryError and the like still may
            result = empty(fmt or "unknown", f"extraction failed: {type(exc).__name__}")
        writer.send(result)


class _Worker:
    def __init__(self, preload: bool = False) -> None:
        self.preload = preload
        self.process: subprocess.Popen | None = None
        self.reader: Connection | None = None
        self.writer: Connection | None = None
        self.ready = False

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, *(["preload"] if self.preload else [])], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
        )
        stdin, stdout = self.process.stdin, self.process.stdout
        if stdin is None or stdout is None:  # never with PIPE; caught as a worker that cannot start
            raise OSError("the extraction worker has no pipes")
        self.writer = Connection(os.dup(stdin.fileno()), readable=False)
        self.reader = Connection(os.dup(stdout.fileno()), writable=False)
        stdin.close()
        stdout.close()
        self.ready = False

    def wait_ready(self) -> bool:
        """Wait for a new worker's imports, so start-up time never counts against a document."""
        if not self.ready and self.reader is not None:
            try:
                self.ready = self.reader.poll(STARTUP_TIMEOUT) and self.reader.recv() == READY
            except (EOFError, OSError):
                self.ready = False
        return self.ready

    def stop(self) -> None:
        for conn in (self.reader, self.writer):
            if conn is not None:
                conn.close()
        self.reader = self.writer = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.process = None

    def call(self, job: tuple, timeout: float) -> Extracted | str:
        """The worker's result, or why there is none ('timeout', 'died', 'unavailable': it cannot start)."""
        try:
            if self.process is None or self.process.poll() is not None:
                self.stop()
                self.start()
        except OSError:
            self.stop()
            return "unavailable"
        if not self.wait_ready() or self.reader is None or self.writer is None:
            self.stop()
            return "unavailable"
        try:
            self.writer.send(job)
            if self.reader.poll(timeout):
                return self.reader.recv()
            outcome = "timeout"
        except (EOFError, OSError):
            outcome = "died"
        self.stop()  # overran or broke: replace it now, so its successor loads while the caller moves on
        try:
            self.start()
        except OSError:
            self.stop()
        return outcome


class WorkerPool:
    """Up to ``size`` worker processes, started when first needed."""

    def __init__(self, size: int = DEFAULT_WORKERS, preload: bool = False) -> None:
        self.preload = preload
        self.pid = os.getpid()
        self.size = max(1, size)
        self.idle: queue.Queue[_Worker] = queue.Queue()
        self.workers: list[_Worker] = []
        self.lock = threading.Lock()

    def prestart(self) -> None:
        """Start every worker now (they load while the caller does other work)."""
        with self.lock:
            while len(self.workers) < self.size:
                worker = _Worker(self.preload)
                worker.start()
                self.workers.append(worker)
                self.idle.put(worker)

    def _acquire(self) -> _Worker:
        with self.lock:
            if self.idle.empty() and len(self.workers) < self.size:
                worker = _Worker(self.preload)
                self.workers.append(worker)
                return worker
        return self.idle.get()

    def run(self, job: tuple, timeout: float) -> Extracted | str:
        worker = self._acquire()
        try:
            return worker.call(job, timeout)
        finally:
            self.idle.put(worker)

    def shutdown(self) -> None:
        with self.lock:
            for worker in self.workers:
                worker.stop()
            self.workers = []
            self.idle = queue.Queue()


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def worker_pool(size: int = DEFAULT_WORKERS, preload: bool = False) -> WorkerPool:
    """The process-wide pool (created on first use; ``preload`` for long runs such as a crawl).

    A forked child gets a pool of its own: the parent's workers and pipes are the parent's.
    """
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = WorkerPool(size, preload)
        return _pool


def shutdown_worker() -> None:
    """Stop the worker processes (they also end with this process)."""
    global _pool
    with _pool_lock:
        if _pool is not None and _pool.pid == os.getpid():  # never a parent's workers from a forked child
            _pool.shutdown()
        _pool = None


atexit.register(shutdown_worker)


def extract_bounded(body: bytes, url: str = "", content_type: str | None = None, *, fmt: str | None = None,
                    timeout: float | None = DEFAULT_TIMEOUT, max_bytes: int = MAX_BYTES,
                    inline_below: int = INLINE_BYTES) -> Extracted:
    """``extract`` with a wall-time limit: over ``timeout`` seconds gives an empty result, bounded='timeout'.

    A ``timeout`` of None or 0, or a document under ``inline_below`` bytes that is not a PDF, is
    extracted in this thread without a time limit (the work bounds still hold).
    """
    from policycorpus.extract.dispatch import extract, file_format, sniff_format, with_language

    kind = file_format(fmt) if fmt else sniff_format(body, url, content_type)
    small = len(body) < inline_below and kind != "pdf" and b"%PDF" not in body[:1024]
    if not timeout or timeout <= 0 or small:
        return extract(body, url, content_type, fmt=fmt, max_bytes=max_bytes)
    started = time.monotonic()
    outcome = worker_pool().run((bytes(body), url, content_type, fmt, max_bytes), timeout)
    if isinstance(outcome, Extracted):
        return with_language(outcome)  # detected here: the worker does not load the language model
    if outcome == "unavailable":  # no worker process can run here: the work bounds still hold
        log.warning("no extraction worker could be started; extracting in this process without a time limit")
        return extract(body, url, content_type, fmt=fmt, max_bytes=max_bytes)
    if outcome == "timeout":
        log.info("extraction of %s timed out after %.1f s", url or kind, time.monotonic() - started)
        return empty(kind, f"extraction timed out after {timeout:g} s", bounded="timeout")
    return empty(kind, "extraction failed: the worker process died")
