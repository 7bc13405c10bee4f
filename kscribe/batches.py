"""Batches: one request makes a job per file, and one answer comes when they all ended.

A batch is a Redis hash (tenant, total, callback, when it finished, its callback's state),
the list of its job ids and the set of those that ended. Each job carries ``batch_id``.

When the batch is done is decided in Redis, in the same script that ends a job
(``jobstore._ADVANCE``): it adds the job to the finished set and, when that set is full, sets
``finished_at`` with HSETNX, so of two jobs ending at once exactly one finishes the batch, and
records itself as ``last_job``. The batch record gets its ``total`` only once every job exists
(``seal``, the same check again), so a job that ends while the batch is still being made is
counted and never finishes half a batch.

Whatever produced the event that says the last job ended (publish's job.completed, a stage's
job.failed; the api for a cancel) also publishes ``batch.completed`` (``owed_after``);
notify sends the batch's one signed callback, under a claim so that duplicate deliveries
cannot both send it. The batch stays in ``keys.batches_due`` until its callback is delivered
(or refused for good), so the reconciler publishes ``batch.completed`` again if it was lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from kscribe import callbacks, claims, events, keys
from kscribe.callback_lanes import CallbackLanes
from kscribe.errors import EventRejected
from kscribe.events import Event
from kscribe.tenants import Tenants
from kscribe.values import Job, JobStatus

if TYPE_CHECKING:
    from kscribe.context import Context

log = logging.getLogger(__name__)

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

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.redis: Any = ctx.kv
        self.ttl = ctx.settings.retention_s

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
            "created_at": self.ctx.jobs.clock(),
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
            args=[self.ctx.jobs.clock(), self.ttl, *job_ids],
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
        self.update(batch_id, announced_at=self.ctx.jobs.clock())

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


# --- what the batch looks like --------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    total: int
    counts: dict[str, int]
    progress: float
    jobs: list[tuple[str, Job | None]]

    def count(self, status: JobStatus) -> int:
        return self.counts.get(status.value, 0)


def summarize(ctx: Context, batch_id: str) -> Summary:
    """Counts per status (``expired``: a job whose record is gone), and progress: the mean
    of the jobs' own (an expired job counts as ended)."""
    ids = Batches(ctx).job_ids(batch_id)
    found = ctx.jobs.get_many(ids) if ids else []
    counts = {s.value: 0 for s in JobStatus} | {"expired": 0}
    progress = 0.0
    for job in found:
        counts[job.status.value if job is not None else "expired"] += 1
        progress += job.progress if job is not None else 100.0
    return Summary(len(ids), counts, round(progress / len(ids), 1) if ids else 0.0, list(zip(ids, found, strict=True)))


def completed_event(ctx: Context, batch: Batch, summary: Summary | None = None) -> Event:
    summary = summary or summarize(ctx, batch.id)
    return events.BatchCompleted(
        batch_id=batch.id,
        total=summary.total,
        succeeded=summary.count(JobStatus.SUCCEEDED),
        failed=summary.count(JobStatus.FAILED),
        cancelled=summary.count(JobStatus.CANCELLED),
        job_ids=tuple(i for i, _ in summary.jobs),
    ).event()


def owed_for(ctx: Context, job: Job | None) -> list[Event]:
    """batch.completed when ``job`` is the one that finished its batch and the event has not
    gone out; else nothing. Only that job's deliveries ask, so jobs ending at once across the
    batch announce it once (a redelivery of the same one may repeat it, with the same id)."""
    if job is None or not job.batch_id:
        return []
    batch = Batches(ctx).get(job.batch_id)
    if batch is None or not batch.done or batch.announced_at or batch.last_job != job.id:
        return []
    return [completed_event(ctx, batch)]


def owed_after(ctx: Context, produced: list[Event]) -> list[Event]:
    """``produced``, and the batch.completed any job.completed / job.failed in it owes."""
    more: list[Event] = []
    for event in produced:
        if event.type in (events.JOB_COMPLETED, events.JOB_FAILED):
            job_id = event.data.get("job_id")
            if isinstance(job_id, str):
                more += owed_for(ctx, ctx.jobs.get(job_id))
    return produced + more if more else produced


# --- the batch's callback ----------------------------------------------------------------


def callback_payload(batch: Batch, summary: Summary) -> dict[str, Any]:
    """What the batch's receiver gets: the totals and each job's outcome and outputs."""
    return {
        "type": events.BATCH_COMPLETED,
        "batch_id": batch.id,
        "status": "completed",
        "total": summary.total,
        "succeeded": summary.count(JobStatus.SUCCEEDED),
        "failed": summary.count(JobStatus.FAILED),
        "cancelled": summary.count(JobStatus.CANCELLED),
        "jobs": [
            {
                "job_id": job_id,
                "status": job.status.value if job else "expired",
                "source": job.source_uri if job else "",
                "outputs": job.outputs if job else {},
                "error": job.error if job and job.status is JobStatus.FAILED else "",
            }
            for job_id, job in summary.jobs
        ],
    }


