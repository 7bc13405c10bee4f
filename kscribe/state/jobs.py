"""Job state in Redis: one hash per job, changed only by small atomic scripts.

Every handler runs under at-least-once delivery, possibly twice at once and out of order, so
each change here is a single Lua script that checks and writes in one step.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import fields
from string import Template
from typing import Any, Protocol, get_type_hints

from kscribe.errors import InputError, QueueFull, QuotaExceeded
from kscribe.ports import ChunkCompletion
from kscribe.state import keys
from kscribe.state.client import KeyValue
from kscribe.values import TERMINAL_RANK, Job, JobStatus

_JSON_FIELDS = {
    "coverage",
    "formats",
    "languages",
    "metadata",
    "outputs",
    "replacements",
    "speaker_names",
    "subtitles",
}
_TIMING_PREFIX = "timing."
_ANNOUNCED_PREFIX = "announced."
_DECODING_PREFIX = "decoding."
# Derived from prefixed hash fields, not stored under their own names.
_DERIVED = {"timings", "announced", "decoding"}

# Claim `bucket/name#generation` and create the job in one step.
#   delivery A: GET object key → nil → SET, HSET job        → created
#   delivery B: GET object key → A's job id                  → not created, same job
# A tenant's job also enters the tenant's listing, its status index and its active set; the
# concurrency quota is checked here, in the same step, so simultaneous creations cannot all
# slip under it.
_CREATE = """
local existing = redis.call('GET', KEYS[1])
if existing then return {existing, 0} end
local limit = tonumber(ARGV[5])  -- > 0: the tenant's quota; 0: none; -1: not counted at all
if ARGV[4] ~= '' and limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', ARGV[3] - ARGV[2])
  if redis.call('ZCARD', KEYS[5]) >= limit then return {'', -1} end
end
-- The pipeline's backlog (KSCRIBE_QUEUE_MAX_JOBS, ARGV[6] > 0): refused for API jobs only;
-- uploads (limit -1) always queue.
local queue_max = tonumber(ARGV[6])
if limit >= 0 and queue_max > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', ARGV[3] - ARGV[2])
  if redis.call('ZCARD', KEYS[7]) >= queue_max then return {'', -2} end
end
redis.call('ZADD', KEYS[7], ARGV[3], ARGV[1])  -- in line until its first chunk reaches a worker
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 7))
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
if ARGV[4] ~= '' then
  for i = 4, 6 do
    if i ~= 5 or limit >= 0 then
      -- Oldest first out: pruning expired ids never shifts the positions of newer ones.
      redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[3] - ARGV[2])
      redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1])
      redis.call('EXPIRE', KEYS[i], ARGV[2])
    end
  end
end
return {ARGV[1], 1}
"""

# A slot among the tenant's unfinished jobs held for a web page upload from its session's
# creation (refused at the tenant's quota, as an API job is), until ingest makes its job and
# the job takes the slot over. Scored so the retention pruning drops it once ARGV[3] seconds
# have passed (an upload never finished gives its slot back).
#   KEYS: the tenant's active set; ARGV: now, retention, hold seconds, limit (0: none), member
_RESERVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
local limit = tonumber(ARGV[4])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1] - ARGV[2] + ARGV[3], ARGV[5])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('EXPIRE', KEYS[1], math.max(ARGV[2], ARGV[3])) end
return 1
"""

_RANKS = "{" + ", ".join(f"{s.value}={s.rank}" for s in JobStatus) + "}"

