"""Per-tenant lanes for callback deliveries: one tenant's receivers cannot hold notify.

A delivery to a receiver that accepts the connection and never answers (a "black hole") takes
one of notify's threads for its whole deadline. Sixteen such jobs of one tenant delayed
another tenant's callback by 109 s. Now a tenant has at most ``KSCRIBE_CALLBACK_LANES`` of
its deliveries under way at once, across every notify pod (a Redis sorted set per tenant,
each member held until its delivery ends or its deadline passes); a delivery that finds its
tenant's lanes full does not wait — it is put off to the reconciler's next re-send, and the
thread goes to whoever is next.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kscribe import keys
from kscribe.ports import KeyValue

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
