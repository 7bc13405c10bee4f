"""Publish: the chunk transcripts of a job → rendered outputs, and the job succeeds."""

from __future__ import annotations

import dataclasses
import logging
import time

from kscribe.asr.languages import spoken_seconds
from kscribe.context import Context
from kscribe.errors import EventRejected, InputError
from kscribe.observability import metrics
from kscribe.pipeline.stages import layout, manifest
from kscribe.storage import is_within, join
from kscribe.storage.notices import META_ROLE
from kscribe.transcript.formats import CONTENT_TYPES, RENDERERS
from kscribe.transcript.merge import merge_chunks
from kscribe.transcript.speakers import SpeakerCount, Turns, label
from kscribe.transcript.vocabulary import apply_replacements
from kscribe.values import ChunkTranscript, Job, JobStatus, Transcript

log = logging.getLogger(__name__)

STAGE = "publish"


def _chunk_transcripts(job: Job, ctx: Context) -> list[ChunkTranscript]:
    chunks = manifest.read_chunks(ctx, job.id)
    if chunks is None:
        log.warning("job %s: no chunk manifest under %s", job.id, ctx.settings.work_uri)
        raise InputError("the job's intermediate files are gone (expired or removed) before it could be published")
    transcripts = []
    for chunk in chunks:
        uri = layout.chunk_transcript(ctx.settings.work_uri, job.id, chunk.index)
        try:
            transcripts.append(ChunkTranscript.from_json(ctx.blobs.read_bytes(uri)))
        except FileNotFoundError:
            # Gone: never written (an inconsistency), or removed because a duplicate publish
            # finished the job meanwhile. As an input error it is ignored for an ended job.
            log.warning("job %s: missing chunk transcript %s", job.id, uri)
            raise InputError(f"the transcript of chunk {chunk.index + 1} is missing") from None
    return transcripts


def _voice_turns(job: Job, ctx: Context) -> Turns:
    """Every chunk's voice turns on the video's timeline (clamped to the chunk, as its words)."""
    chunks = manifest.read_chunks(ctx, job.id) or []
    parts = []
    for chunk in chunks:
        uri = layout.chunk_voices(ctx.settings.work_uri, job.id, chunk.index)
        try:
            turns = Turns.from_bytes(ctx.blobs.read_bytes(uri))
        except FileNotFoundError:
            log.warning("job %s: missing chunk voices %s", job.id, uri)
            raise InputError(f"the voice turns of chunk {chunk.index + 1} are missing") from None
        parts.append(turns.shifted(chunk.start_s, limit=chunk.start_s + chunk.duration_s))
    return Turns.joined(parts)


def _with_speakers(job: Job, transcript: Transcript, ctx: Context) -> Transcript:
    """Cluster all of the job's voice turns at once and label words and segments."""
    started = time.perf_counter()
    count = SpeakerCount(num=job.num_speakers, minimum=job.min_speakers, maximum=job.max_speakers)
    segments = label(transcript.segments, _voice_turns(job, ctx), count)
    ctx.jobs.add_timing(job.id, "speakers", time.perf_counter() - started)
    return dataclasses.replace(transcript, segments=segments)


def publish(job_id: str, ctx: Context) -> Job:
    """Render and write the job's outputs and mark it succeeded; return the job.

    Idempotent: a job that already succeeded (or failed) is returned as it is. Outputs are
    rendered from stored chunk transcripts, so rewriting them gives the same bytes.
    """
    job = ctx.jobs.get(job_id)
    if job is None:
        raise EventRejected("unknown_job", f"no job {job_id} (never created, or expired)")
    if job.status.terminal:
        return job
    # Announced only by the delivery that completed the set of chunks; any other arrival
    # (forged, or a stray copy from before a re-extraction) must not publish half a job.
    if job.chunks_total == 0 or job.chunks_done < job.chunks_total:
        raise EventRejected("early", f"job {job.id} has {job.chunks_done} of {job.chunks_total} chunks transcribed")
    if job.speakers and job.chunks_diarized < job.chunks_total:
        raise EventRejected("early", f"job {job.id} has {job.chunks_diarized} of {job.chunks_total} chunks diarized")
    started = time.perf_counter()
    if not ctx.jobs.advance(job.id, JobStatus.PUBLISHING):
        return ctx.jobs.require(job.id)  # ended since we looked: a duplicate finished it
    ctx.progress.stage(job.id, STAGE, "telling the speakers apart, then writing the outputs" if job.speakers else "")
    transcript = merge_chunks(job, _chunk_transcripts(job, ctx))
    if job.speakers:
        transcript = _with_speakers(job, transcript, ctx)
    replacements = {**dict(ctx.settings.replacements), **job.replacements}
    transcript = dataclasses.replace(transcript, segments=apply_replacements(transcript.segments, replacements))
    shaping = ctx.settings.shaping.replace(job.subtitles)
    outputs = {}
    for fmt in job.formats:
        uri = join(job.output_uri, f"{job.output_stem}.{fmt}")
        ctx.blobs.write_bytes(
            uri,
            RENDERERS[fmt](transcript, shaping).encode("utf-8"),
            CONTENT_TYPES[fmt],
            {META_ROLE: "output", "kscribe-job": job.id},
        )
        outputs[fmt] = uri
    elapsed = time.perf_counter() - started
    ctx.jobs.add_timing(job.id, STAGE, elapsed)
    metrics.STAGE_SECONDS.labels(STAGE).observe(elapsed)
    if ctx.jobs.advance(
        job.id,
        JobStatus.SUCCEEDED,
        outputs=outputs,
        detected_language=transcript.language,
        languages=spoken_seconds(transcript.segments),
        coverage=transcript.coverage,
    ):
        metrics.JOBS.labels("succeeded", "").inc()
    elif _ended_otherwise(ctx, job.id) and is_within(job.output_uri, ctx.settings.output_uri):
        # Cancelled or purged while its outputs were written (a purge found the folder empty
        # or half written, and forgot the job): what was written is nobody's, and goes, as a
        # purge would take it (the job's own folder under kscribe's output, never a CLI's).
        ctx.blobs.delete_prefix(job.output_uri)
        log.info("job %s ended while its outputs were written; removed them", job.id)
    # Safe once succeeded: every stage ignores events of an ended job, so no redelivery
    # reads these again. (On GCS a lifecycle rule also sweeps work objects of failed jobs.)
    ctx.blobs.delete_prefix(layout.job_prefix(ctx.settings.work_uri, job.id))
    return ctx.jobs.require(job.id)


def _ended_otherwise(ctx: Context, job_id: str) -> bool:
    """Whether the job is gone (purged) or ended other than succeeded (cancelled)."""
    ended = ctx.jobs.get(job_id)
    return ended is None or ended.status is not JobStatus.SUCCEEDED