# Status only moves forward, and never leaves a terminal state: a late redelivery of
# "extracting" cannot pull a succeeded job back, and a failure cannot overwrite success.
_ADVANCE = Template("""
local rank = $ranks
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return -1 end
if rank[current] == $terminal then return 0 end
if rank[ARGV[1]] < rank[current] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated_at', ARGV[2], unpack(ARGV, 5))
-- A worker's lease was for the step the job just left; a step reached is progress, so the
-- re-drives counted at the last one restart from zero.
if current ~= ARGV[1] then
  redis.call('HDEL', KEYS[1], 'lease_until')
  if rank[ARGV[1]] ~= $terminal then redis.call('HSET', KEYS[1], 'redrives', 0) end
end
if rank[ARGV[1]] == $terminal then
  redis.call('ZREM', KEYS[2], KEYS[3])
  redis.call('ZREM', KEYS[7], KEYS[3])
  -- Jobs finished per minute: the pipeline's drain rate (kscribe/pipeline/backlog.py).
  local minute = KEYS[8] .. math.floor(tonumber(ARGV[2]) / 60)
  redis.call('INCR', minute)
  redis.call('EXPIRE', minute, 900)
  -- A finished job with a callback owes one: the reconciler re-sends it until delivered.
  if ARGV[1] ~= 'cancelled' and (redis.call('HGET', KEYS[1], 'callback_url') or '') ~= '' then
    redis.call('ZADD', KEYS[4], ARGV[2], KEYS[3])
  end
  -- A batch's last job to end is decided here, in the step that ends it (names as in
  -- keys.batch*; kscribe/pipeline/batches.py seals the same way):
  --   job A ends: SADD A → 1 of 2 finished        job B ends: SADD B → 2 of 2 → HSETNX wins
  -- Two jobs ending at once are two scripts, run one after the other: only one sees the set
  -- full with finished_at unset, so the batch finishes, and is owed its event, exactly once.
  local batch = redis.call('HGET', KEYS[1], 'batch_id')
  if batch and batch ~= '' then
    local record = KEYS[5] .. batch
    redis.call('SADD', record .. ':finished', KEYS[3])
    redis.call('EXPIRE', record .. ':finished', ARGV[4])
    local total = tonumber(redis.call('HGET', record, 'total') or '0')
    if total > 0 and redis.call('SCARD', record .. ':finished') >= total
        and redis.call('HSETNX', record, 'finished_at', ARGV[2]) == 1 then
      redis.call('HSET', record, 'last_job', KEYS[3])
      redis.call('ZADD', KEYS[6], ARGV[2], batch)
    end
  end
else
  redis.call('ZADD', KEYS[2], ARGV[2], KEYS[3])
end
local tenant = redis.call('HGET', KEYS[1], 'tenant')
if tenant and tenant ~= '' and current ~= ARGV[1] then
  -- The tenant's status index follows the job (key names as in keys.tenant_status_jobs).
  local base = ARGV[3] .. tenant
  local created = redis.call('HGET', KEYS[1], 'created_at')
  redis.call('ZREM', base .. ':status:' .. current, KEYS[3])
  redis.call('ZADD', base .. ':status:' .. ARGV[1], created, KEYS[3])
  redis.call('EXPIRE', base .. ':status:' .. ARGV[1], ARGV[4])
  if rank[ARGV[1]] == $terminal then redis.call('ZREM', base .. ':active', KEYS[3]) end
end
return 1
""").substitute(ranks=_RANKS, terminal=TERMINAL_RANK)

# Count a job's audio against its tenant's daily allowance, once per job (a redelivered or
# duplicate extraction finds `usage_recorded` set). Refused, and nothing counted, when it
# would take the day past the limit (ARGV[3]; 0: no limit). Whole milliseconds and INCRBY:
# INCRBYFLOAT inside a script makes Redis 6.2 rewrite the script's argv and corrupt its heap.
# A job that is gone (purged while it was extracted) counts nothing and is not brought back as
# a record of one field (which GET could not read).
_RECORD_USAGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], 'usage_recorded', '1') == 0 then return 0 end
local limit = tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if limit > 0 and used + tonumber(ARGV[1]) > limit then
  redis.call('HDEL', KEYS[1], 'usage_recorded')
  return -1
