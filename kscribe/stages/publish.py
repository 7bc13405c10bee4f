"""Publish: the chunk transcripts of a job → rendered outputs, and the job succeeds."""

from __future__ import annotations

import json
import time

from kscribe import metrics
from kscribe.context import Context
from kscribe.errors import InputError
from kscribe.formats import CONTENT_TYPES, RENDERERS
from kscribe.merge import merge_chunks
from kscribe.notices import META_ROLE
from kscribe.stages import layout
from kscribe.storage import join
from kscribe.values import ChunkTranscript, Job, JobStatus

STAGE = "publish"


def _chunk_transcripts(job: Job, ctx: Context) -> list[ChunkTranscript]:
    work = ctx.settings.work_uri
    try:
        manifest = ctx.blobs.read_bytes(layout.chunk_manifest(work, job.id))
    except FileNotFoundError:
        raise InputError(f"job {job.id} has no chunk manifest in {work} (expired?)") from None
    transcripts = []
    for index in range(len(json.loads(manifest)["chunks"])):
        uri = layout.chunk_transcript(work, job.id, index)
        try:
            transcripts.append(ChunkTranscript.from_json(ctx.blobs.read_bytes(uri)))
        except FileNotFoundError:
            # Gone: never written (an inconsistency), or removed because a duplicate publish
            # finished the job meanwhile. As an input error it is ignored for an ended job.
            raise InputError(f"job {job.id} is missing the transcript of chunk {index} ({uri})") from None
    return transcripts


def publish(job_id: str, ctx: Context) -> Job:
    """Render and write the job's outputs and mark it succeeded; return the job.

    Idempotent: a job that already succeeded (or failed) is returned as it is. Outputs are
    rendered from stored chunk transcripts, so rewriting them gives the same bytes.
    """
    job = ctx.jobs.require(job_id)
    if job.status.terminal:
        return job
    started = time.perf_counter()
    if not ctx.jobs.advance(job.id, JobStatus.PUBLISHING):
        return ctx.jobs.require(job.id)  # ended since we looked: a duplicate finished it
    ctx.progress.stage(job.id, STAGE)
    transcript = merge_chunks(job, _chunk_transcripts(job, ctx))
    outputs = {}
    for fmt in job.formats:
        uri = join(job.output_uri, f"{job.output_stem}.{fmt}")
        ctx.blobs.write_bytes(uri, RENDERERS[fmt](transcript).encode("utf-8"), CONTENT_TYPES[fmt],
                              {META_ROLE: "output", "kscribe-job": job.id})
        outputs[fmt] = uri
    elapsed = time.perf_counter() - started
    ctx.jobs.add_timing(job.id, STAGE, elapsed)
    metrics.STAGE_SECONDS.labels(STAGE).observe(elapsed)
    if ctx.jobs.advance(job.id, JobStatus.SUCCEEDED, outputs=outputs, detected_language=transcript.language):
        metrics.JOBS.labels("succeeded", "").inc()
    # Safe once succeeded: every stage ignores events of an ended job, so no redelivery
    # reads these again. (On GCS a lifecycle rule also sweeps work objects of failed jobs.)
    ctx.blobs.delete_prefix(layout.job_prefix(ctx.settings.work_uri, job.id))
    return ctx.jobs.require(job.id)
