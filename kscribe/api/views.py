"""What the API shows of a job, and the tenant and quota look-ups its routes share."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kscribe.api.http import BASE, ApiError
from kscribe.context import Context
from kscribe.tenancy.apikeys import ApiKey
from kscribe.tenancy.tenants import Tenant, Tenants
from kscribe.transcript.merge import own_segments
from kscribe.transcript.vocabulary import apply_replacements
from kscribe.values import ChunkTranscript, Job, JobStatus


def iso8601(epoch_s: float) -> str | None:
    """``epoch_s`` as ISO 8601 in UTC to the millisecond ("2026-12-07T19:23:16.123Z"); None for 0."""
    if not epoch_s:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_view(job: Job, queue: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the API shows of a job; ``queue`` (kscribe/pipeline/backlog.py ``queue_view``): its place
    in line and estimated start while it waits, None once its first chunk is on a worker."""
    failed = job.status is JobStatus.FAILED
    return {
        "id": job.id,
        "status": job.status.value,
        "progress": job.progress,
        "source": job.source_uri,
        "model": job.model,
        "language": job.language,
        "task": job.task,
        "formats": list(job.formats),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "created_at_iso": iso8601(job.created_at),
        "updated_at_iso": iso8601(job.updated_at),
        "duration_s": job.duration_s,
        "chunks": {
            "total": job.chunks_total,
            "done": job.chunks_done,
            # Chunks on a worker: how many seconds of each its decoder has come through.
            "decoding": [{"index": i, "decoded_s": s} for i, s in sorted(job.decoding.items())],
        },
        "transcribed_s": round(job.decoded_s, 3),
        "origin": job.origin or None,
        "queue": queue,
        "timings": job.timings,
        "detected_language": job.detected_language or None,
        # failed_stage is the record's, job.failed's and the callback's name; error.stage is
        # the same value under its former name (deprecated, kept for one more release).
        "failed_stage": job.failed_stage if failed else None,
        "error": {"message": job.error, "stage": job.failed_stage} if failed else None,
        "multilingual": job.multilingual,
        "languages": job.languages,
        "coverage": job.coverage or None,
        "outputs": job.outputs,
        "metadata": job.metadata,
        "prompt": job.prompt or None,
        "hotwords": job.hotwords or None,
        "replacements": job.replacements,
        "subtitles": job.subtitles,
        "channels": job.channels,
        "channels_note": job.channels_note or None,
        "speakers": (
            {k: v for k, v in (("num", job.num_speakers), ("min", job.min_speakers), ("max", job.max_speakers)) if v}
            | {"diarized_chunks": job.chunks_diarized}
            if job.speakers
            else None
        ),
        "speaker_names": job.speaker_names,
        "audio_track": job.audio_track or None,
        "audio_track_used": job.audio_track_used or None,
        "retention_days": job.retention_days or None,
        "batch_id": job.batch_id or None,
        "status_url": f"{BASE}/{job.id}",
        "callback": callback_view(job.callback_url, job.callback_status, job.callback_attempts, job.callback_error),
    }


def chunk_view(chunk: ChunkTranscript, replacements: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A chunk's own text as transcribed, on the media's timeline, before the job's merge: its
    words by merge's own rule (the padding's belong to its neighbours), with the job's
    custom spellings applied as its outputs will have them."""
    own = [s for s in apply_replacements(own_segments(chunk), replacements or {}) if s.text.strip()]
    segments = [
        {
            "start": round(chunk.start_s + s.start, 3),
            "end": round(chunk.start_s + s.end, 3),
            "text": s.text.strip(),
            "speaker": s.speaker or None,
        }
        for s in own
    ]
    return {
        "index": chunk.index,
        "start_s": chunk.start_s,
        "duration_s": chunk.duration_s,
        "channel": chunk.channel,
        "text": " ".join(s.text.strip() for s in own),
        "segments": segments,
    }


def own_job(ctx: Context, key: ApiKey, job_id: str) -> Job:
    job = ctx.jobs.get(job_id)
    # Another tenant's job answers exactly as a missing one: its existence is not told.
    if job is None or job.tenant != key.tenant:
        raise ApiError(404, "not_found", f"no transcription {job_id}")
    return job


def tenant_of(tenants: Tenants, key: ApiKey) -> Tenant:
    return tenants.get(key.tenant) or Tenant(key.tenant)


def check_quota(ctx: Context, tenant: Tenant) -> None:
    """429 when the tenant has its most unfinished jobs or has used today's audio."""
    settings = ctx.settings
    if 0 < (limit := Tenants.max_active_jobs(settings, tenant)) <= ctx.jobs.tenant_active_count(tenant.name):
        raise ApiError(
            429,
            "quota_exceeded",
            f"tenant {tenant.name} already has {limit} unfinished jobs",
            {"Retry-After": "60"},
        )
    check_audio_allowance(ctx, tenant)


def check_audio_allowance(ctx: Context, tenant: Tenant) -> None:
    """429 when the tenant has used today's hours of audio."""
    if (used := ctx.jobs.audio_used_today(tenant.name)) >= (limit := Tenants.audio_limit_s(ctx.settings, tenant)) > 0:
        raise ApiError(
            429,
            "quota_exceeded",
            f"today's {limit / 3600:g} hours of audio are used ({used / 3600:.2f} h); "
            "the allowance renews at 00:00 UTC",
        )


def callback_view(url: str, status: str, attempts: int, error: str) -> dict[str, Any] | None:
    """A job's or a batch's callback as the API shows it (None: it asked for none)."""
    if not url:
        return None
    return {"url": url, "status": status or None, "attempts": attempts, "error": error or None}