end
local total = redis.call('INCRBY', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return total
"""

# Record one part of a chunk as done — its transcript, or (a job with speakers) its voice
# turns — and tell the caller whether the job is complete: every chunk has every part the job
# needs. Both sets are read in the same step, so of two last parts stored at once, exactly
# one delivery records the last of them and the other finds it recorded:
#   transcribe chunk 3: SADD done 3    → done 4/4, diarized 3/4 → not complete
#   diarize chunk 2:    SADD diarized 2 → done 4/4, diarized 4/4 → complete
# Announcing the job as transcribed is then the business of every delivery that finds the
# job complete and the announcement missing (see handlers.py): a worker killed between the
# two is covered by the redelivery, or by the reconciler.
#   KEYS: this part's set, the job, the active jobs, the other part's set
#   ARGV: index, audio seconds, total, retention, now, job id, part, parts the job needs
# An ended job records nothing more: a part stored as the job was cancelled (or finished by a
# duplicate) neither moves its counts nor completes it, so it is never announced transcribed.
_COMPLETE_CHUNK = Template("""
local rank = $ranks
local status = redis.call('HGET', KEYS[2], 'status')
if not status then return {-1, 0, 0} end
if rank[status] == $terminal then return {redis.call('SCARD', KEYS[1]), 0, 0} end
local added = redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
-- A stored transcript counts in transcribed_s: what its decode reported goes (note_decoded).
if ARGV[7] == 'transcript' then redis.call('HDEL', KEYS[2], 'decoding.' .. ARGV[1]) end
local done = redis.call('SCARD', KEYS[1])
if added == 1 then
  if ARGV[7] == 'transcript' then
    -- Summed in Lua, not by HINCRBYFLOAT: its argv rewrite is what _RECORD_USAGE avoids.
    local transcribed = tonumber(redis.call('HGET', KEYS[2], 'transcribed_s') or '0') + tonumber(ARGV[2])
    redis.call('HSET', KEYS[2], 'transcribed_s', tostring(transcribed), 'chunks_done', done, 'updated_at', ARGV[5])
  else
    redis.call('HSET', KEYS[2], 'chunks_diarized', done, 'updated_at', ARGV[5])
  end
  -- Progress: the re-drives counted so far found work lost before this; the count restarts.
  redis.call('HSET', KEYS[2], 'redrives', 0)
  redis.call('ZADD', KEYS[3], 'XX', ARGV[5], ARGV[6])
end
local other = tonumber(ARGV[3])
if ARGV[8] == '2' then other = redis.call('SCARD', KEYS[4]) end
return {done, added, other}
""").substitute(ranks=_RANKS, terminal=TERMINAL_RANK)

# A stage's time added to a job only while it exists: a plain HINCRBYFLOAT on a purged job
# would bring its record back as a hash of one field that never expires. (Summed here rather
# than by HINCRBYFLOAT, whose argv rewrite is what _RECORD_USAGE avoids.)
_ADD_TIMING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local total = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], tostring(total))
return 1
"""

# How far a chunk's decode has come, while the job runs and the chunk is not yet stored: a
# note arriving after its chunk was stored (a duplicate delivery decoding it again) would
# count its audio twice, and is dropped.
#   KEYS: the job, its stored chunks; ARGV: index, seconds decoded
_NOTE_DECODED = Template("""
local rank = $ranks
local status = redis.call('HGET', KEYS[1], 'status')
if not status or rank[status] == $terminal then return 0 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'decoding.' .. ARGV[1], ARGV[2])
return 1
""").substitute(ranks=_RANKS, terminal=TERMINAL_RANK)

# Fields set on a job only while it exists: a late write must not resurrect an expired or
# purged job as a hash without an expiry.
_SET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# A time set once (a record starts with it at 0), only while the job exists.
_SETNX_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if (tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') or 0) > 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# A worker needs the job's current step for longer than the base lease (a long decode, a
# long chunk): the reconciler leaves it alone until then. Only ever extended.
_EXTEND_LEASE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local current = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
if tonumber(ARGV[1]) > current then redis.call('HSET', KEYS[1], 'lease_until', ARGV[1]) end
return 1
"""

# The reconciler re-drove the job (ARGV[3] = 1: it found work lost) or found all its work
# still queued or in flight (0): count the first, and restart the clock its lease runs on.
_NOTE_REDRIVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('HINCRBY', KEYS[1], 'redrives', ARGV[3])
redis.call('HSET', KEYS[1], 'redriven_at', ARGV[1])
redis.call('ZADD', KEYS[2], 'XX', ARGV[1], ARGV[2])
return n
"""


class _Client(KeyValue, Protocol):
    """The further Redis commands job records need (answers decoded, as in ``KeyValue``)."""

    def exists(self, *names: str) -> Any: ...

    def scan_iter(self, match: str | None = None, count: int | None = None) -> Any: ...

    def hincrbyfloat(self, name: str, key: str, amount: float = 1.0) -> Any: ...

    def sismember(self, name: str, value: str) -> Any: ...

    def zscore(self, name: str, value: str) -> Any: ...

    # A callable rather than a method: redis-py's zadd is generic over the key type.
    @property
    def zadd(self) -> Callable[..., Any]: ...

    def zrem(self, name: str, *values: str) -> Any: ...

    def zcard(self, name: str) -> Any: ...

    def zrank(self, name: str, value: str) -> Any: ...

    def mget(self, keys: list[str]) -> Any: ...

    def zrangebyscore(self, name: str, min: float | str, max: float | str) -> Any: ...

    def zrevrange(self, name: str, start: int, end: int) -> Any: ...

    def zremrangebyscore(self, name: str, min: float | str, max: float | str) -> Any: ...


# The parts a chunk may have stored: its transcript, and its voice turns (jobs with speakers).
PARTS = ("transcript", "voices")


def _encode(name: str, value: Any) -> str:
    if name in _JSON_FIELDS:
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    if isinstance(value, JobStatus):
        return value.value
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    return str(value)


def _flatten(values: dict[str, Any]) -> list[str]:
    flat: list[str] = []
    for name, value in values.items():
        flat += [name, _encode(name, value)]
    return flat


# Each stored field's type, resolved (``from __future__ import annotations`` leaves
# ``fields(Job)[i].type`` a string, which must never be compared as one).
_FIELD_TYPES: dict[str, Any] = {f.name: get_type_hints(Job)[f.name] for f in fields(Job)}


def _decode(raw: dict[str, str]) -> Job:
    values: dict[str, Any] = {}
    for name, text in raw.items():
        kind = _FIELD_TYPES.get(name)
        if kind is None:
            continue
        if name in _JSON_FIELDS:
            value: Any = json.loads(text)
            values[name] = tuple(value) if name == "formats" else value
        elif kind is JobStatus:
            values[name] = JobStatus(text)
        elif kind == str | None:
            values[name] = text or None
        elif kind is bool:
            values[name] = text == "1"
        elif kind is float:
            values[name] = float(text or 0)
        elif kind is int:
            values[name] = int(text or 0)
        else:
            values[name] = text
    values["timings"] = {
        k[len(_TIMING_PREFIX) :]: round(float(v), 3) for k, v in raw.items() if k.startswith(_TIMING_PREFIX)
    }
    values["announced"] = frozenset(k[len(_ANNOUNCED_PREFIX) :] for k in raw if k.startswith(_ANNOUNCED_PREFIX))
    values["decoding"] = {
        int(k[len(_DECODING_PREFIX) :]): float(v) for k, v in raw.items() if k.startswith(_DECODING_PREFIX)
    }
    return Job(**values)


class JobStore:
    """Job records in Redis. Pass the client in; every key a job owns expires with it."""

    def __init__(self, client: _Client, retention_s: int, clock: Callable[[], float] = time.time):
        self.redis = client
        self.retention_s = retention_s
        self.clock = clock
        self._create = client.register_script(_CREATE)
        self._advance = client.register_script(_ADVANCE)
        self._complete_chunk = client.register_script(_COMPLETE_CHUNK)
        self._set_if_exists = client.register_script(_SET_IF_EXISTS)
        self._reserve = client.register_script(_RESERVE)
        self._setnx_if_exists = client.register_script(_SETNX_IF_EXISTS)
        self._extend_lease = client.register_script(_EXTEND_LEASE)
        self._note_redrive = client.register_script(_NOTE_REDRIVE)
        self._record_usage = client.register_script(_RECORD_USAGE)
        self._add_timing = client.register_script(_ADD_TIMING)
        self._note_decoded = client.register_script(_NOTE_DECODED)

    def ping(self) -> None:
        """Raises unless Redis answers (the readiness check)."""
        self.redis.ping()

    def record_jobs_lost(self, count: int) -> None:
        """How many jobs the reconciler's last full pass found with work lost."""
        self.redis.set(keys.jobs_lost(), str(count))

    def jobs_lost(self) -> int:
        return int(self.redis.get(keys.jobs_lost()) or 0)

    def create(self, job: Job, dedupe_key: str, max_active: int = 0, queue_max: int = 0) -> tuple[Job, bool]:
        """Store ``job`` unless ``dedupe_key`` already has one; return the stored job and
        whether this call created it. With ``max_active`` > 0, raise ``QuotaExceeded`` when
        the job's tenant already has that many unfinished jobs; -1 keeps the job out of the
        tenant's count altogether (bucket uploads). With ``queue_max`` > 0 (and ``max_active``
        not -1), raise ``QueueFull`` when that many jobs already wait in line."""
        now = self.clock()
        record = {f.name: getattr(job, f.name) for f in fields(Job) if f.name not in _DERIVED}
        record.update(created_at=now, updated_at=now, dedupe_key=dedupe_key)
        tenant = job.tenant
        job_id, created = self._create(
            keys=[
                keys.object_job(dedupe_key),
                keys.job(job.id),
                keys.active_jobs(),
                keys.tenant_jobs(tenant),
                keys.tenant_active(tenant),
                keys.tenant_status_jobs(tenant, job.status.value),
                keys.queue(),
            ],
            args=[job.id, self.retention_s, now, tenant, max_active, queue_max, *_flatten(record)],
        )
        if created == -2:
            raise QueueFull(f"{queue_max} jobs are waiting for the pipeline; try again later")
        if created == -1:
            raise QuotaExceeded(
                f"tenant {tenant} already has {max_active} unfinished jobs; wait for one to finish or cancel one"
            )
        return self.require(job_id), bool(created)

    def job_id_for(self, dedupe_key: str) -> str | None:
        """The id of the job created for ``bucket/name#generation`` (or a request key)."""
        job_id: str | None = self.redis.get(keys.object_job(dedupe_key))
        return job_id

    def get(self, job_id: str) -> Job | None:
        raw = self.redis.hgetall(keys.job(job_id))
        return _decode(raw) if raw and "id" in raw else None

    def ids_starting(self, prefix: str, limit: int = 2) -> list[str]:
        """Up to ``limit`` ids of jobs whose id starts with ``prefix`` (lower-case hex): the
        short ids the CLI prints. A SCAN, for a person at a terminal, never a request path."""
        if not prefix or len(prefix) > 32 or not all(c in "0123456789abcdef" for c in prefix):
            return []
        found: list[str] = []
        for name in self.redis.scan_iter(match=keys.job(prefix) + "*", count=1000):
            job_id = name.rsplit(":", 1)[-1]
            if len(job_id) == 32 and name == keys.job(job_id) and job_id not in found:
                found.append(job_id)
                if len(found) >= limit:
                    break
        return found

    def get_many(self, job_ids: list[str]) -> list[Job | None]:
        """The jobs ``job_ids`` name, in one round trip (None for one that expired)."""
        pipe = self.redis.pipeline()
        for job_id in job_ids:
            pipe.hgetall(keys.job(job_id))
        return [_decode(raw) if raw and "id" in raw else None for raw in pipe.execute()]

    def require(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise InputError(f"job {job_id} does not exist (never created, or expired)")
        return job

    def advance(self, job_id: str, status: JobStatus, **values: Any) -> bool:
        """Move the job to ``status`` (setting ``values``) unless that would go backwards
        or leave a terminal state. True if applied."""
        applied = self._advance(
            keys=[
                keys.job(job_id),
                keys.active_jobs(),
                job_id,
                keys.callbacks_due(),
                keys.batch(""),
                keys.batches_due(),
                keys.queue(),
                keys.finished_minute(""),
            ],
            args=[status.value, self.clock(), keys.tenant(""), self.retention_s, *_flatten(values)],
        )
        return bool(applied == 1)

    def fail(self, job_id: str, error: str, failed_stage: str) -> bool:
        """Mark the job failed at ``failed_stage`` with ``error`` unless it already ended. True if applied."""
        return self.advance(job_id, JobStatus.FAILED, error=error, failed_stage=failed_stage)

    def update(self, job_id: str, **values: Any) -> None:
        """Set fields of an existing job (a job that expired meanwhile stays gone)."""
        if values:
            self._set_if_exists(keys=[keys.job(job_id)], args=_flatten(values))

    def add_timing(self, job_id: str, stage: str, seconds: float) -> None:
        """Add ``seconds`` to the stage's total (transcription sums over its chunks)."""
        self._add_timing(keys=[keys.job(job_id)], args=[_TIMING_PREFIX + stage, round(seconds, 6)])

    def note_decoded(self, job_id: str, index: int, seconds: float) -> None:
        """Chunk ``index`` of the running job has ``seconds`` of its audio decoded (until it is
        stored). What is not a count of seconds is not noted: a NaN would make the job's JSON invalid."""
        seconds = float(seconds)
        if index < 0 or not math.isfinite(seconds):
            return
        self._note_decoded(
            keys=[keys.job(job_id), keys.job_chunks_done(job_id)], args=[index, round(max(0.0, seconds), 3)]
        )

    def complete_chunk(
        self, job_id: str, index: int, total: int, audio_s: float, part: str = "transcript", speakers: bool = False
    ) -> ChunkCompletion:
        """Record ``part`` ("transcript", or "voices" for a job with ``speakers``) of chunk
        ``index`` as stored; ``complete`` once all ``total`` chunks have every part the job
        needs (both, with ``speakers``)."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, not {part!r}")
        mine, other = (keys.job_chunks_done, keys.job_chunks_diarized)[:: 1 if part == "transcript" else -1]
        done, added, other_done = self._complete_chunk(
            keys=[mine(job_id), keys.job(job_id), keys.active_jobs(), other(job_id)],
            args=[index, audio_s, total, self.retention_s, self.clock(), job_id, part, 2 if speakers else 1],
        )
        if done == -1:
            raise InputError(f"job {job_id} does not exist (never created, or expired)")
        return ChunkCompletion(
            done=int(done), first_time=bool(added), complete=int(done) >= total and int(other_done) >= total
        )

    def mark_announced(self, job_id: str, what: str) -> None:
        """Record that the event saying ``what`` (created, transcribed, completed, failed)
        about the job was published."""
        self._set_if_exists(keys=[keys.job(job_id)], args=[_ANNOUNCED_PREFIX + what, self.clock()])

    def extend_lease(self, job_id: str, seconds: float) -> None:
        """The current step may take ``seconds`` from now: no re-drive before then."""
        self._extend_lease(keys=[keys.job(job_id)], args=[self.clock() + seconds])

    def note_redrive(self, job_id: str, now: float | None = None, lost: bool = True) -> int:
        """Note that the reconciler looked at the job at ``now`` (its lease clock restarts) and,
        if it found work ``lost`` and re-drove it, count that; returns the count since the
        job last made progress (-1: gone)."""
        now = self.clock() if now is None else now
        return int(
            self._note_redrive(keys=[keys.job(job_id), keys.active_jobs()], args=[now, job_id, 1 if lost else 0])
        )

    def note_transcription_started(self, job_id: str) -> None:
        """The first of the job's chunks reached a worker now (kept if already set): the job
        leaves the line."""
        self._setnx_if_exists(keys=[keys.job(job_id)], args=["transcription_started_at", self.clock()])
        self.redis.zrem(keys.queue(), job_id)

    def place_in_line(self, job_id: str) -> int | None:
        """1 for the job next in line, and so on; None for a job not waiting (started, ended)."""
        rank = self.redis.zrank(keys.queue(), job_id)
        return None if rank is None else int(rank) + 1

    def in_line(self) -> int:
        """How many jobs wait in line (created, no chunk on a worker yet)."""
        self.redis.zremrangebyscore(keys.queue(), "-inf", self.clock() - self.retention_s)
        return int(self.redis.zcard(keys.queue()))

    def finished_per_minute(self, minutes: int = 5) -> float:
        """Jobs that ended per minute over the last ``minutes`` whole minutes and this one."""
        now = int(self.clock() // 60)
        counts = self.redis.mget([keys.finished_minute(str(m)) for m in range(now - minutes, now + 1)])
        elapsed = minutes + (self.clock() % 60) / 60
        return sum(int(c or 0) for c in counts) / max(elapsed, 1e-6)

    def quiet_jobs(self, since: float) -> list[str]:
        """Unfinished jobs that have not moved since ``since`` (oldest first)."""
        return list(self.redis.zrangebyscore(keys.active_jobs(), "-inf", since))

    def callbacks_due(self, now: float) -> list[str]:
        """Finished jobs whose callback is due (first send, or a re-send after a failure)."""
        return list(self.redis.zrangebyscore(keys.callbacks_due(), "-inf", now))

    def callback_due_at(self, job_id: str, when: float | None) -> None:
        """Schedule the job's next callback attempt, or (None) stop owing one."""
        if when is None:
            self.redis.zrem(keys.callbacks_due(), job_id)
        else:
            self.redis.zadd(keys.callbacks_due(), {job_id: when})

    def done_chunks(self, job_id: str) -> set[int]:
        return {int(i) for i in self.redis.smembers(keys.job_chunks_done(job_id))}

    def diarized_chunks(self, job_id: str) -> set[int]:
        return {int(i) for i in self.redis.smembers(keys.job_chunks_diarized(job_id))}

    def chunk_done(self, job_id: str, index: int) -> bool:
        return bool(self.redis.sismember(keys.job_chunks_done(job_id), str(index)))

    def cancel(self, job_id: str) -> bool:
        """Cancel the job unless it already ended: every stage then ignores its events."""
        return self.advance(job_id, JobStatus.CANCELLED, error="cancelled", failed_stage="")

    def tenant_job_ids(self, tenant: str, start: int, count: int, status: str = "") -> list[str]:
        """Up to ``count`` of the tenant's job ids (only those in ``status``, if given), newest
        first, from position ``start``. Ids of expired jobs may remain until pruned at a later
        create; callers skip them."""
        key = keys.tenant_status_jobs(tenant, status) if status else keys.tenant_jobs(tenant)
        return list(self.redis.zrevrange(key, start, start + count - 1))

    def reserve_upload_slot(self, tenant: str, upload_id: str, limit: int, hold_s: int) -> bool:
        """Hold one of the tenant's ``limit`` unfinished-job slots (0: no limit) for a page
        upload for ``hold_s`` seconds; False, holding nothing, when the tenant is at its limit."""
        args = [self.clock(), self.retention_s, hold_s, limit, _upload_slot(upload_id)]
        return bool(self._reserve(keys=[keys.tenant_active(tenant)], args=args))

    def upload_slot_held(self, tenant: str, upload_id: str) -> bool:
        """Whether the upload's slot is still held (not lapsed, not taken over)."""
        score = self.redis.zscore(keys.tenant_active(tenant), _upload_slot(upload_id))
        return score is not None and float(score) > self.clock() - self.retention_s

    def release_upload_slot(self, tenant: str, upload_id: str) -> None:
        self.redis.zrem(keys.tenant_active(tenant), _upload_slot(upload_id))

    def tenant_active_count(self, tenant: str) -> int:
        """How many of the tenant's jobs are unfinished (expired ones pruned first)."""
        key = keys.tenant_active(tenant)
        self.redis.zremrangebyscore(key, "-inf", self.clock() - self.retention_s)
        return int(self.redis.zcard(key))

    def record_usage(self, job_id: str, tenant: str, audio_s: float, limit_s: float) -> bool:
        """Count the job's audio against the tenant's allowance for today (UTC), once per job.
        False, with nothing counted, if it would take the day past ``limit_s`` (0: no limit)."""
        day = time.strftime("%Y%m%d", time.gmtime(self.clock()))
        total = self._record_usage(
            keys=[keys.job(job_id), keys.tenant_audio_day(tenant, day)],
            args=[round(audio_s * 1000), 3 * 24 * 3600, round(limit_s * 1000)],
        )
        return int(total) != -1

    def audio_used_today(self, tenant: str) -> float:
        """Seconds of audio the tenant's jobs extracted today (UTC)."""
        day = time.strftime("%Y%m%d", time.gmtime(self.clock()))
        return int(self.redis.get(keys.tenant_audio_day(tenant, day)) or 0) / 1000

    def stuck_jobs(self, older_than_s: float) -> int:
        """How many unfinished jobs have not moved for ``older_than_s`` seconds. Jobs that
        expired unfinished are pruned, so they are not counted forever."""
        stuck = 0
        for job_id in self.redis.zrangebyscore(keys.active_jobs(), "-inf", self.clock() - older_than_s):
            if self.redis.exists(keys.job(job_id)):
                stuck += 1
            else:
                self.redis.zrem(keys.active_jobs(), job_id)
        return stuck

    def discard(self, job_id: str, dedupe_key: str) -> None:
        """Undo ``create`` for a job that was never announced (its announcement failed), so
        a retry of the same request creates it afresh. Its purge plan goes too: nothing of
        the job exists to purge, and a plan left behind would purge a job that never was."""
        job = self.get(job_id)
        pipe = self.redis.pipeline()
        pipe.delete(keys.job(job_id), keys.object_job(dedupe_key))
        pipe.zrem(keys.active_jobs(), job_id)
        pipe.zrem(keys.queue(), job_id)  # no place in line left behind, counted against the line
        pipe.zrem(keys.purges_due(), job_id)
        pipe.zrem(keys.purge_plans_kept(), job_id)
        pipe.hdel(keys.purge_plans(), job_id)
        if job is not None and job.tenant:
            pipe.zrem(keys.tenant_jobs(job.tenant), job_id)
            pipe.zrem(keys.tenant_active(job.tenant), job_id)
            pipe.zrem(keys.tenant_status_jobs(job.tenant, job.status.value), job_id)
        pipe.execute()


def _upload_slot(upload_id: str) -> str:
    """A page upload's member of its tenant's active set (never a job id: those are hex)."""
    return f"upload:{upload_id}"
