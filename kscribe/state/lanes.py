"""Per-tenant lanes for callback deliveries: one tenant's receivers cannot hold notify.

A delivery to a receiver that accepts the connection and never answers (a "black hole") takes
one of notify's threads for its whole deadline. Sixteen such jobs of one tenant delayed
another tenant's callback by 109 s. Now a tenant has at most ``KSCRIBE_CALLBACK_LANES`` of
its deliveries under way at once, across every notify pod (a Redis sorted set per tenant,
each member held until its delivery ends or its deadline passes); a delivery that finds its
tenant's lanes full does not wait — it is put off to the reconciler's next re-send, and the
thread goes to whoever is next.

Lanes bound how many threads a tenant holds; a receiver that just failed to answer would still
take a lane again and again. So a delivery that fails for want of an answer puts the tenant's
receiver (its URL's scheme, host and port) on hold for ``KSCRIBE_CALLBACK_HOLD_SECONDS``: that
tenant's deliveries to it are put off, without a try, until the hold ends.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from kscribe.state import keys
from kscribe.state.client import KeyValue

# KEYS: the tenant's lanes; ARGV: now, lanes, member, held until, key expiry (s)
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
_GIVE_BACK = "return redis.call('ZREM', KEYS[1], ARGV[1])"


class CallbackLanes:
    def __init__(self, client: KeyValue, lanes: int, hold_s: float, clock: Callable[[], float] = time.time):
        self.client = client
        self.lanes, self.hold_s, self.clock = lanes, hold_s, clock
        self._take = client.register_script(_TAKE)
        self._give_back = client.register_script(_GIVE_BACK)

    def take(self, tenant: str, delivery: str) -> bool:
        """A lane of ``tenant``'s for ``delivery`` (a job id), held at most ``hold_s``; False
        when all its lanes are taken."""
        now = self.clock()
        args = [now, self.lanes, delivery, now + self.hold_s, int(self.hold_s) + 60]
        return bool(self._take(keys=[keys.callback_lanes(tenant)], args=args))

    def give_back(self, tenant: str, delivery: str) -> None:
        self._give_back(keys=[keys.callback_lanes(tenant)], args=[delivery])

    def hold_receiver(self, tenant: str, url: str, seconds: float) -> None:
        """Put the tenant's deliveries to ``url``'s receiver off for ``seconds``."""
        if seconds > 0:
            self.client.set(_receiver_key(tenant, url), "1", px=int(seconds * 1000))

    def receiver_held(self, tenant: str, url: str) -> bool:
        return bool(self.client.get(_receiver_key(tenant, url)))


def _receiver_key(tenant: str, url: str) -> str:
    parts = urlsplit(url)
    receiver = f"{parts.scheme}://{parts.netloc}".lower()
    return keys.callback_lanes(tenant) + ":held:" + hashlib.sha256(receiver.encode()).hexdigest()[:32]
