"""Dead letter: an event whose deliveries all failed fails its job, so nobody waits forever —
unless they failed for lack of capacity (the subscriber answered 429/502/503/504, timed out or
could not be reached: a backlog, a cold start, a scale-up): then the event is queued again,
for as long as the job is younger than KSCRIBE_QUEUE_HORIZON_SECONDS. A backlog is latency,
never a failure."""

from __future__ import annotations

import logging
import re

from kscribe import events
from kscribe.context import Context
from kscribe.errors import EventRejected, InputError
from kscribe.events import FINISHED_STATUS, Event
from kscribe.observability import metrics
from kscribe.pipeline.stages import manifest
from kscribe.pipeline.stages.announce import fail
from kscribe.state import claims
from kscribe.values import Job

log = logging.getLogger(__name__)

# The stages that consume each step's event, the first the one blamed when the dead-letter
# address does not say which subscriber gave up (a Broker-wide sink, an older manifest).
_STAGES_OF = {
    events.JOB_CREATED: ("extract",),
    events.CHUNK_READY: ("transcribe", "diarize"),
    events.JOB_TRANSCRIBED: ("publish",),
}


def _chunk(index: object) -> int | None:
    return index if isinstance(index, int) and not isinstance(index, bool) else None


def _at_step(event_type: str, stage: str, index: object, job: Job, ctx: Context) -> bool:
    """Whether the job still waits on the step a dead-lettered event drove: only then can
    giving up on that event be what stops the job. For chunk.ready, the part of the chunk
    that ``stage`` stores (either part, when the sink did not say whose retries ran out)."""
    if event_type == events.JOB_CREATED:
        return job.status.stage == "extract"
    if event_type == events.CHUNK_READY:
        chunk = _chunk(index)
        if job.status.stage != "transcribe" or chunk is None or not 0 <= chunk < job.chunks_total:
            return False
        transcript_missing = stage != "diarize" and not ctx.jobs.chunk_done(job.id, chunk)
        voices_missing = stage != "transcribe" and bool(job.speakers) and chunk not in ctx.jobs.diarized_chunks(job.id)
        return transcript_missing or voices_missing
    if event_type == events.JOB_TRANSCRIBED:
        return job.status.stage in ("transcribe", "publish") and job.chunks_done >= job.chunks_total > 0
    return False


def _in_progress(event_type: str, stage: str, job_id: str, index: object, ctx: Context) -> bool:
    if event_type == events.JOB_CREATED:
        return ctx.claims.held(claims.extract_work(job_id))
    chunk = _chunk(index)
    if event_type == events.CHUNK_READY and chunk is not None:
        return (stage != "diarize" and ctx.claims.held(claims.chunk_work(job_id, chunk))) or (
            stage != "transcribe" and ctx.claims.held(claims.chunk_voices_work(job_id, chunk))
        )
    return False


# Answers that say "not now" rather than "never": the activator's and queue-proxy's when every
# pod is busy or starting (429, 502, 503, 504), and no answer at all — a timeout or a refused
# connection, which Knative reports without a status code ("?"; 0 from the local broker).
_CAPACITY = re.compile(r"^HTTP (0|\?|429|502|503|504)( |$)")


def for_lack_of_capacity(reason: str) -> bool:
    """Whether a dead-letter ``reason`` (runtime.dead_letter_reason) says the subscriber had
    no room for the event, rather than that it failed on it."""
    return bool(_CAPACITY.match(reason))


def _again(event_type: str, job: Job, index: object, ctx: Context) -> Event | None:
    """The step's event as its stage first published it (a chunk.ready carries the job's
    speakers, which routes it to diarize too)."""
    if event_type == events.JOB_CREATED:
        return events.job_created(job.id)
    if event_type == events.JOB_TRANSCRIBED:
        return events.job_transcribed(job.id)
    chunk, chunks = _chunk(index), manifest.read_chunks(ctx, job.id)
    if event_type == events.CHUNK_READY and chunk is not None and chunks is not None and 0 <= chunk < len(chunks):
        return events.chunk_ready(chunks[chunk], bool(job.speakers))
    return None


def dead_letter(
    event_type: str,
    job_id: str,
    index: object,
    reason: str,
    ctx: Context,
    subscriber: str = "",
    requeue: bool = False,
) -> list[Event]:
    """Give up on an ``event_type`` event for ``job_id`` (``index``: its chunk, if it names
    one) that ``subscriber`` (the stage whose retries ran out, "" if unknown) never took:
    fail the job at that stage if it still waits on that step; note an undelivered callback.
    ``EventRejected`` if the job is unknown or past that step. With ``requeue``, the step's event
    is published again instead when the reason is a lack of capacity."""
    job = ctx.jobs.get(job_id)
    if job is None:
        raise EventRejected("unknown_job", f"dead-lettered event for no job {job_id}")
    if event_type in FINISHED_STATUS and job.status is FINISHED_STATUS[event_type]:
        # notify never took the event: the callback is owed, and the reconciler re-sends it.
        ctx.jobs.update(job.id, callback_status="failed", callback_error=f"not delivered to notify: {reason}"[:300])
        return []
    if job.status.terminal:
        return []  # ended meanwhile: nothing left to fail
    stages = _STAGES_OF.get(event_type, ())
    # A subscriber that does not consume this type (a mistyped sink address) is not believed.
    named = subscriber if subscriber in stages else ""
    if _in_progress(event_type, named, job_id, index, ctx):
        # Only this event's duplicates gave up: the delivery doing the work still holds its
        # claim (and if it dies, the claim expires and the reconciler re-drives the step).
        log.warning("job %s: dead-lettered %s while its work is in progress: %s", job_id, event_type, reason)
        return []
    if not _at_step(event_type, named, index, job, ctx):
        raise EventRejected("mismatch", f"job {job.id} is {job.status.value}, past {event_type}")
    if requeue and for_lack_of_capacity(reason) and ctx.jobs.clock() - job.created_at < ctx.settings.queue_horizon_s:
        again = _again(event_type, job, index, ctx)
        if again is not None:
            metrics.REQUEUED.labels(event_type).inc()
            log.warning("job %s: %s found no capacity (%s): queued again", job_id, event_type, reason)
            return [again]
    metrics.DEAD_LETTERED.labels(event_type if stages else "other").inc()
    stage = named or (stages[0] if stages else "delivery")
    # The detail (a status code, the subscriber's answer) is the operator's: logged, not shown.
    log.error("job %s: gave up delivering %s: %s", job_id, event_type, reason)
    return fail(
        ctx, job_id, stage, InputError(f"the {stage} step kept failing and was given up after its retries"), "delivery"
    )
