"""A real redis-server on a free loopback port for the distributed-crawl tests and benchmarks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def redis_server():
    """Yield the URL of a fresh redis-server (no persistence); raise FileNotFoundError if it is not installed."""
    with redis_process() as (url, _proc):
        yield url


@contextmanager
def redis_process(port: int | None = None, args: tuple[str, ...] = ("--save", "", "--appendonly", "no")):
    """Like redis_server, yielding (URL, the server's Popen) so that a test can kill it; `args` replace the
    default persistence options (none)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    port = port or free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)
