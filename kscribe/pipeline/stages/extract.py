"""Extract: a job's source → 16 kHz mono audio, cut at silences into chunks in work storage.

A ``channels: split`` job gets one mono stream per channel of its track, each cut into
chunks of its own that carry their channel; publish labels their words "channel N"."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from kscribe.asr.languages import Window, pick_windows
from kscribe.context import Context
from kscribe.errors import DailyQuotaExceeded, EventRejected, SourceNotFound
from kscribe.media import containers
from kscribe.media.channels import same_signal
from kscribe.media.chunking import STACK_CHUNK_S, balanced_target, padded, plan_cuts
from kscribe.media.decode import SAMPLE_RATE, DecodedAudio, decode_audio, decode_channels
from kscribe.media.limits import decode_time_limit
from kscribe.media.probe import MediaInfo, probe
from kscribe.media.wav import write_wav_slice, write_wav_slices
from kscribe.observability import metrics
from kscribe.pipeline.stages import layout, manifest
from kscribe.settings import Settings
from kscribe.state import claims
from kscribe.storage.scratch import process_dir
from kscribe.tenancy.tenants import Tenant, Tenants
from kscribe.values import Chunk, Job, JobStatus

log = logging.getLogger(__name__)

STAGE = "extract"
# A split job takes each channel of up to this many apart; a track of more is mixed (a
# multitrack recorder's 32 inputs are not 32 speakers kscribe could label usefully).
MAX_SPLIT_CHANNELS = 8
# A channel with less sound than this above the silence threshold is silent.
_MIN_SOUND_S = 0.2


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


def _count_usage(job: Job, duration_s: float, ctx: Context) -> None:
    """Count the audio against the job's tenant's daily allowance, before any chunk is
    transcribed; a job that would take the day past it fails here."""
    if not job.tenant:
        return
    tenants = ctx.tenants
    tenant = tenants.get(job.tenant)
    limit_s = Tenants.audio_limit_s(ctx.settings, tenant or Tenant(job.tenant))
    if not ctx.jobs.record_usage(job.id, job.tenant, duration_s, limit_s):
        raise DailyQuotaExceeded(
            f"{duration_s / 3600:.2f} hours of audio would take tenant {job.tenant} past its "
            f"{limit_s / 3600:g} hours for today (UTC)"
        )
    metrics.TENANT_AUDIO_SECONDS.labels(metrics.tenant_label(job.tenant, known=tenant is not None)).inc(duration_s)


def _check_allowance(job: Job, declared_s: float, ctx: Context) -> None:
    """Before decoding: a recording that says it is longer than what is left of its tenant's
    day fails now, not after the decode it would be refused for (the count itself waits for
    the decoded length, which the file cannot lie about)."""
    if not job.tenant or declared_s <= 0:
        return
    tenant = ctx.tenants.get(job.tenant) or Tenant(job.tenant)
    limit_s = Tenants.audio_limit_s(ctx.settings, tenant)
    left_s = limit_s - ctx.jobs.audio_used_today(job.tenant)
    if limit_s > 0 and declared_s > left_s:
        raise DailyQuotaExceeded(
            f"{declared_s / 3600:.2f} hours of audio would take tenant {job.tenant} past its "
            f"{limit_s / 3600:g} hours for today (UTC)"
        )


def _detects_language(job: Job, settings: Settings) -> bool:
    """Whether the job's language is decided before its chunks are decoded: it names none,
    is not decoded window by window anyway, and its model is not English-only."""
    return not job.language and not job.multilingual and settings.language_windows > 0 and not job.model.endswith(".en")


def _language_windows(job: Job, audio: DecodedAudio, scratch: Path, ctx: Context) -> list[Window]:
    """Store the audio of the job's language detection windows (``kscribe.asr.languages``) in
    one file for transcribe, and return them."""
    windows = pick_windows(audio.duration_s, audio.silences, ctx.settings.language_windows)
    if windows:
        wav = scratch / "language.wav"
        spans = [
            (round(w.start_s * SAMPLE_RATE), min(audio.samples, round((w.start_s + w.duration_s) * SAMPLE_RATE)))
            for w in windows
        ]
        write_wav_slices(audio.path, spans, wav)
        ctx.blobs.upload(
            wav, layout.language_windows(ctx.settings.work_uri, job.id), "audio/wav", manifest.WORK_METADATA
        )
    return windows


def extract(job_id: str, ctx: Context) -> list[Chunk]:
    """Cut the job's audio into chunks stored under work storage and return them.

    Idempotent: a redelivery after the chunks were stored returns the same chunks without
    running ffmpeg again; an ended job yields no chunks.
    """
    job = ctx.jobs.get(job_id)
    if job is None:
        raise EventRejected("unknown_job", f"no job {job_id} (never created, or expired)")
    if job.status.terminal:
        return []
    stored = _stored(job, ctx)
    if stored is not None:
        return stored
    with ctx.claims.claim(claims.extract_work(job.id), ctx.settings.claim_lease_s, STAGE):
        # The delivery that held the claim before us may have finished meanwhile.
        stored = _stored(job, ctx)
        return stored if stored is not None else _cut(job, ctx)


def _stored(job: Job, ctx: Context) -> list[Chunk] | None:
    stored = manifest.read_chunks(ctx, job.id)
    if stored is not None:
        ctx.jobs.advance(job.id, JobStatus.TRANSCRIBING)
    return stored


def _cut(job: Job, ctx: Context) -> list[Chunk]:
    started = time.perf_counter()
    ctx.jobs.advance(job.id, JobStatus.EXTRACTING)
    ctx.progress.stage(job.id, STAGE, job.source_uri)
    settings = ctx.settings
    with tempfile.TemporaryDirectory(dir=process_dir(settings.scratch_dir), prefix=f"extract-{job.id}-") as tmp:
        scratch = Path(tmp)
        source = _local_source(job, ctx, scratch)
        info = probe(source, settings.max_duration_s, job.audio_track)
        # Recorded before the decode, so a job that fails on its track says which it was.
        ctx.jobs.update(
            job.id,
            audio_track_used=info.track.label,
            source_media_type=containers.media_type(info.format_name, info.has_video),
        )
        _check_allowance(job, info.duration_s, ctx)
        time_limit = decode_time_limit(
            info.duration_s, settings.max_duration_s, settings.ffmpeg_timeout_s, settings.ffmpeg_min_speed
        )
        # A long decode keeps the reconciler from re-driving a job that is merely slow.
        ctx.jobs.extend_lease(job.id, time_limit)
        if job.channels == "split":
            streams, note = _channel_streams(source, info, scratch, ctx, time_limit)
        else:
            streams, note = [(0, _mixed(source, info, scratch, ctx, time_limit))], ""
        audio = streams[0][1]
        # Every channel transcribed is audio transcribed: a tenant's allowance counts each.
        _count_usage(job, audio.duration_s * len(streams), ctx)
        target = balanced_target(audio.duration_s, settings.chunk_target_s or STACK_CHUNK_S, settings.parallel_chunks)
        # Indexes run over the chunks of every channel, so completion counts them all once.
        planned = [
            (channel, stream, cut)
            for channel, stream in streams
            for cut in plan_cuts(stream.samples, stream.silences, target)
        ]
        chunks = []
        for index, (channel, stream, (start, end)) in enumerate(planned):
            uri = layout.chunk_audio(settings.work_uri, job.id, index)
            wav = scratch / f"chunk-{index}.wav"
            first, last = padded(start, end, stream.samples)
            write_wav_slice(stream.path, first, last, wav)
            ctx.blobs.upload(wav, uri, "audio/wav", manifest.WORK_METADATA)
            wav.unlink()
            chunks.append(
                Chunk(
                    job.id,
                    index,
                    len(planned),
                    uri,
                    start / SAMPLE_RATE,
                    (end - start) / SAMPLE_RATE,
                    channel,
                    lead_s=(start - first) / SAMPLE_RATE,
                    tail_s=(last - end) / SAMPLE_RATE,
                )
            )
        # A split job's language is heard on its first channel kept.
        windows = _language_windows(job, audio, scratch, ctx) if _detects_language(job, settings) else []
    manifest.write_chunks(ctx, job.id, audio.duration_s, chunks, windows)
    elapsed = time.perf_counter() - started
    ctx.jobs.add_timing(job.id, STAGE, elapsed)
    metrics.STAGE_SECONDS.labels(STAGE).observe(elapsed)
    if not ctx.jobs.advance(
        job.id,
        JobStatus.TRANSCRIBING,
        duration_s=round(audio.duration_s, 3),
        chunks_total=len(chunks),
        channels_note=note,
    ):
        # Ended while we worked (cancelled): what we just stored will never be read.
        ctx.blobs.delete_prefix(layout.job_prefix(settings.work_uri, job.id))
        return []
    log.info(
        "job %s: %.1f s of audio in %d chunk(s) of %d stream(s), %d silences%s",
        job.id,
        audio.duration_s,
        len(chunks),
        len(streams),
        sum(len(stream.silences) for _, stream in streams),
        f" ({note})" if note else "",
    )
    return chunks


def _mixed(source: Path, info: MediaInfo, scratch: Path, ctx: Context, time_limit: float) -> DecodedAudio:
    settings = ctx.settings
    return decode_audio(
        source,
        scratch / "audio.pcm",
        threshold_db=settings.silence_threshold_db,
        min_silence_s=settings.silence_min_s,
        timeout_s=time_limit,
        max_duration_s=settings.max_duration_s,
        channels=info.channels,
        track=info.track.index,
    )


def _silent(audio: DecodedAudio) -> bool:
    """No sound above the silence threshold anywhere in the channel."""
    quiet = sum(s.duration_s for s in audio.silences)
    return audio.duration_s - quiet < _MIN_SOUND_S


def _channel_streams(
    source: Path, info: MediaInfo, scratch: Path, ctx: Context, time_limit: float
) -> tuple[list[tuple[int, DecodedAudio]], str]:
    """The streams a split job transcribes, as (channel, audio) with channel 0 for one
    stream that is not labelled, and a note when that is not one stream per channel.

    A channel is left out when it is silent throughout, or carries the same signal as a
    channel kept before it (a mono recording stored as stereo would otherwise be said twice,
    by two "speakers"). One stream left is transcribed unlabelled, as a mixed job is."""
    channels = info.channels
    if channels <= 1:
        return [(0, _mixed(source, info, scratch, ctx, time_limit))], "the audio has one channel; transcribed as is"
    if channels > MAX_SPLIT_CHANNELS:
        note = f"the audio has {channels} channels, more than the {MAX_SPLIT_CHANNELS} split takes; they were mixed"
        return [(0, _mixed(source, info, scratch, ctx, time_limit))], note
    settings = ctx.settings
    numbers = list(range(1, channels + 1))
    decoded = decode_channels(
        source,
        [scratch / f"channel-{n}.pcm" for n in numbers],
        numbers,
        threshold_db=settings.silence_threshold_db,
        min_silence_s=settings.silence_min_s,
        timeout_s=time_limit,
        max_duration_s=settings.max_duration_s,
        track=info.track.index,
    )
    kept: list[tuple[int, DecodedAudio]] = []
    silent: list[int] = []
    copies: list[int] = []
    dropped: list[DecodedAudio] = []
    for number, audio in zip(numbers, decoded, strict=True):
        if _silent(audio):
            silent.append(number)
        elif any(same_signal(other.path, audio.path) for _, other in kept):
            copies.append(number)
        else:
            kept.append((number, audio))
            continue
        dropped.append(audio)
    all_silent = not kept
    if all_silent:  # the first stays, so the job ends as a silent mixed one would
        kept = [(0, decoded[0])]
    for audio in dropped:
        if audio is not kept[0][1]:
            audio.path.unlink()  # scratch disk: a channel's worth of audio
    if all_silent:
        return kept, "no channel holds sound; transcribed as one"
    notes = []
    if copies:
        notes.append(
            "channels are identical; transcribed once"
            if channels == 2
            else f"channel {_numbers(copies)} repeat{'s' if len(copies) == 1 else ''} another; transcribed once"
        )
    if silent:
        notes.append(f"channel {_numbers(silent)} {'is' if len(silent) == 1 else 'are'} silent")
    if len(kept) == 1:
        return [(0, kept[0][1])], "; ".join(notes)
    return kept, "; ".join(notes)


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers)
