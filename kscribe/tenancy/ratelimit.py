"""A per-key request limit in Redis: a fixed one-minute window per key (an API key, or a
client address for failed authentications)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from kscribe.state import keys
from kscribe.state.client import KeyValue

# INCR and set the expiry in one step, so a crash between them cannot leave an immortal counter.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
WINDOW_S = 60


class RateLimiter:
    def __init__(
        self,
        client: KeyValue,
        per_minute: int,
        clock: Callable[[], float] = time.time,
        key_for: Callable[[str, int], str] = keys.rate_window,
    ):
        self.per_minute = per_minute
        self.clock = clock
        self.key_for = key_for
        self._hit = client.register_script(_HIT)

    def hit(self, key_id: str) -> tuple[bool, int]:
        """Count one request; return (allowed, seconds until the window resets)."""
        now = self.clock()
        window = int(now // WINDOW_S)
        count = self._hit(keys=[self.key_for(key_id, window)], args=[WINDOW_S * 2])
        return int(count) <= self.per_minute, self._retry_after(now, window)

    @staticmethod
    def _retry_after(now: float, window: int) -> int:
        return max(1, math.ceil((window + 1) * WINDOW_S - now))
