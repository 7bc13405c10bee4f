"""Second decodes of the speech pieces a first pass left empty, or nearly so.

The pieces are packed in order, GAP_S of silence apart, into windows of at most WINDOW_S and
each window is decoded sequentially, without VAD, in the chunk's language and options: a
Whisper window costs one encoder pass whatever it holds, so 29 pieces of one or two seconds
cost two or three passes instead of 29 (13.6 of a 35-minute file's 71 s wall when each was
decoded alone). A piece that is still empty, or nearly, is then decoded alone: packing must
never be why a piece is recorded as holding nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from kscribe.asr import coverage
from kscribe.values import Segment, Word

# Under Whisper's 30 s window, so a packed window is one decoder window, not two.
WINDOW_S = 28.0
# Silence between packed pieces: a pause the decoder can end a segment on.
GAP_S = 0.5

Span = tuple[float, float]
# Decodes samples (from their own start, in seconds) sequentially, without VAD.
Decode = Callable[[np.ndarray], list[Segment]]


@dataclass(frozen=True)
class _Packed:
    piece: Span
    at: float  # where the piece starts in the packed audio


def pack(pieces: Sequence[Span], window_s: float = WINDOW_S, gap_s: float = GAP_S) -> list[list[_Packed]]:
    """The pieces, in order, in windows of at most ``window_s``; a longer piece alone."""
    windows: list[list[_Packed]] = []
    at = window_s + 1.0  # start a window with the first piece
    for start, end in pieces:
        length = end - start
        if windows and at + length <= window_s:
            windows[-1].append(_Packed((start, end), at))
        else:
            windows.append([_Packed((start, end), 0.0)])
            at = 0.0
        at += length + gap_s
    return windows


def _owner(window: Sequence[_Packed], middle: float, gap_s: float) -> _Packed:
    """The packed piece a word (by its middle, in packed time) belongs to: the one whose span,
    widened by half the gap each side, holds it; the nearest otherwise."""
    for p in window:
        length = p.piece[1] - p.piece[0]
        if middle < p.at + length + gap_s / 2:
            return p
    return window[-1]


def _unpacked(window: Sequence[_Packed], segments: Sequence[Segment], gap_s: float) -> dict[Span, list[Segment]]:
    """The decoded segments split by piece and moved to each piece's own time."""
    found: dict[Span, list[Segment]] = {p.piece: [] for p in window}
    for s in segments:
        if not s.words:
            p = _owner(window, (s.start + s.end) / 2, gap_s)
            found[p.piece].append(s.shifted(p.piece[0] - p.at))
            continue
        groups: dict[_Packed, list[Word]] = {}
        for w in s.words:
            groups.setdefault(_owner(window, (w.start + w.end) / 2, gap_s), []).append(w)
        for p, words in groups.items():
            part = s
            if len(words) != len(s.words):
                text = "".join(w.word for w in words)
                part = replace(s, start=words[0].start, end=words[-1].end, text=text, words=tuple(words))
            found[p.piece].append(part.shifted(p.piece[0] - p.at))
    return found


def _audio_of(window: Sequence[_Packed], audio: np.ndarray, rate: int, gap_s: float) -> np.ndarray:
    gap = np.zeros(int(gap_s * rate), dtype=audio.dtype)
    parts: list[np.ndarray] = []
    for p in window:
        parts += [audio[int(p.piece[0] * rate) : int(p.piece[1] * rate)], gap]
    return np.concatenate(parts[:-1])


def _words_in(piece: Span, segments: Sequence[Segment]) -> int:
    return coverage.count_in(piece[0], piece[1], coverage.spans(segments))


def decode_again(
    decode: Decode, audio: np.ndarray, pieces: Sequence[Span], rate: int, gap_s: float = GAP_S
) -> dict[Span, list[Segment]]:
    """Each piece's segments (times from ``audio``'s start) from a second, sequential decode:
    packed with its neighbours first, alone where that left it (nearly) empty."""
    found: dict[Span, list[Segment]] = {}
    for window in pack(pieces, gap_s=gap_s):
        found.update(_unpacked(window, decode(_audio_of(window, audio, rate, gap_s)), gap_s))
        if len(window) == 1:
            continue  # decoded alone already
        for p in window:
            start, end = p.piece
            if not coverage.needs_second_decode(end - start, _words_in(p.piece, found[p.piece])):
                continue
            alone = [s.shifted(start) for s in decode(audio[int(start * rate) : int(end * rate)])]
            if _words_in(p.piece, alone) > _words_in(p.piece, found[p.piece]):
                found[p.piece] = alone
    return found
