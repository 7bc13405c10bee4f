"""What each event type does: decode, call the stage, return the events to publish.

Shared by the Knative functions and the local runner, so both run the same code. Error
policy: an ``InputError`` fails the job with its message and the event is acknowledged
(a ``job.failed`` event goes out); anything else propagates so the delivery is retried.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from kscribe import callbacks, events, links, metrics
from kscribe.context import Context
from kscribe.errors import EventRejected, InputError
from kscribe.events import Event
from kscribe.notices import notice_from_pubsub_message, notice_from_storage_object
from kscribe.settings import Settings
from kscribe.stages import extract, ingest, publish, transcribe
from kscribe.tenants import Tenants
from kscribe.values import Job, JobStatus, ObjectNotice

log = logging.getLogger(__name__)

Handler = Callable[[Event, Context], list[Event]]


_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def _rejected(event: Event, exc: EventRejected) -> list[Event]:
    """Drop an event that does not match its job: acknowledged (a retry would not change
    it), logged and counted, never acted on."""
    metrics.EVENTS_REJECTED.labels(metrics.event_type_label(event.type), exc.reason).inc()
    log.warning("rejected %s event %s (%s): %s", event.type, event.id, exc.reason, exc)
    return []


def _job_id(event: Event) -> str | None:
    """The event's job, or None (logged and counted): a malformed event is acknowledged,
    since no retry could ever make it well-formed."""
    job_id = event.data.get("job_id") if isinstance(event.data, dict) else None
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        _rejected(event, EventRejected("malformed", f"no valid job_id in {event.type} event {event.id}"))
        return None
    return job_id


def _failed(ctx: Context, job_id: str, stage: str, error: Exception, metric_reason: str = "") -> list[Event]:
    reason = str(error)
    if ctx.jobs.fail(job_id, reason, stage):
        metrics.JOBS.labels("failed", metric_reason or metrics.failure_reason(error)).inc()
        log.warning("job %s failed in %s: %s", job_id, stage, reason)
        ctx.progress.stage(job_id, "failed", reason)
    job = ctx.jobs.get(job_id)
    # Announced until it is: a redelivery after the failure was recorded but not published
    # publishes it then.
    return announce(job) if job is not None and job.status is JobStatus.FAILED else []


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


def on_object_finalized(event: Event, ctx: Context) -> list[Event]:
    try:
        notice = notice_from_storage_object(event.data)
    except ValueError as exc:
        return _rejected(event, EventRejected("malformed", f"malformed storage notification: {exc}"))
    return _ingest(event, notice, ctx)


def _ingest(event: Event, notice: ObjectNotice, ctx: Context) -> list[Event]:
    try:
        result = ingest(notice, ctx)
    except EventRejected as exc:
        return _rejected(event, exc)
    return announce(result.job) if result.job else []


def on_pubsub_message(event: Event, ctx: Context) -> list[Event]:
    message = event.data.get("message") if isinstance(event.data, dict) else None
    try:
        notice = notice_from_pubsub_message(message or {})
    except ValueError as exc:
        return _rejected(event, EventRejected("malformed", f"malformed Pub/Sub storage notification: {exc}"))
    return _ingest(event, notice, ctx) if notice else []


def on_job_created(event: Event, ctx: Context) -> list[Event]:
    job_id = _job_id(event)
    if job_id is None:
        return []
    try:
        chunks = extract(job_id, ctx)
    except EventRejected as exc:
        return _rejected(event, exc)
    except InputError as exc:
        return _failed(ctx, job_id, "extract", exc)
    return [events.chunk_ready(c.to_dict()) for c in chunks]


def on_chunk_ready(event: Event, ctx: Context) -> list[Event]:
    job_id = _job_id(event)
    if job_id is None:
        return []
    index = event.data.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return _rejected(event, EventRejected("malformed", f"chunk event {event.id} without a valid index"))
    try:
        outcome = transcribe(job_id, index, ctx, claimed=event.data)
    except EventRejected as exc:
        return _rejected(event, exc)
    except InputError as exc:
        return _failed(ctx, job_id, "transcribe", exc)
    return [events.job_transcribed(job_id)] if outcome.announce_transcribed else []


def on_job_transcribed(event: Event, ctx: Context) -> list[Event]:
    job_id = _job_id(event)
    if job_id is None:
        return []
    try:
        job = publish(job_id, ctx)
    except EventRejected as exc:
        return _rejected(event, exc)
    except InputError as exc:
        return _failed(ctx, job_id, "publish", exc)
    if job.status is not JobStatus.SUCCEEDED or "completed" in job.announced:
        return []
    return [links.job_completed(job, ctx)]


def callback_payload(event_type: str, job: Job) -> dict[str, Any]:
    """What a callback receiver gets: enough to act without calling back."""
    return {
        "type": event_type,
        "job_id": job.id,
        "status": job.status.value,
        "source": job.source_uri,
        "outputs": job.outputs,
        "duration_s": job.duration_s,
        "language": job.detected_language,
        "model": job.model,
        "error": job.error,
        "failed_stage": job.failed_stage,
        "metadata": job.metadata,
    }


_FINISHED_STATUS = {events.JOB_COMPLETED: JobStatus.SUCCEEDED, events.JOB_FAILED: JobStatus.FAILED}


def _callback_secret(job: Job, ctx: Context) -> str:
    """A tenant's jobs are signed with the tenant's own secret, so no tenant can sign what
    another's webhook accepts; bucket uploads of nobody's with the installation's."""
    if not job.tenant:
        return ctx.settings.callback_secret
    tenant = Tenants(ctx.kv).get(job.tenant)
    return tenant.callback_secret if tenant else ""


