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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kscribe import events
from kscribe.delivery import transport as callbacks
from kscribe.errors import EventRejected
from kscribe.events import Event
from kscribe.state.batches import Batch
from kscribe.values import Job, JobStatus

if TYPE_CHECKING:
    from kscribe.context import Context

log = logging.getLogger(__name__)


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
    of the jobs' own (an ended or expired job counts as 100)."""
    ids = ctx.batches.job_ids(batch_id)
    found = ctx.jobs.get_many(ids) if ids else []
    counts = {s.value: 0 for s in JobStatus} | {"expired": 0}
    progress = 0.0
    for job in found:
        counts[job.status.value if job is not None else "expired"] += 1
        # An ended job (failed and cancelled ones too) is done as far as the batch goes.
        progress += job.progress if job is not None and not job.status.terminal else 100.0
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
    batch = ctx.batches.get(job.batch_id)
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
    store = ctx.batches
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
    with ctx.claims.claim(f"batch/{batch.id}/callback", settings.claim_lease_s, "notify"):
        batch = store.get(batch_id)
        if batch is None or batch.callback_status == "delivered":
            return
        tenant = ctx.tenants.get(batch.tenant)
        secret = tenant.callback_secret if tenant else ""
        if not secret:
            outcome = callbacks.CallbackOutcome(False, 0, 0, "no callback secret configured for this batch's tenant")
        else:
            # The tenant's callback lanes and receiver hold, as for its jobs' callbacks: its
            # batches' receivers that never answer cannot hold notify from other tenants.
            lanes = ctx.lanes
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
    store, out = ctx.batches, []
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
