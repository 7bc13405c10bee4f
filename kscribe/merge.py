"""Joining chunk transcripts into one transcript on the video's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from kscribe.languages import spoken_seconds
from kscribe.values import ChunkTranscript, Job, Transcript


def merge_chunks(job: Job, chunks: Sequence[ChunkTranscript]) -> Transcript:
    """Shift each chunk's times by its start and clamp them to its end, in chunk order, so
    the timeline never runs backwards across a cut."""
    ordered = sorted(chunks, key=lambda c: c.index)
    segments = tuple(
        replace(s, language=s.language or c.language).shifted(c.start_s, limit=c.start_s + c.duration_s)
        for c in ordered
        for s in c.segments
    )
    # Language of most speech: a chunk of music or silence may detect something else.
    spoken = spoken_seconds(segments)
    language = next(iter(spoken), "") or next((c.language for c in ordered), "") or job.language or ""
    duration = round(sum(c.duration_s for c in ordered), 3)
    return Transcript(
        job_id=job.id,
        source_uri=job.source_uri,
        language=language,
        duration_s=duration,
        model=job.model,
        task=job.task,
        segments=segments,
        audio_track=job.audio_track_used,
    )
