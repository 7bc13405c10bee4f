"""Transcribe: one chunk of audio → its transcript in work storage."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from kscribe.asr.coverage import summarise
from kscribe.asr.guards import guard
from kscribe.asr.languages import Detection, Verdict, Window, vote
from kscribe.asr.whisper import options_from_settings
from kscribe.context import Context
from kscribe.errors import EventRejected, InputError, WorkClaimed
from kscribe.media.decode import SAMPLE_RATE
from kscribe.observability import metrics
from kscribe.pipeline.stages import layout, manifest
from kscribe.pipeline.stages.chunk_audio import ChunkOutcome, _load_wav, matches
from kscribe.ports import ChunkCompletion
from kscribe.state import claims, keys
from kscribe.transcript.alignment import quiet_spans, snap_to_speech
from kscribe.values import Chunk, ChunkTranscript, Job, Segment

log = logging.getLogger(__name__)

STAGE = "transcribe"
# How often a decode's progress is written to the job at most: the decoder reports after each
# segment, several times a second on a fast worker.
DECODED_NOTE_EVERY_S = 1.0


class _DecodedNotes:
    """The decoder's progress on one chunk, written to the job record (what the API and the
    page show as progress inside a chunk) and told to ``ctx.progress`` (the CLI's bar)."""

    def __init__(self, job: Job, chunk: Chunk, ctx: Context, clock: Any = time.monotonic):
        self.job, self.chunk, self.ctx, self.clock = job, chunk, ctx, clock
        self.last = float("-inf")

    def __call__(self, done_s: float, segment: Segment | None = None) -> None:
        chunk = self.chunk
        if segment is not None:
            self._preview(segment)
        self.ctx.progress.chunk(self.job.id, chunk.index, chunk.count, done_s, chunk.duration_s)
        now = self.clock()
        if now - self.last >= DECODED_NOTE_EVERY_S:
            self.last = now
            self.ctx.jobs.note_decoded(self.job.id, chunk.index, min(done_s, chunk.duration_s))

    def _preview(self, segment: Segment) -> None:
        """The segment on the chunk's own times, told to ``ctx.progress`` if it passes the
        hallucination guards alone and its middle lies in the chunk's own span."""
        settings, chunk = self.ctx.settings, self.chunk
        kept = guard((segment,), settings.drop_no_speech_prob, settings.drop_avg_logprob, settings.max_repeats)
        for s in kept:
            moved = s.shifted(-chunk.lead_s)
            middle = (moved.start + moved.end) / 2
            if (middle >= 0.0 or not chunk.lead_s) and (middle < chunk.duration_s or not chunk.tail_s):
                self.ctx.progress.heard(chunk, moved)


def _decided(job: Job) -> bool:
    return bool(job.language or job.multilingual or job.detected_language)


def _with_language(job: Job, ctx: Context) -> Job:
    """The job with the language its chunks are decoded in decided, once for all its
    chunks, from the windows extract stored for it (``kscribe.asr.languages``). A job that names
    its language, is multilingual, or has no windows (an English-only model) is left as it
    is: with no language, each chunk then detects its own."""
    if _decided(job):
        return job
    windows = manifest.read_language_windows(ctx, job.id)
    if not windows:
        return job
    work = claims.language_work(job.id)
    # Chunks of one job arrive together; the first detects, the others wait the few
    # seconds that takes (a holder that dies lets go when its lease runs out).
    for _ in range(3):
        try:
            with ctx.claims.claim(work, ctx.settings.claim_lease_s, STAGE):
                current = ctx.jobs.require(job.id)
                return current if _decided(current) else _detect(current, windows, ctx)
        except WorkClaimed:
            ctx.claims.wait_released(keys.claim(work))
            current = ctx.jobs.require(job.id)
            if _decided(current):
                return current
    raise WorkClaimed(keys.claim(work), f"the language of job {job.id} is being detected; retry later")


def _detect(job: Job, windows: list[Window], ctx: Context) -> Job:
    options = options_from_settings(ctx.settings, model=job.model, task=job.task)
    ctx.progress.stage(job.id, "language", f"detecting, from {len(windows)} window(s) over the audio")
    ctx.transcriber.load(options)  # timed on its own (model load), not as detection
    started = time.perf_counter()
    try:
        audio = _load_wav(layout.language_windows(ctx.settings.work_uri, job.id), ctx)
    except FileNotFoundError as exc:
        raise InputError(
            "the job's language windows are gone (its intermediate files expired or were removed)"
        ) from exc
    pieces, at = [], 0
    for w in windows:
        samples = round((w.start_s + w.duration_s) * SAMPLE_RATE) - round(w.start_s * SAMPLE_RATE)
        pieces.append(audio[at : at + samples])
        at += samples
    detected = ctx.transcriber.detect_language(pieces, options)
    verdict = vote(
        [
            Detection(language, probability, w.speech_s)
            for (language, probability), w in zip(detected, windows, strict=True)
        ],
        ctx.settings.language_mixed_share,
    )
    seconds = time.perf_counter() - started
    ctx.jobs.add_timing(job.id, "language", seconds)
    log.info(
        "job %s: language %s%s from %d window(s) %s in %.2f s",
        job.id,
        verdict.language or "undecided",
        " (mixed: multilingual)" if verdict.mixed else "",
        len(windows),
        verdict.shares,
        seconds,
    )
    if verdict.language:
        ctx.jobs.update(job.id, detected_language=verdict.language, multilingual=verdict.mixed)
    ctx.progress.stage(job.id, "language", _verdict_line(verdict))
    return ctx.jobs.require(job.id)


def _verdict_line(verdict: Verdict) -> str:
    """What detection decided, as the CLI shows it: ``de (de 83%, en 17%)``."""
    heard = ", ".join(f"{code} {share:.0%}" for code, share in verdict.shares.items()) or "no speech heard"
    if not verdict.language:
        return f"undecided ({heard}): each chunk detects its own"
    switching = "; speech switches language: decoded window by window" if verdict.mixed else ""
    return f"{verdict.language} ({heard}){switching}"


def _recognise(job: Job, chunk: Chunk, ctx: Context) -> ChunkTranscript | None:
    """Run the model on the chunk; None if the job ended meanwhile (nothing to store then)."""
    started = time.perf_counter()
    try:
        audio = _load_wav(chunk.uri, ctx)
    except FileNotFoundError as exc:
        # A duplicate delivery may have finished the job, which removes its chunks.
        log.warning("job %s: chunk %d's audio is gone: %s", job.id, chunk.index, exc)
        raise InputError(
            f"the audio of chunk {chunk.index + 1} is gone (the job's intermediate files expired or were removed)"
        ) from exc
    job = _with_language(job, ctx)
    options = options_from_settings(
        ctx.settings,
        model=job.model,
        language=job.language or ("" if job.multilingual else job.detected_language),
        multilingual=job.multilingual,
        task=job.task,
        initial_prompt=job.prompt,
        hotwords=job.hotwords,
        chunks_at_once=chunk.count,
    )
    ctx.progress.chunk(job.id, chunk.index, chunk.count, 0.0, chunk.duration_s)
    with metrics.CHUNKS_IN_FLIGHT.track_inprogress():
        recognition = ctx.transcriber.transcribe(
            audio,
            options,
            on_progress=_DecodedNotes(job, chunk, ctx),
        )
    settings = ctx.settings
    # Times from the chunk's start: the padding's words fall before 0 or after its end, and
    # merge keeps each word once (merge._owned).
    segments = tuple(
        s.shifted(-chunk.lead_s)
        for s in snap_to_speech(
            guard(recognition.segments, settings.drop_no_speech_prob, settings.drop_avg_logprob, settings.max_repeats),
            quiet_spans(audio, settings.silence_threshold_db, settings.silence_min_s),
        )
    )
    covered = summarise(recognition.pieces, chunk.lead_s, chunk.lead_s + chunk.duration_s)
    seconds = time.perf_counter() - started
    if ctx.jobs.require(job.id).status.terminal:
        return None
    metrics.STAGE_SECONDS.labels(STAGE).observe(seconds)
    metrics.AUDIO_SECONDS.inc(chunk.duration_s)
    metrics.REALTIME_FACTOR.observe(chunk.duration_s / max(seconds, 1e-6))
    metrics.SPEECH_UNCOVERED_SECONDS.inc(covered.uncovered_s)
    ctx.jobs.add_timing(job.id, STAGE, seconds)
    ctx.progress.chunk(job.id, chunk.index, chunk.count, chunk.duration_s, chunk.duration_s)
    log.info(
        "job %s chunk %d/%d: %.1f s of audio in %.2f s; speech %.1f s, %.1f s of it without words, %d piece(s) re-decoded",
        job.id,
        chunk.index + 1,
        chunk.count,
        chunk.duration_s,
        seconds,
        covered.speech_s,
        covered.uncovered_s,
        covered.redecoded,
    )
    return ChunkTranscript(
        job_id=job.id,
        index=chunk.index,
        start_s=chunk.start_s,
        duration_s=chunk.duration_s,
        language=recognition.language,
        language_probability=recognition.language_probability,
        segments=segments,
        model=job.model,
        seconds=round(seconds, 3),
        channel=chunk.channel,
        lead_s=chunk.lead_s,
        tail_s=chunk.tail_s,
        coverage=covered.to_dict() if recognition.pieces or options.vad_filter else {},
    )


def transcribe(job_id: str, index: int, ctx: Context, claimed: Mapping[str, Any] | None = None) -> ChunkOutcome:
    """Transcribe chunk ``index`` of the job unless its transcript is already stored, then
    record it done. The chunk's location and boundaries come from the job's manifest;
    ``claimed`` (what the event said) must agree with them, else ``EventRejected``.

    Idempotent: a redelivered chunk reuses the stored transcript. A job that ends meanwhile
    (cancelled, or finished by a duplicate) gets nothing written.
    """
    job = ctx.jobs.get(job_id)
    if job is None:
        raise EventRejected("unknown_job", f"no job {job_id} (never created, or expired)")
    if job.status.terminal:
        return ChunkOutcome(announce_transcribed=False, transcribed=False)
    chunks = manifest.read_chunks(ctx, job.id)
    if chunks is None or not 0 <= index < len(chunks):
        raise EventRejected("early", f"job {job.id} has no stored chunk {index}")
    chunk = chunks[index]
    # Progress counts audio of the video's timeline: each of n channels covers it all.
    share = 1 / max(1, len({c.channel for c in chunks}))
    if claimed is not None and not matches(claimed, chunk):
        raise EventRejected("mismatch", f"the event's chunk {index} of job {job.id} is not the stored one")
    result_uri = layout.chunk_transcript(ctx.settings.work_uri, job.id, chunk.index)
    if ctx.blobs.stat(result_uri) is not None:
        return _stored(job, chunk, ctx, share)
    with ctx.claims.claim(claims.chunk_work(job.id, chunk.index), ctx.settings.claim_lease_s, STAGE):
        if ctx.blobs.stat(result_uri) is not None:  # stored by the claim's previous holder
            return _stored(job, chunk, ctx, share)
        # A long chunk keeps the reconciler away for as long as it may take at the slowest speed.
        ctx.jobs.extend_lease(job.id, chunk.duration_s / ctx.settings.transcribe_min_speed)
        if not job.transcription_started_at:
            ctx.jobs.note_transcription_started(job.id)  # its wait in line ends here
        return _transcribe(job, chunk, result_uri, ctx, share)


def _stored(job: Job, chunk: Chunk, ctx: Context, share: float) -> ChunkOutcome:
    completion = ctx.jobs.complete_chunk(
        job.id, chunk.index, chunk.count, chunk.duration_s * share, speakers=bool(job.speakers)
    )
    return ChunkOutcome(_announce(job, completion), transcribed=False)


def _transcribe(job: Job, chunk: Chunk, result_uri: str, ctx: Context, share: float) -> ChunkOutcome:
    result = _recognise(job, chunk, ctx)
    if result is None:
        return ChunkOutcome(announce_transcribed=False, transcribed=True)
    ctx.blobs.write_bytes(result_uri, result.to_json().encode(), "application/json", manifest.WORK_METADATA)
    ctx.progress.chunk_transcribed(chunk.count, result)
    completion = ctx.jobs.complete_chunk(
        job.id, chunk.index, chunk.count, chunk.duration_s * share, speakers=bool(job.speakers)
    )
    return ChunkOutcome(_announce(job, completion), transcribed=True)


def _announce(job: Job, completion: ChunkCompletion) -> bool:
    return completion.complete and "transcribed" not in job.announced
