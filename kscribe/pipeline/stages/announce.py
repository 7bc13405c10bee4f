"""Announce: the event that tells the pipeline where a job stands, until it went out.

Ingest, the API and every stage that fails a job use it; what was published is recorded on
the job, so a redelivery re-announces only what did not reach the broker.
"""

from __future__ import annotations

import logging

from kscribe import events
from kscribe.context import Context
from kscribe.events import Event
from kscribe.observability import metrics
from kscribe.values import Job, JobStatus

log = logging.getLogger(__name__)

# What a published event says about its job, recorded once the publish succeeded.
ANNOUNCES = {
    events.JOB_CREATED: "created",
    events.JOB_TRANSCRIBED: "transcribed",
    events.JOB_COMPLETED: "completed",
    events.JOB_FAILED: "failed",
}


def record_announced(published: list[Event], ctx: Context) -> None:
    """Call after ``published`` reached the broker: a redelivery then re-announces only what
    did not (see ``announce``)."""
    for event in published:
        if event.type == events.BATCH_COMPLETED and isinstance(event.data, dict):
            ctx.batches.mark_announced(str(event.data.get("batch_id", "")))
            continue
        what = ANNOUNCES.get(event.type)
        job_id = event.data.get("job_id") if isinstance(event.data, dict) else None
        if what and isinstance(job_id, str):
            ctx.jobs.mark_announced(job_id, what)


def announce(job: Job) -> list[Event]:
    """The event that tells the pipeline where ``job`` stands, unless it was published:
    job.created for a queued job, job.failed for a failed one (ingest, api and every stage
    that fails a job). Whatever the job's age — a lost announcement is never waited out."""
    if job.status is JobStatus.FAILED and "failed" not in job.announced:
        return [events.job_failed(job.id, job.failed_stage, job.error)]
    if job.status is JobStatus.QUEUED and "created" not in job.announced:
        return [events.job_created(job.id)]
    return []


def fail(ctx: Context, job_id: str, stage: str, error: Exception, metric_reason: str = "") -> list[Event]:
    """Record ``error`` as the job's failure in ``stage`` (once) and return its job.failed."""
    reason = str(error)
    if ctx.jobs.fail(job_id, reason, stage):
        metrics.JOBS.labels("failed", metric_reason or metrics.failure_reason(error)).inc()
        log.warning("job %s failed in %s: %s", job_id, stage, reason)
        ctx.progress.stage(job_id, "failed", reason)
    job = ctx.jobs.get(job_id)
    # Announced until it is: a redelivery after the failure was recorded but not published
    # publishes it then.
    return announce(job) if job is not None and job.status is JobStatus.FAILED else []
