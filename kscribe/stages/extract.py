"""Extract: a job's source → 16 kHz mono audio, cut at silences into chunks in work storage."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

from kscribe import metrics
from kscribe.context import Context
from kscribe.errors import SourceNotFound
from kscribe.media.chunking import balanced_target, plan_cuts
from kscribe.media.decode import SAMPLE_RATE, decode_audio
from kscribe.media.limits import decode_time_limit
from kscribe.media.probe import probe
from kscribe.media.wav import write_wav_slice
from kscribe.notices import META_ROLE
from kscribe.scratch import process_dir
from kscribe.stages import layout
from kscribe.values import Chunk, Job, JobStatus

log = logging.getLogger(__name__)

STAGE = "extract"
_WORK_META = {META_ROLE: "work"}


def _stored_chunks(job: Job, ctx: Context) -> list[Chunk] | None:
    try:
        manifest = ctx.blobs.read_bytes(layout.chunk_manifest(ctx.settings.work_uri, job.id))
    except FileNotFoundError:
        return None  # not extracted yet (or removed since: the job finished)
    return [Chunk.from_dict(c) for c in json.loads(manifest)["chunks"]]


def _local_source(job: Job, ctx: Context, scratch: Path) -> Path:
    info = ctx.blobs.stat(job.source_uri)
    if info is None:
        raise SourceNotFound(f"the source {job.source_uri} no longer exists")
    if info.generation != job.source_generation:
        # Overwritten since the notification: that newer generation has its own job.
        raise SourceNotFound(f"the source {job.source_uri} was replaced by a newer upload")
    local = ctx.blobs.local_path(job.source_uri)
    if local is not None:
        return local
    dest = scratch / ("source" + Path(job.source_uri).suffix)
    try:
        ctx.blobs.download(job.source_uri, dest)
    except FileNotFoundError:
        raise SourceNotFound(f"the source {job.source_uri} was deleted before it could be read") from None
    return dest


def extract(job_id: str, ctx: Context) -> list[Chunk]:
    """Cut the job's audio into chunks stored under work storage and return them.

    Idempotent: a redelivery after the chunks were stored returns the same chunks without
    running ffmpeg again; an ended job yields no chunks.
    """
    job = ctx.jobs.require(job_id)
    if job.status.terminal:
        return []
    stored = _stored_chunks(job, ctx)
    if stored is not None:
        ctx.jobs.advance(job.id, JobStatus.TRANSCRIBING)
        return stored

    started = time.perf_counter()
    ctx.jobs.advance(job.id, JobStatus.EXTRACTING)
    ctx.progress.stage(job.id, STAGE, job.source_uri)
    settings = ctx.settings
    with tempfile.TemporaryDirectory(dir=process_dir(settings.scratch_dir), prefix=f"extract-{job.id}-") as tmp:
        scratch = Path(tmp)
        source = _local_source(job, ctx, scratch)
        info = probe(source, settings.max_duration_s)
        audio = decode_audio(
            source, scratch / "audio.pcm",
            threshold_db=settings.silence_threshold_db,
            min_silence_s=settings.silence_min_s,
            timeout_s=decode_time_limit(info.duration_s, settings.max_duration_s,
                                        settings.ffmpeg_timeout_s, settings.ffmpeg_min_speed),
            max_duration_s=settings.max_duration_s,
        )
        target = balanced_target(audio.duration_s, settings.chunk_target_s, settings.parallel_chunks)
        cuts = plan_cuts(audio.samples, audio.silences, target)
        chunks = []
        for index, (start, end) in enumerate(cuts):
            uri = layout.chunk_audio(settings.work_uri, job.id, index)
            wav = scratch / f"chunk-{index}.wav"
            write_wav_slice(audio.path, start, end, wav)
            ctx.blobs.upload(wav, uri, "audio/wav", _WORK_META)
            wav.unlink()
            chunks.append(Chunk(job.id, index, len(cuts), uri, start / SAMPLE_RATE, (end - start) / SAMPLE_RATE))
    manifest = {"job_id": job.id, "duration_s": audio.duration_s, "chunks": [c.to_dict() for c in chunks]}
    ctx.blobs.write_bytes(layout.chunk_manifest(settings.work_uri, job.id), json.dumps(manifest).encode(),
                          "application/json", _WORK_META)
    elapsed = time.perf_counter() - started
    ctx.jobs.add_timing(job.id, STAGE, elapsed)
    metrics.STAGE_SECONDS.labels(STAGE).observe(elapsed)
    ctx.jobs.advance(job.id, JobStatus.TRANSCRIBING, duration_s=round(audio.duration_s, 3), chunks_total=len(chunks))
    log.info("job %s: %.1f s of audio in %d chunk(s), %d silences", job.id, audio.duration_s, len(chunks),
             len(audio.silences))
    return chunks
