"""What each event type does: decode it into its type, call the stage, return the events to
publish — adapters only; the logic lives in ``kscribe.stages``.

Shared by the Knative functions and the local runner, so both run the same code. Error
policy: an ``InputError`` fails the job with its message and the event is acknowledged
(a ``job.failed`` event goes out); an event that does not match its job (``EventRejected``,
or data that does not decode) is acknowledged, counted and dropped; anything else
propagates so the delivery is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from kscribe import batches, events, links, metrics
from kscribe.context import Context
from kscribe.errors import EventRejected, InputError
from kscribe.events import ChunkReady, Event, JobCreated, JobTranscribed, MalformedEvent
from kscribe.notices import notice_from_pubsub_message, notice_from_storage_object
from kscribe.stages import extract, ingest, publish, transcribe
from kscribe.stages.announce import announce, fail
from kscribe.stages.dead_letter import dead_letter
from kscribe.stages.diarize import diarize
from kscribe.stages.notify import notify
from kscribe.stages.transcribe import ChunkOutcome
from kscribe.values import JobStatus, ObjectNotice

log = logging.getLogger(__name__)

Handler = Callable[[Event, Context], list[Event]]
_T = TypeVar("_T", JobCreated, ChunkReady, JobTranscribed)


def _rejected(event: Event, exc: EventRejected) -> list[Event]:
    """Drop an event that does not match its job: acknowledged (a retry would not change
    it), logged and counted, never acted on."""
    metrics.EVENTS_REJECTED.labels(metrics.event_type_label(event.type), exc.reason).inc()
    log.warning("rejected %s event %s (%s): %s", event.type, event.id, exc.reason, exc)
    return []


def _malformed(event: Event, exc: MalformedEvent) -> list[Event]:
    """A malformed event is acknowledged, since no retry could ever make it well-formed."""
    return _rejected(event, EventRejected("malformed", f"{exc} in {event.type} event {event.id}"))


def _decode(event: Event, kind: type[_T]) -> _T | None:
    try:
        return kind.from_dict(event.data)
    except MalformedEvent as exc:
        _malformed(event, exc)
        return None


def _job_id(event: Event) -> str | None:
    try:
        return events.job_id_of(event.data)
    except MalformedEvent as exc:
        _malformed(event, exc)
        return None


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
    created = _decode(event, JobCreated)
    if created is None:
        return []
    try:
        chunks = extract(created.job_id, ctx)
    except EventRejected as exc:
        return _rejected(event, exc)
    except InputError as exc:
        return batches.owed_after(ctx, fail(ctx, created.job_id, "extract", exc))
    job = ctx.jobs.get(created.job_id) if chunks else None
    speakers = job is not None and bool(job.speakers)
    return [events.chunk_ready(c, speakers) for c in chunks]


def _chunk_part(event: Event, ctx: Context, stage: str, work: Callable[..., ChunkOutcome]) -> list[Event]:
    """One part of a chunk (its transcript, its voice turns); the last part of the job's
    last chunk announces the job as transcribed."""
    ready = _decode(event, ChunkReady)
    if ready is None:
        return []
    try:
        outcome = work(ready.job_id, ready.index, ctx, claimed=ready.to_dict())
    except EventRejected as exc:
        return _rejected(event, exc)
    except InputError as exc:
        return batches.owed_after(ctx, fail(ctx, ready.job_id, stage, exc))
    return [events.job_transcribed(ready.job_id)] if outcome.announce_transcribed else []


def on_chunk_ready(event: Event, ctx: Context) -> list[Event]:
    return _chunk_part(event, ctx, "transcribe", transcribe)


def on_chunk_voices(event: Event, ctx: Context) -> list[Event]:
    """chunk.ready for the diarize function: a job with speakers gets the chunk's voice turns."""
    return _chunk_part(event, ctx, "diarize", diarize)


def on_job_transcribed(event: Event, ctx: Context) -> list[Event]:
    transcribed = _decode(event, JobTranscribed)
    if transcribed is None:
        return []
    try:
        job = publish(transcribed.job_id, ctx)
    except EventRejected as exc:
        return _rejected(event, exc)
    except InputError as exc:
        return batches.owed_after(ctx, fail(ctx, transcribed.job_id, "publish", exc))
    if job.status is not JobStatus.SUCCEEDED:
        return []
    # The job's batch may be owed its batch.completed even when job.completed went out (a
    # redelivery after that publish, before the batch's).
    produced = [] if "completed" in job.announced else [links.job_completed(job, ctx)]
    return produced + batches.owed_for(ctx, job)


def on_job_finished(event: Event, ctx: Context) -> list[Event]:
    """job.completed / job.failed: the job's signed callback (``kscribe.stages.notify``)."""
    job_id = _job_id(event)
    if job_id is None:
        return []
    try:
        notify(event.type, job_id, ctx)
    except EventRejected as exc:
        return _rejected(event, exc)
    return []


def on_batch_completed(event: Event, ctx: Context) -> list[Event]:
    """batch.completed: the batch's one signed callback (``kscribe.batches.notify``)."""
    try:
        completed = events.BatchCompleted.from_dict(event.data)
    except MalformedEvent as exc:
        return _malformed(event, exc)
    try:
        batches.notify(completed.batch_id, ctx)
    except EventRejected as exc:
        return _rejected(event, exc)
    return []


def on_dead_letter(event: Event, ctx: Context, reason: str, subscriber: str = "") -> list[Event]:
    """An event whose deliveries all failed (``kscribe.stages.dead_letter``); ``subscriber``:
    the stage that gave up, when the dead-letter address names it."""
    if event.type == events.BATCH_COMPLETED:
        # notify never took it: the batch's callback is owed, and the reconciler re-sends it.
        try:
            completed = events.BatchCompleted.from_dict(event.data)
        except MalformedEvent as exc:
            return _malformed(event, exc)
        batches.Batches(ctx).update(
            completed.batch_id, callback_status="failed", callback_error=f"not delivered to notify: {reason}"[:300]
        )
        return []
    job_id = _job_id(event)
    if job_id is None:
        log.error("dead-lettered %s %s has no job: %s", event.type, event.id, reason)
        return []
    try:
        return batches.owed_after(
            ctx, dead_letter(event.type, job_id, event.data.get("index"), reason, ctx, subscriber, requeue=True)
        )
    except EventRejected as exc:
        return _rejected(event, exc)


ROUTES: dict[str, Handler] = {
    events.OBJECT_FINALIZED: on_object_finalized,
    events.PUBSUB_MESSAGE: on_pubsub_message,
    events.JOB_CREATED: on_job_created,
    events.CHUNK_READY: on_chunk_ready,
    events.JOB_TRANSCRIBED: on_job_transcribed,
    events.JOB_COMPLETED: on_job_finished,
    events.JOB_FAILED: on_job_finished,
    events.BATCH_COMPLETED: on_batch_completed,
}

# The stage each handler runs, named when a delivery to it is dead-lettered.
STAGE_OF: dict[Handler, str] = {
    on_job_created: "extract",
    on_chunk_ready: "transcribe",
    on_chunk_voices: "diarize",
    on_job_transcribed: "publish",
    on_job_finished: "notify",
}

# Every subscriber of each event type, as the Triggers have them: chunk.ready goes to both
# transcribe and diarize (which ignores jobs without speakers).
SUBSCRIBERS: dict[str, tuple[Handler, ...]] = {
    **{kind: (handler,) for kind, handler in ROUTES.items()},
    events.CHUNK_READY: (on_chunk_ready, on_chunk_voices),
}
