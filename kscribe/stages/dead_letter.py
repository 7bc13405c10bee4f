"""Dead letter: an event whose deliveries all failed fails its job, so nobody waits forever."""

from __future__ import annotations

import logging

from kscribe import claims, events, metrics
from kscribe.context import Context
from kscribe.errors import EventRejected, InputError
from kscribe.events import Event
from kscribe.stages.announce import fail
from kscribe.stages.notify import FINISHED_STATUS
from kscribe.values import Job, JobStatus

log = logging.getLogger(__name__)

_STAGE_OF = {events.JOB_CREATED: "extract", events.CHUNK_READY: "transcribe", events.JOB_TRANSCRIBED: "publish"}

# chunk.ready has two subscribers, each storing its own part of the chunk.
_PART_OF = {"transcribe": "transcript", "diarize": "voices"}


def _chunk_part(subscriber: str, job: Job, index: int, ctx: Context) -> str:
    """The part of chunk ``index`` whose step gave up: the subscriber's, when the broker
    says which it was; otherwise the voices when they alone are missing."""
    if subscriber in _PART_OF:
        return _PART_OF[subscriber]
    if job.speakers and ctx.jobs.chunk_done(job.id, index) and index not in ctx.jobs.diarized_chunks(job.id):
        return "voices"
    return "transcript"


def _stored(part: str, job: Job, index: int, ctx: Context) -> bool:
    if part == "voices":
        return not job.speakers or index in ctx.jobs.diarized_chunks(job.id)
    return ctx.jobs.chunk_done(job.id, index)


def _at_step(event_type: str, index: object, part: str, job: Job, ctx: Context) -> bool:
    """Whether the job still waits on the step a dead-lettered event drove: only then can
    giving up on that event be what stops the job."""
    if event_type == events.JOB_CREATED:
        return job.status in (JobStatus.QUEUED, JobStatus.EXTRACTING)
    if event_type == events.CHUNK_READY:
        return (
            job.status is JobStatus.TRANSCRIBING
            and isinstance(index, int)
            and not isinstance(index, bool)
            and 0 <= index < job.chunks_total
            and not _stored(part, job, index, ctx)
        )
    if event_type == events.JOB_TRANSCRIBED:
        return job.status in (JobStatus.TRANSCRIBING, JobStatus.PUBLISHING) and job.chunks_done >= job.chunks_total > 0
    return False


def _in_progress(event_type: str, job_id: str, index: object, part: str, ctx: Context) -> bool:
    """Whether the work the event drove is still being done (its part's claim is held):
    transcribe working on a chunk says nothing of diarize on it, nor the other way."""
    if event_type == events.JOB_CREATED:
        return claims.held(ctx.kv, claims.extract_work(job_id))
    if event_type == events.CHUNK_READY and isinstance(index, int) and not isinstance(index, bool):
        work = claims.chunk_voices_work if part == "voices" else claims.chunk_work
        return claims.held(ctx.kv, work(job_id, index))
    return False


def dead_letter(
    event_type: str, job_id: str, index: object, reason: str, ctx: Context, subscriber: str = ""
) -> list[Event]:
    """Give up on an ``event_type`` event for ``job_id`` (``index``: its chunk, if it names
    one) that ``subscriber`` (the function that failed it, "" if unknown) kept failing: fail
    the job if it still waits on that step; note an undelivered callback.
    ``EventRejected`` if the job is unknown or past that step."""
    job = ctx.jobs.get(job_id)
    if job is None:
        raise EventRejected("unknown_job", f"dead-lettered event for no job {job_id}")
    if event_type in FINISHED_STATUS and job.status is FINISHED_STATUS[event_type]:
        # notify never took the event: the callback is owed, and the reconciler re-sends it.
        ctx.jobs.update(job.id, callback_status="failed", callback_error=f"not delivered to notify: {reason}"[:300])
        return []
    if job.status.terminal:
        return []  # ended meanwhile: nothing left to fail
    part = ""
    if event_type == events.CHUNK_READY and isinstance(index, int) and not isinstance(index, bool):
        part = _chunk_part(subscriber, job, index, ctx)
    if _in_progress(event_type, job_id, index, part, ctx):
        # Only this event's duplicates gave up: the delivery doing the work still holds its
        # claim (and if it dies, the claim expires and the reconciler re-drives the step).
        log.warning("job %s: dead-lettered %s while its work is in progress: %s", job_id, event_type, reason)
        return []
    if not _at_step(event_type, index, part, job, ctx):
        raise EventRejected("mismatch", f"job {job.id} is {job.status.value}, past {event_type}")
    metrics.DEAD_LETTERED.labels(event_type if event_type in _STAGE_OF else "other").inc()
    stage = "diarize" if part == "voices" else _STAGE_OF.get(event_type, "delivery")
    # The detail (a status code, the subscriber's answer) is the operator's: logged, not shown.
    log.error("job %s: gave up delivering %s: %s", job_id, event_type, reason)
    return fail(
        ctx, job_id, stage, InputError(f"the {stage} step kept failing and was given up after its retries"), "delivery"
    )
