"""Diarize: one chunk of a job with speakers → its speech turns and voice embeddings in work
storage, beside the chunk's transcript. Publish clusters them for the whole job."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from kscribe.context import Context
from kscribe.errors import EventRejected, InputError
from kscribe.observability import metrics
from kscribe.pipeline.stages import layout, manifest
from kscribe.pipeline.stages.chunk_audio import ChunkOutcome, load_chunk_audio, matches, own_audio
from kscribe.ports import ChunkCompletion
from kscribe.state import claims
from kscribe.values import Chunk, Job

log = logging.getLogger(__name__)

STAGE = "diarize"


def diarize(job_id: str, index: int, ctx: Context, claimed: Mapping[str, Any] | None = None) -> ChunkOutcome:
    """Find the speech turns of chunk ``index`` and embed each, unless they are stored, then
    record the chunk's voices done. A job without speakers is left alone; ``claimed`` must
    agree with the stored chunk, else ``EventRejected``.

    Idempotent like ``transcribe``: a redelivery reuses what is stored, a duplicate running
    at the same time waits on the claim, a job that ends meanwhile gets nothing written.
    """
    job = ctx.jobs.get(job_id)
    if job is None:
        raise EventRejected("unknown_job", f"no job {job_id} (never created, or expired)")
    if job.status.terminal or not job.speakers:
        return ChunkOutcome(announce_transcribed=False, transcribed=False)
    chunks = manifest.read_chunks(ctx, job.id)
    if chunks is None or not 0 <= index < len(chunks):
        raise EventRejected("early", f"job {job.id} has no stored chunk {index}")
    chunk = chunks[index]
    if claimed is not None and not matches(claimed, chunk):
        raise EventRejected("mismatch", f"the event's chunk {index} of job {job.id} is not the stored one")
    result_uri = layout.chunk_voices(ctx.settings.work_uri, job.id, chunk.index)
    if ctx.blobs.stat(result_uri) is not None:
        return _stored(job, chunk, ctx, did=False)
    with ctx.claims.claim(claims.chunk_voices_work(job.id, chunk.index), ctx.settings.claim_lease_s, STAGE):
        if ctx.blobs.stat(result_uri) is not None:  # stored by the claim's previous holder
            return _stored(job, chunk, ctx, did=False)
        ctx.jobs.extend_lease(job.id, chunk.duration_s / ctx.settings.transcribe_min_speed)
        ctx.progress.stage(job.id, "speakers", f"finding voices in chunk {chunk.index + 1}/{chunk.count}")
        started = time.perf_counter()
        try:
            audio = own_audio(chunk, load_chunk_audio(chunk, ctx))
        except FileNotFoundError as exc:
            raise InputError(
                f"the audio of chunk {chunk.index + 1} is gone (the job's intermediate files expired or were removed)"
            ) from exc
        turns = ctx.voices.turns(audio)
        seconds = time.perf_counter() - started
        if ctx.jobs.require(job.id).status.terminal:
            return ChunkOutcome(announce_transcribed=False, transcribed=True)
        ctx.blobs.write_bytes(result_uri, turns.to_bytes(), "application/octet-stream", manifest.WORK_METADATA)
        metrics.STAGE_SECONDS.labels(STAGE).observe(seconds)
        ctx.jobs.add_timing(job.id, STAGE, seconds)
        ctx.progress.stage(
            job.id, "speakers", f"chunk {chunk.index + 1}/{chunk.count}: {len(turns)} voice turn(s) in {seconds:.1f} s"
        )
        log.info(
            "job %s chunk %d/%d: %d voice turns in %.1f s of audio, %.2f s",
            job.id,
            chunk.index + 1,
            chunk.count,
            len(turns),
            chunk.duration_s,
            seconds,
        )
        return _stored(job, chunk, ctx, did=True)


def _stored(job: Job, chunk: Chunk, ctx: Context, did: bool) -> ChunkOutcome:
    completion = ctx.jobs.complete_chunk(job.id, chunk.index, chunk.count, 0.0, part="voices", speakers=True)
    return ChunkOutcome(_announce(job, completion), transcribed=did)


def _announce(job: Job, completion: ChunkCompletion) -> bool:
    return completion.complete and "transcribed" not in job.announced
