"""The reconciler: what makes a lost event harmless, and only a lost one.

Delivery is at least once only while everything holds: a broker pod restarts with events in
memory, a worker dies between recording its work and publishing what follows, notify is down
when a job finishes. Every minute (a PingSource in production, the local runner on one
machine) the reconciler looks at the unfinished jobs that have not moved for their step's
lease and asks the delivery ledger whether their work is still somewhere:

- **in flight**: a worker holds the step's claim (kscribe/state/claims.py), renewed while it lives;
- **queued**: the stage's workers are taking or holding work (their beat is younger than the
  step's lease) — a backlog drains in turn, and a job waiting for capacity is not stalled;
- **lost**: neither — no claim, and the stage has been idle for a whole lease.

Only lost work is published again, and only the piece that was lost::

    queued, extracting      → job.created
    transcribing            → chunk.ready for each chunk not yet stored and not held, or
                              job.transcribed when every chunk is stored
    publishing              → job.transcribed

so a chunk has at most one delivery outstanding from the reconciler at a time. ``redrives``
counts re-drives that found work lost and restarts from zero whenever the job makes progress
(a chunk stored, a step reached): a job fails with "no progress after N re-drives" only
when its work was really lost N times in a row. Finished jobs that owe a callback get
job.completed / job.failed again until notify delivers it, the receiver refuses it for good,
or the re-send window closes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from kscribe import events
from kscribe.context import Context
from kscribe.delivery import links
from kscribe.events import Event
from kscribe.observability import metrics
from kscribe.pipeline import batches, retention
from kscribe.pipeline.stages import manifest
from kscribe.settings import Settings
from kscribe.state import claims
from kscribe.values import STAGE_OF_STATUS, Job, JobStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pass:
    """What one reconciler pass did."""

    events: list[Event]
    redriven: dict[str, str]  # job id → stage
    failed: list[str]
    callbacks: list[str]
    purged: list[str] = field(default_factory=list)
    # Jobs past their lease whose work is queued or in flight: left alone.
    waiting: list[str] = field(default_factory=list)


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


# The stages whose workers take a step's events (chunk.ready goes to diarize too, for a job
# with speakers).
_WORKERS = {"extract": ("extract",), "transcribe": ("transcribe", "diarize"), "publish": ("publish",)}


def _draining(stage: str, ctx: Context, now: float) -> bool:
    """Whether the stage's queue is moving: one of its workers took or held work within the
    step's lease."""
    lease = base_lease(ctx.settings, stage)
    # A beat after ``now`` (taken while this pass ran) counts too: the stage is alive.
    return any(now - ctx.claims.last_beat(worker) < lease for worker in _WORKERS[stage])


def _drive(job: Job, ctx: Context, now: float, evidence: bool) -> list[Event]:
    """The events that make the job's lost work happen again; none when all of it is in
    flight or queued (``evidence``: ask the ledger; without it, everything missing is lost)."""
    stage = STAGE_OF_STATUS[job.status]
    queued = evidence and _draining(stage, ctx, now)
    if stage == "extract":
        if evidence and (queued or ctx.claims.held(claims.extract_work(job.id))):
            return []
        return [events.job_created(job.id)]
    if stage == "publish":
        return [] if queued else [events.job_transcribed(job.id)]
    stored = job.chunks_done >= job.chunks_total > 0 and (not job.speakers or job.chunks_diarized >= job.chunks_total)
    if queued and not stored:
        return []  # chunks wait in line: no need to read the manifest (a backlog costs no storage reads)
    chunks = manifest.read_chunks(ctx, job.id)
    if chunks is None:
        # Transcribing without a manifest: extraction's objects are gone; extract again.
        return [events.job_created(job.id)]
    done = ctx.jobs.done_chunks(job.id)
    voiced = ctx.jobs.diarized_chunks(job.id) if job.speakers else done
    # chunk.ready drives both parts; the one already stored is a duplicate check.
    missing = [c for c in chunks if c.index not in done or c.index not in voiced]
    if not missing:
        return [events.job_transcribed(job.id)]
    if evidence:
        if queued:
            return []
        missing = [
            c
            for c in missing
            if not ctx.claims.held(claims.chunk_work(job.id, c.index))
            and not (job.speakers and ctx.claims.held(claims.chunk_voices_work(job.id, c.index)))
        ]
    # With the job's speakers, as extract sent it: the attribute routes it to diarize too.
    return [events.chunk_ready(c, bool(job.speakers)) for c in missing]


def _redrive_jobs(ctx: Context, now: float, only: Iterable[str] | None, result: Pass) -> None:
    settings = ctx.settings
    shortest = min(base_lease(settings, s) for s in set(STAGE_OF_STATUS.values()))
    candidates = list(only) if only is not None else ctx.jobs.quiet_jobs(now - shortest)
    lost = 0
    for job_id in candidates:
        job = ctx.jobs.get(job_id)
        if job is None or job.status.terminal:
            continue
        stage = STAGE_OF_STATUS[job.status]
        if only is None and not _due(job, stage, settings, now):
            continue
        driving = _drive(job, ctx, now, evidence=only is None)
        if not driving:
            # Queued or in flight: a wait, not a loss. Look again after another lease.
            ctx.jobs.note_redrive(job.id, now, lost=False)
            result.waiting.append(job.id)
            continue
        lost += 1
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
        if ctx.jobs.note_redrive(job.id, now) < 0:
            continue  # expired meanwhile
        metrics.REDRIVES.labels(stage).inc()
        log.warning(
            "job %s quiet at %s since %.0f s with its work lost: re-driving (%d event(s), re-drive %d of %d)",
            job.id,
            stage,
            now - max(job.updated_at, job.redriven_at),
            len(driving),
            job.redrives + 1,
            settings.max_redrives,
        )
        result.redriven[job.id] = stage
        result.events.extend(driving)
    if only is None:
        # kscribe_jobs_stuck: jobs whose work this pass found lost (not those merely queued).
        ctx.jobs.record_jobs_lost(lost)


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
        # Jobs whose own retention period is over (kscribe/pipeline/retention.py).
        result.purged.extend(retention.purge_expired(ctx, now))
    return result
