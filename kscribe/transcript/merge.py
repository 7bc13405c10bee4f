"""Joining chunk transcripts into one transcript on the video's timeline."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import replace

from kscribe.asr.coverage import Coverage, items, keep_words
from kscribe.asr.languages import spoken_seconds
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


# Two chunks heard the same word in their shared padding when each places it within this
# many seconds of the other with the same text (word timings of two decodes differ a little).
SAME_WORD_S = 1.0
_Item = tuple[float, float, str]


def _middle(item: _Item) -> float:
    return (item[0] + item[1]) / 2


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _heard(item: _Item, among: Iterable[_Item]) -> bool:
    return any(_norm(o[2]) == _norm(item[2]) and abs(_middle(o) - _middle(item)) <= SAME_WORD_S for o in among)


def _on_timeline(c: ChunkTranscript) -> list[Segment]:
    # A chunk without padding (written before padding existed) is clamped to its end, so the
    # timeline never runs backwards across a cut; a padded one's words past its ends are
    # sorted out by _owned.
    limit = None if c.lead_s or c.tail_s else c.start_s + c.duration_s
    return [replace(s, language=s.language or c.language).shifted(c.start_s, limit=limit) for s in c.segments]


def _owned(chunks: Sequence[ChunkTranscript]) -> dict[int, list[Segment]]:
    """Each chunk's segments on the video's timeline, each word kept once: by the chunk
    whose span holds its middle, unless that chunk did not hear it (its timing put the word
    on the other side of the cut), in which case the neighbour that did keeps it. ``chunks``
    are one channel's, in order."""
    timeline = {c.index: _on_timeline(c) for c in chunks}
    kept: dict[int, set[_Item]] = {}
    for c in chunks:
        lo = c.start_s if c.lead_s else float("-inf")
        hi = c.start_s + c.duration_s if c.tail_s else float("inf")
        kept[c.index] = {i for i in items(timeline[c.index]) if lo <= _middle(i) < hi}
    for a, b in itertools.pairwise(chunks):
        if not (a.tail_s or b.lead_s):
            continue
        cut = b.start_s
        early = [i for i in items(timeline[b.index]) if i not in kept[b.index] and _middle(i) < cut]
        late = [i for i in items(timeline[a.index]) if i not in kept[a.index] and _middle(i) >= cut]
        kept[b.index] |= {i for i in early if not _heard(i, kept[a.index])}
        kept[a.index] |= {i for i in late if not _heard(i, kept[b.index])}
    return {c.index: _clamped(keep_words(timeline[c.index], kept[c.index].__contains__), c) for c in chunks}


def own_segments(chunk: ChunkTranscript) -> list[Segment]:
    """The chunk's segments with the words of its padding left out, on the chunk's own
    times: what it says before its neighbours are known (``merge_chunks`` also keeps a word
    that only one side of a cut heard; this does not)."""
    lo = 0.0 if chunk.lead_s else float("-inf")
    hi = chunk.duration_s if chunk.tail_s else float("inf")
    return keep_words(chunk.segments, lambda item: lo <= _middle(item) < hi)


def _clamped(segments: list[Segment], c: ChunkTranscript) -> list[Segment]:
    """A segment without word timings, kept whole by its middle, is cut to the chunk's span
    (where its padding begins, the neighbour's own text does)."""
    lo = c.start_s if c.lead_s else float("-inf")
    hi = c.start_s + c.duration_s if c.tail_s else float("inf")
    return [s if s.words else replace(s, start=max(s.start, lo), end=min(s.end, hi)) for s in segments]


def _labelled(segment: Segment, speaker: str) -> Segment:
    if not speaker:
        return segment
    return replace(segment, speaker=speaker, words=tuple(replace(w, speaker=speaker) for w in segment.words))


def merge_chunks(job: Job, chunks: Sequence[ChunkTranscript]) -> Transcript:
    """Shift each chunk's times by its start; a word heard by two chunks in the padding
    they share is kept once (``_owned``). Chunks of a channel-split job label their segments
    and words with their channel's speaker, and the channels interleave by time (a tie goes
    to the lower channel)."""
    ordered = sorted(chunks, key=lambda c: c.index)
    owned: dict[int, list[Segment]] = {}
    for channel in sorted({c.channel for c in ordered}):
        owned.update(_owned([c for c in ordered if c.channel == channel]))
    placed = [
        (_labelled(piece, channel_speaker(c.channel)), c.channel)
        for c in ordered
        for s in owned[c.index]
        for piece in (_at_pauses(s) if c.channel else [s])
    ]
    # Stable: within a channel, chunk order (already time order, but for a word a chunk
    # kept from its padding) is kept.
    placed.sort(key=lambda p: (p[0].start, p[1]) if any(c.channel for c in ordered) else p[0].start)
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
