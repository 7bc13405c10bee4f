"""Joining chunk transcripts into one transcript on the video's timeline."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

from kscribe.coverage import Coverage, keep_words
from kscribe.languages import spoken_seconds
from kscribe.values import ChunkTranscript, Job, Segment, Transcript


def channel_speaker(channel: int) -> str:
    """The speaker a channel-split job's words get: ``"channel 1"``… ("" for mixed audio)."""
    return f"channel {channel}" if channel > 0 else ""


# A pause this long inside one channel's segment is cut there: on a channel of its own, a
# speaker's segment can run across the other's whole turn (Whisper hears silence between),
# and interleaved by start it would put that turn's answer before its question.
TURN_GAP_S = 1.0


def _at_pauses(segment: Segment) -> list[Segment]:
    """``segment`` cut where its words pause for ``TURN_GAP_S`` or more."""
    words = segment.words
    cuts = [i for i in range(1, len(words)) if words[i].start - words[i - 1].end >= TURN_GAP_S]
    if not cuts:
        return [segment]
    bounds = [0, *cuts, len(words)]
    pieces = []
    for n, (a, b) in enumerate(itertools.pairwise(bounds)):
        part = words[a:b]
        start = segment.start if n == 0 else part[0].start
        end = segment.end if b == len(words) else part[-1].end
        pieces.append(replace(segment, start=start, end=end, text="".join(w.word for w in part), words=part))
    return pieces


def owned(segments: Sequence[Segment], lead_s: float, duration_s: float, tail_s: float) -> tuple[Segment, ...]:
    """A padded chunk's segments on its own timeline (its span starts at 0): moved back by
    ``lead_s``, keeping only the words whose middle lies in the span ``[0, duration_s)``;
    the padding's words belong to the neighbour that holds them in its span. A side
    without padding is the recording's edge and keeps everything beyond it."""
    lo = 0.0 if lead_s > 0 else float("-inf")
    hi = duration_s if tail_s > 0 else float("inf")
    return tuple(keep_words((s.shifted(-lead_s) for s in segments), lambda t: lo <= t < hi))


def _labelled(segment: Segment, speaker: str) -> Segment:
    if not speaker:
        return segment
    return replace(segment, speaker=speaker, words=tuple(replace(w, speaker=speaker) for w in segment.words))


def merge_chunks(job: Job, chunks: Sequence[ChunkTranscript]) -> Transcript:
    """Shift each chunk's times by its start and clamp them to its end, so the timeline
    never runs backwards across a cut. Chunks of a channel-split job label their segments
    and words with their channel's speaker, and the channels interleave by time (a tie goes
    to the lower channel)."""
    ordered = sorted(chunks, key=lambda c: c.index)
    placed = [
        (
            _labelled(
                replace(piece, language=piece.language or c.language).shifted(
                    c.start_s, limit=c.start_s + c.duration_s
                ),
                channel_speaker(c.channel),
            ),
            c.channel,
        )
        for c in ordered
        for s in c.segments
        for piece in (_at_pauses(s) if c.channel else [s])
    ]
    if any(c.channel for c in ordered):
        # Stable: within a channel, chunk order (already time order) is kept.
        placed.sort(key=lambda p: (p[0].start, p[1]))
    segments = tuple(s for s, _ in placed)
    # Chunks written before coverage was measured say nothing ({}), and neither does the sum.
    measured = [c.coverage for c in ordered if c.coverage]
    covered = sum((Coverage.from_dict(c) for c in measured), Coverage()).to_dict() if measured else {}
    # Language of most speech: a chunk of music or silence may detect something else.
    spoken = spoken_seconds(segments)
    language = next(iter(spoken), "") or next((c.language for c in ordered), "") or job.language or ""
    # Each channel covers the whole recording: its chunks' lengths add up to it.
    per_channel: dict[int, float] = {}
    for c in ordered:
        per_channel[c.channel] = per_channel.get(c.channel, 0.0) + c.duration_s
    duration = round(max(per_channel.values(), default=0.0), 3)
    return Transcript(
        job_id=job.id,
        source_uri=job.source_uri,
        language=language,
        duration_s=duration,
        model=job.model,
        task=job.task,
        segments=segments,
        audio_track=job.audio_track_used,
        coverage=covered,
    )
