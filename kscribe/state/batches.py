"""Batch records in Redis: one hash per batch, its job ids, and the Lua that seals it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from kscribe.state import keys
from kscribe.state.client import KeyValue

# Every job exists: record them and the total, and finish the batch here if they all ended
# already (a batch of files that all failed at ingest), exactly as jobstore._ADVANCE would.
_SEAL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('DEL', KEYS[2])
if #ARGV > 2 then redis.call('RPUSH', KEYS[2], unpack(ARGV, 3)) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'total', #ARGV - 2)
if redis.call('SCARD', KEYS[3]) >= #ARGV - 2
    and redis.call('HSETNX', KEYS[1], 'finished_at', ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[4], ARGV[1], redis.call('HGET', KEYS[1], 'id'))
  return 1
end
return 0
"""


_SET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


_OPEN = """
if redis.call('HSETNX', KEYS[1], 'id', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Batch:
    id: str
    tenant: str
    created_at: float = 0.0
    # 0 until every job exists (sealed).
    total: int = 0
    callback_url: str = ""
    # Each job also sends its own callback to callback_url (the default), or only the batch does.
    job_callbacks: bool = True
    request_hash: str = ""
    source_prefix: str = ""
    finished_at: float = 0.0
    last_job: str = ""
    announced_at: float = 0.0
    # "" (not sent yet), "delivered" or "failed", as a job's.
    callback_status: str = ""
    callback_attempts: int = 0
    callback_error: str = ""

    @property
    def done(self) -> bool:
        return self.finished_at > 0


_FIELD_TYPES = {f.name: f.type for f in fields(Batch)}


def _decode(raw: dict[str, str]) -> Batch:
    values: dict[str, Any] = {}
    for name, text in raw.items():
        kind = _FIELD_TYPES.get(name)
        if kind in ("float", float):
            values[name] = float(text or 0)
        elif kind in ("int", int):
            values[name] = int(text or 0)
        elif kind in ("bool", bool):
            values[name] = text == "1"
        elif kind is not None:
            values[name] = text
    return Batch(**values)


class Batches:
    """Batch records in Redis; they expire with their jobs (``KSCRIBE_RETENTION_SECONDS``)."""

    def __init__(self, client: KeyValue, ttl_s: int, clock: Callable[[], float]):
        self.redis: Any = client
        self.ttl = ttl_s
        self.clock = clock

    def claim_request(self, tenant: str, idempotency_key: str, batch_id: str, request_hash: str) -> tuple[str, str]:
        """The batch of the tenant's ``idempotency_key`` and the hash of the request that
        first used it: (``batch_id``, ``request_hash``) if this call is the first."""
        key, value = keys.batch_request(tenant, idempotency_key), f"{batch_id} {request_hash}"
        if not self.redis.set(key, value, nx=True, ex=self.ttl):
            value = str(self.redis.get(key) or value)
        first_id, _, first_hash = value.partition(" ")
        return first_id, first_hash

    def open(self, batch: Batch) -> bool:
        """Store a new batch (no jobs yet); False if ``batch.id`` exists (a retried request)."""
        values = {
            "tenant": batch.tenant,
            "created_at": self.clock(),
            "total": 0,
            "callback_url": batch.callback_url,
            "job_callbacks": "1" if batch.job_callbacks else "0",
            "request_hash": batch.request_hash,
            "source_prefix": batch.source_prefix,
        }
        flat = [str(x) for pair in values.items() for x in pair]
        script = self.redis.register_script(_OPEN)
        return bool(script(keys=[keys.batch(batch.id)], args=[batch.id, self.ttl, *flat]))

    def seal(self, batch_id: str, job_ids: list[str]) -> bool:
        """Record the batch's jobs and total; True if that finished it (all ended already)."""
        script = self.redis.register_script(_SEAL)
        finished = script(
            keys=[keys.batch(batch_id), keys.batch_jobs(batch_id), keys.batch_finished(batch_id), keys.batches_due()],
            args=[self.clock(), self.ttl, *job_ids],
        )
        return bool(finished == 1)

    def get(self, batch_id: str) -> Batch | None:
        raw = self.redis.hgetall(keys.batch(batch_id))
        return _decode(raw) if raw and raw.get("id") else None

    def job_ids(self, batch_id: str) -> list[str]:
        return list(self.redis.lrange(keys.batch_jobs(batch_id), 0, -1))

    def update(self, batch_id: str, **values: Any) -> None:
        flat = [str(x) for pair in values.items() for x in pair]
        if flat:
            self.redis.register_script(_SET_IF_EXISTS)(keys=[keys.batch(batch_id)], args=flat)

    def mark_announced(self, batch_id: str) -> None:
        """batch.completed reached the broker."""
        self.update(batch_id, announced_at=self.clock())

    def due(self, now: float) -> list[str]:
        return list(self.redis.zrangebyscore(keys.batches_due(), "-inf", now))

    def due_at(self, batch_id: str, when: float | None) -> None:
        if when is None:
            self.redis.zrem(keys.batches_due(), batch_id)
        else:
            self.redis.zadd(keys.batches_due(), {batch_id: when})

    def discard(self, batch_id: str, tenant: str, idempotency_key: str = "") -> None:
        """Forget a batch entirely (its creation was undone, or it was purged)."""
        pipe = self.redis.pipeline()
        pipe.delete(keys.batch(batch_id), keys.batch_jobs(batch_id), keys.batch_finished(batch_id))
        pipe.zrem(keys.batches_due(), batch_id)
        if idempotency_key:
            pipe.delete(keys.batch_request(tenant, idempotency_key))
        pipe.execute()
