"""The reconciler: what makes a lost event harmless.

Delivery is at least once only while everything holds: a broker pod restarts with events in
memory, a worker dies between recording its work and publishing what follows, notify is down
when a job finishes. Every minute (a PingSource in production, the local runner on one
machine) the reconciler looks at the unfinished jobs that have not moved for their step's
lease and publishes again the event that drives that step:

    queued, extracting      → job.created
    transcribing            → chunk.ready for every chunk not yet stored (its transcript,
                              and its voice turns for a job with speakers), or job.transcribed
    publishing              → job.transcribed

The stages are idempotent, so re-driving work that was merely slow costs a duplicate check.
A job re-driven ``max_redrives`` times without moving fails with the reason. Finished jobs
that owe a callback get job.completed / job.failed again until notify delivers it, the
receiver refuses it for good, or the re-send window closes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from kscribe import batches, events, links, metrics, retention
from kscribe.context import Context
from kscribe.events import Event
from kscribe.settings import Settings
from kscribe.stages import manifest
from kscribe.values import Job, JobStatus

log = logging.getLogger(__name__)

_STAGE = {
    JobStatus.QUEUED: "extract",
    JobStatus.EXTRACTING: "extract",
    JobStatus.TRANSCRIBING: "transcribe",
    JobStatus.PUBLISHING: "publish",
}


@dataclass(frozen=True)
class Pass:
    """What one reconciler pass did."""

    events: list[Event]
    redriven: dict[str, str]  # job id → stage
    failed: list[str]
    callbacks: list[str]
    purged: list[str] = field(default_factory=list)


def base_lease(settings: Settings, stage: str) -> float:
    override = {
        "extract": settings.redrive_extract_s,
        "transcribe": settings.redrive_transcribe_s,
        "publish": settings.redrive_publish_s,
    }.get(stage, 0.0)
    return override or settings.redrive_after_s


def _due(job: Job, stage: str, settings: Settings, now: float) -> bool:
    """Has the job's step been quiet past its lease? The clock runs from its last progress
    (or the last re-drive), and a worker may have asked for longer (``lease_until``)."""
    quiet_since = max(job.updated_at, job.redriven_at)
    return now >= max(quiet_since + base_lease(settings, stage), job.lease_until)


def _drive(job: Job, ctx: Context) -> list[Event]:
    """The events that make the job's current step happen again."""
    if job.status in (JobStatus.QUEUED, JobStatus.EXTRACTING):
        return [events.job_created(job.id)]
    if job.status is JobStatus.PUBLISHING:
        return [events.job_transcribed(job.id)]
    chunks = manifest.read_chunks(ctx, job.id)
    if chunks is None:
        # Transcribing without a manifest: extraction's objects are gone; extract again.
        return [events.job_created(job.id)]
    done = ctx.jobs.done_chunks(job.id)
    if job.speakers:
        # chunk.ready drives both parts; the one already stored is a duplicate check.
        done &= ctx.jobs.diarized_chunks(job.id)
    missing = [c for c in chunks if c.index not in done]
    if not missing:
        return [events.job_transcribed(job.id)]
    # With the job's speakers, as extract sent it: the attribute routes it to diarize too.
    return [events.chunk_ready(c, bool(job.speakers)) for c in missing]


def _redrive_jobs(ctx: Context, now: float, only: Iterable[str] | None, result: Pass) -> None:
    settings = ctx.settings
    shortest = min(base_lease(settings, s) for s in ("extract", "transcribe", "publish"))
    candidates = list(only) if only is not None else ctx.jobs.quiet_jobs(now - shortest)
    for job_id in candidates:
        job = ctx.jobs.get(job_id)
        if job is None or job.status.terminal:
            continue
        stage = _STAGE[job.status]
        if only is None and not _due(job, stage, settings, now):
            continue
        if job.redrives >= settings.max_redrives:
            if stage == "transcribe" and job.speakers and job.chunks_done >= job.chunks_total > 0:
                stage = "diarize"  # every transcript is stored: the job waits on voices alone
            reason = f"no progress after {job.redrives} re-drives at {stage}"
            if ctx.jobs.fail(job.id, reason, stage):
                metrics.JOBS.labels("failed", "redrive_exhausted").inc()
                log.error("job %s failed: %s", job.id, reason)
                result.failed.append(job.id)
                result.events.append(events.job_failed(job.id, stage, reason))
            continue
        driving = _drive(job, ctx)
        if ctx.jobs.note_redrive(job.id, now) < 0:
            continue  # expired meanwhile
        metrics.REDRIVES.labels(stage).inc()
        log.warning(
            "job %s quiet at %s since %.0f s: re-driving (%d event(s), re-drive %d of %d)",
            job.id,
            stage,
            now - max(job.updated_at, job.redriven_at),
            len(driving),
            job.redrives + 1,
            settings.max_redrives,
        )
        result.redriven[job.id] = stage
        result.events.extend(driving)


_FINISHED = {JobStatus.SUCCEEDED: events.JOB_COMPLETED, JobStatus.FAILED: events.JOB_FAILED}


def _resend_callbacks(ctx: Context, now: float, result: Pass) -> None:
    settings = ctx.settings
    for job_id in ctx.jobs.callbacks_due(now):
        job = ctx.jobs.get(job_id)
        if job is None or job.callback_status == "delivered" or job.status not in _FINISHED:
            ctx.jobs.callback_due_at(job_id, None)
            continue
        if job.callback_status == "" and now < job.updated_at + base_lease(settings, "notify"):
            continue  # the first send is still notify's to make
        if now > job.updated_at + settings.callback_resend_s:
            ctx.jobs.callback_due_at(job_id, None)
            ctx.jobs.update(
                job.id,
                callback_status="failed",
                callback_error=(job.callback_error + "; " if job.callback_error else "")
                + f"gave up re-sending after {settings.callback_resend_s:g} s",
            )
            continue
        # notify reschedules it when this attempt fails too; until then, not again this soon.
        ctx.jobs.callback_due_at(job_id, now + base_lease(settings, "notify"))
        metrics.REDRIVES.labels("notify").inc()
        result.callbacks.append(job.id)
        result.events.append(_finished_event(job, ctx))


def _finished_event(job: Job, ctx: Context) -> Event:
    if job.status is JobStatus.FAILED:
        return events.job_failed(job.id, job.failed_stage, job.error)
    return links.job_completed(job, ctx)


def reconcile(ctx: Context, now: float | None = None, only: Iterable[str] | None = None) -> Pass:
    """One pass. ``only`` (the local runner's own jobs) re-drives those at once, whatever
    their lease: in one process, a job still unfinished after every event was handled will
    not move by itself."""
    now = ctx.jobs.clock() if now is None else now
    result = Pass(events=[], redriven={}, failed=[], callbacks=[])
    _redrive_jobs(ctx, now, only, result)
    # A job this pass failed may have been its batch's last.
    result.events[:] = batches.owed_after(ctx, result.events)
    if only is None:
        _resend_callbacks(ctx, now, result)
        # Finished batches whose batch.completed was lost, or whose callback is undelivered.
        result.events.extend(batches.redrive(ctx, now, base_lease(ctx.settings, "notify")))
        # Jobs whose own retention period is over (kscribe/retention.py).
        result.purged.extend(retention.purge_expired(ctx, now))
    return result