def on_job_finished(event: Event, ctx: Context) -> list[Event]:
    """Send the job's signed callback, once it has delivered; record the outcome on the job."""
    job_id = _job_id(event)
    job = ctx.jobs.get(job_id) if job_id else None
    if job_id and job is None:
        return _rejected(event, EventRejected("unknown_job", f"no job {job_id}"))
    if job is None or not job.callback_url or job.callback_status == "delivered":
        return []
    if job.status is not _FINISHED_STATUS.get(event.type):
        return _rejected(
            event, EventRejected("mismatch", f"job {job.id} is {job.status.value}, not as {event.type} says")
        )
    settings = ctx.settings
    secret = _callback_secret(job, ctx)
    if not secret:
        outcome = callbacks.CallbackOutcome(False, 0, 0, "no callback secret configured for this job's tenant")
    else:
        outcome = callbacks.send(
            job.callback_url,
            links.with_callback_links(callback_payload(event.type, job), job, ctx),
            secret,
            event.type,
            allow=settings.callback_allow,
            attempts=settings.callback_attempts,
            backoff_s=settings.callback_backoff_s,
        )
    ctx.jobs.update(
        job.id,
        callback_status="delivered" if outcome.delivered else "failed",
        callback_attempts=job.callback_attempts + outcome.attempts,
        callback_error=outcome.error,
    )
    if outcome.delivered or outcome.final:
        ctx.jobs.callback_due_at(job.id, None)
    else:
        # The receiver is down or failing: the reconciler sends again later.
        ctx.jobs.callback_due_at(job.id, ctx.jobs.clock() + callback_resend_delay(ctx.settings, job.callback_attempts))
        log.warning("job %s: callback to %s failed: %s", job.id, job.callback_url, outcome.error)
    return []


def callback_resend_delay(settings: Settings, attempts_so_far: int) -> float:
    """When to try an undelivered callback again: doubling from the base lease, at most an
    hour apart, for as long as the re-send window lasts."""
    return min(
        3600.0, float(settings.redrive_after_s) * 2.0 ** min(attempts_so_far // max(1, settings.callback_attempts), 6)
    )


_STAGE_OF = {events.JOB_CREATED: "extract", events.CHUNK_READY: "transcribe", events.JOB_TRANSCRIBED: "publish"}


def _at_step(event: Event, job: Job, ctx: Context) -> bool:
    """Whether the job still waits on the step a dead-lettered event drove: only then can
    giving up on that event be what stops the job."""
    if event.type == events.JOB_CREATED:
        return job.status in (JobStatus.QUEUED, JobStatus.EXTRACTING)
    if event.type == events.CHUNK_READY:
        index = event.data.get("index")
        return (
            job.status is JobStatus.TRANSCRIBING
            and isinstance(index, int)
            and not isinstance(index, bool)
            and 0 <= index < job.chunks_total
            and not ctx.jobs.chunk_done(job.id, index)
        )
    if event.type == events.JOB_TRANSCRIBED:
        return job.status in (JobStatus.TRANSCRIBING, JobStatus.PUBLISHING) and job.chunks_done >= job.chunks_total > 0
    return False


def on_dead_letter(event: Event, ctx: Context, reason: str) -> list[Event]:
    """An event whose deliveries all failed: fail its job, so nobody waits forever."""
    job_id = _job_id(event)
    if job_id is None:
        log.error("dead-lettered %s %s has no job: %s", event.type, event.id, reason)
        return []
    job = ctx.jobs.get(job_id)
    if job is None:
        return _rejected(event, EventRejected("unknown_job", f"dead-lettered event for no job {job_id}"))
    if event.type in _FINISHED_STATUS and job.status is _FINISHED_STATUS[event.type]:
        # notify never took the event: the callback is owed, and the reconciler re-sends it.
        ctx.jobs.update(job.id, callback_status="failed", callback_error=f"not delivered to notify: {reason}"[:300])
        return []
    if job.status.terminal:
        return []  # ended meanwhile: nothing left to fail
    if not _at_step(event, job, ctx):
        return _rejected(event, EventRejected("mismatch", f"job {job.id} is {job.status.value}, past {event.type}"))
    metrics.DEAD_LETTERED.labels(event.type if event.type in _STAGE_OF else "other").inc()
    stage = _STAGE_OF.get(event.type, "delivery")
    # The detail (a status code, the subscriber's answer) is the operator's: logged, not shown.
    log.error("job %s: gave up delivering %s: %s", job_id, event.type, reason)
    return _failed(
        ctx, job_id, stage, InputError(f"the {stage} step kept failing and was given up after its retries"), "delivery"
    )


ROUTES: dict[str, Handler] = {
    events.OBJECT_FINALIZED: on_object_finalized,
    events.PUBSUB_MESSAGE: on_pubsub_message,
    events.JOB_CREATED: on_job_created,
    events.CHUNK_READY: on_chunk_ready,
    events.JOB_TRANSCRIBED: on_job_transcribed,
    events.JOB_COMPLETED: on_job_finished,
    events.JOB_FAILED: on_job_finished,
}