def notify(batch_id: str, ctx: Context) -> None:
    """Send the batch's signed callback unless it was delivered; record the outcome.

    One sender at a time (a claim): two deliveries of batch.completed at once cannot both
    send, and the second then finds it delivered. ``EventRejected`` for an unknown or
    unfinished batch."""
    store = Batches(ctx)
    batch = store.get(batch_id)
    if batch is None:
        raise EventRejected("unknown_batch", f"no batch {batch_id}")
    if not batch.done:
        raise EventRejected("mismatch", f"batch {batch_id} has not finished")
    if not batch.callback_url:
        store.due_at(batch.id, None)  # nothing more is owed: the event went out
        return
    if batch.callback_status == "delivered":
        return
    settings = ctx.settings
    with claims.claim(ctx.kv, f"batch/{batch.id}/callback", settings.claim_lease_s, "notify"):
        batch = store.get(batch_id)
        if batch is None or batch.callback_status == "delivered":
            return
        tenant = Tenants(ctx.kv).get(batch.tenant)
        secret = tenant.callback_secret if tenant else ""
        if not secret:
            outcome = callbacks.CallbackOutcome(False, 0, 0, "no callback secret configured for this batch's tenant")
        else:
            # The tenant's callback lanes and receiver hold, as for its jobs' callbacks: its
            # batches' receivers that never answer cannot hold notify from other tenants.
            lanes = CallbackLanes(ctx.kv, settings.callback_lanes, hold_s=callbacks.SEND_DEADLINE_S + 30)
            lane = f"batch:{batch.id}"
            if lanes.receiver_held(batch.tenant, batch.callback_url) or not lanes.take(batch.tenant, lane):
                store.due_at(batch.id, ctx.jobs.clock())
                log.info(
                    "batch %s: tenant %s's callback lanes are busy or its receiver on hold", batch.id, batch.tenant
                )
                return
            try:
                outcome = callbacks.send(
                    batch.callback_url,
                    callback_payload(batch, summarize(ctx, batch.id)),
                    secret,
                    events.BATCH_COMPLETED,
                    allow=settings.callback_allow,
                    attempts=settings.callback_attempts,
                    backoff_s=settings.callback_backoff_s,
                )
            finally:
                lanes.give_back(batch.tenant, lane)
            if not outcome.delivered and not outcome.final and outcome.status_code == 0:
                lanes.hold_receiver(batch.tenant, batch.callback_url, settings.callback_hold_s)
        store.update(
            batch.id,
            callback_status="delivered" if outcome.delivered else "failed",
            callback_attempts=batch.callback_attempts + outcome.attempts,
            callback_error=outcome.error,
        )
        if outcome.delivered or outcome.final:
            store.due_at(batch.id, None)
        else:
            store.due_at(batch.id, ctx.jobs.clock() + settings.redrive_after_s)
            log.warning("batch %s: callback to %s failed: %s", batch.id, batch.callback_url, outcome.error)


# --- the reconciler's part ---------------------------------------------------------------


def redrive(ctx: Context, now: float, lease_s: float) -> list[Event]:
    """batch.completed again for each finished batch still owed something: the event (lost
    on its way), or a callback not yet delivered — after ``lease_s``, so the first try stays
    the pipeline's; for at most ``KSCRIBE_CALLBACK_RESEND_SECONDS`` after the batch finished."""
    store, out = Batches(ctx), []
    for batch_id in store.due(now):
        batch = store.get(batch_id)
        if batch is None or not batch.done:
            store.due_at(batch_id, None)
            continue
        owes_callback = bool(batch.callback_url) and batch.callback_status != "delivered"
        if batch.announced_at and not owes_callback:
            store.due_at(batch_id, None)
            continue
        started = batch.announced_at or batch.finished_at
        if batch.callback_status == "" and now < started + lease_s:
            continue  # the first announcement, or the first send, is still under way
        if now > batch.finished_at + ctx.settings.callback_resend_s:
            store.due_at(batch_id, None)
            if owes_callback:
                store.update(
                    batch_id,
                    callback_status="failed",
                    callback_error=f"gave up re-sending after {ctx.settings.callback_resend_s:g} s",
                )
            continue
        store.due_at(batch_id, now + lease_s)
        out.append(completed_event(ctx, batch))
    return out
