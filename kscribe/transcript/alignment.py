"""Word times kept out of silence.

Whisper's word timings come from cross-attention, and the first word after a pause often
"starts" well inside the pause — up to a second early on speech with clear gaps, which is
what a subtitle or a search hit shows. The audio itself says where the pause ends, so word
and segment edges that fall inside a stretch of silence are moved to its edge. Only spans
quieter than the silence threshold for at least the minimum silence length count, so noisy
recordings, where no such span exists, keep the model's timings unchanged.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from kscribe.media.decode import SAMPLE_RATE
from kscribe.values import Segment, Word

FRAME = SAMPLE_RATE // 100  # 10 ms: finer than Whisper's 20 ms timing steps
_BLOCK_FRAMES = 6000  # one minute of audio at a time, so no full-length temporary array
CLICK_S = 0.05  # shorter sound between quiet stretches is a click, not speech
MAX_ONSET_SHIFT_S = 1.0  # how far back a word's start may move to the sound before it


def quiet_spans(audio: np.ndarray, threshold_db: float, min_s: float) -> list[tuple[float, float]]:
    """(start, end) seconds of every stretch where no sample reaches ``threshold_db`` (dBFS)
    for at least ``min_s`` — ffmpeg silencedetect's rule at 10 ms steps, except that a click
    (sound shorter than ``CLICK_S`` between quiet frames) does not break a silence in two."""
    limit = 10 ** (threshold_db / 20)
    frames = len(audio) // FRAME
    quiet = np.empty(frames, dtype=bool)
    for first in range(0, frames, _BLOCK_FRAMES):
        last = min(frames, first + _BLOCK_FRAMES)
        block = audio[first * FRAME : last * FRAME].reshape(last - first, FRAME)
        quiet[first:last] = np.abs(block).max(axis=1) < limit
    for start, end in _runs(~quiet):
        if start > 0 and end < frames and (end - start) * FRAME < CLICK_S * SAMPLE_RATE:
            quiet[start:end] = True
    step = FRAME / SAMPLE_RATE
    return [(float(s * step), float(e * step)) for s, e in _runs(quiet) if (e - s) * step >= min_s]


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, past-last) indexes of every run of True in ``flags``."""
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))  # as many ends as starts


class _Spans:
    def __init__(self, spans: Sequence[tuple[float, float]]):
        self.spans = spans
        self.starts = [s for s, _ in spans]

    def last_from(self, t: float) -> tuple[float, float] | None:
        """The last span that starts at or before ``t`` (it holds ``t`` or ends before it)."""
        i = bisect.bisect_right(self.starts, t) - 1
        return self.spans[i] if i >= 0 else None

    def containing(self, t: float) -> tuple[float, float] | None:
        span = self.last_from(t)
        return span if span is not None and t < span[1] else None


def _trim(start: float, end: float, spans: _Spans, previous_end: float) -> tuple[float, float]:
    """``start``/``end`` moved out of silence, unless that would leave nothing between them.

    A word that starts in sound shortly after a pause, with nothing said since the pause,
    is moved back to where the sound begins: Whisper sometimes squeezes the first word after
    a pause to nothing, late, and the sound before it is that word.
    """
    span = spans.last_from(start)
    if span is not None and start < span[1]:
        if span[1] < end:
            start = span[1]
    elif span is not None and span[1] >= previous_end and start - span[1] <= MAX_ONSET_SHIFT_S:
        start = span[1]
    span = spans.containing(end)
    if span is not None and span[0] > start:
        end = span[0]
    return round(start, 3), round(end, 3)


def snap_to_speech(segments: Sequence[Segment], spans: Sequence[tuple[float, float]]) -> tuple[Segment, ...]:
    """``segments`` with word edges (and segment edges) that lie in a quiet span moved to
    where the sound starts or stops."""
    if not spans:
        return tuple(segments)
    lookup = _Spans(spans)
    snapped, previous_end = [], 0.0
    for segment in segments:
        if segment.words:
            words = []
            for w in segment.words:
                words.append(Word(*_trim(w.start, w.end, lookup, previous_end), w.word, w.probability, w.speaker))
                previous_end = words[-1].end
            # faster-whisper makes a segment span its words; keep it so.
            start, end = words[0].start, words[-1].end
        else:
            words = []
            start, end = _trim(segment.start, segment.end, lookup, previous_end)
            previous_end = end
        snapped.append(replace(segment, start=start, end=end, words=tuple(words)))
    return tuple(snapped)
