"""Second decodes of the speech pieces a first pass left empty, or nearly so.

The pieces are packed in order, GAP_S of silence apart, into windows of at most WINDOW_S and
each window is decoded sequentially, without VAD, in the chunk's language and options: a
Whisper window costs an encoder pass whatever it holds, so 29 pieces of one or two seconds
cost two or three passes instead of 29 (13.6 of a 35-minute file's 71 s wall when each was
decoded alone). A word counts for the piece whose own audio holds its middle, and its times
are kept inside that piece; a word in a gap belongs to no piece and is dropped. A piece that
is still empty, or nearly, is then decoded alone: packing must never be why a piece is
recorded as holding nothing. More words in a piece than anyone says in its seconds are a
decoder looping on audio it cannot hear (whispering, humming): the piece keeps none of them.

Without word timings (a segment may span several packed pieces) or when each window may be in
a language of its own (multilingual), every piece is decoded alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from kscribe.asr import coverage
from kscribe.values import Segment, Word

# Under Whisper's 30 s window, so a packed window is one decoder window, not two.
WINDOW_S = 28.0
# Silence between packed pieces: a pause the decoder ends a segment on, long enough that a
# word timed a little early or late still falls in its own piece or in the gap.
GAP_S = 1.0

# The tokens a second decode may write per second of the speech it is given: well above fast
# speech (about four words, five or six tokens a second, with timestamps). A window that writes
# more is looping, and each of faster-whisper's temperature fallbacks would loop on to its
# limit: 8.7 s for one 1.8 s whispered piece, more than the other 16 second decodes of a
# 10-minute file.
TOKENS_PER_S = 10
# faster-whisper's own limit: it gives CTranslate2 a max_length of 448 (the model's context),
# or the prompt's length plus max_new_tokens, and CTranslate2 decodes at most half of that
# (src/models/whisper.cc: min(max_length / 2, max_length - start_step)).
DEFAULT_TOKENS = 448 // 2

# Candidates sampled at each temperature fallback (faster-whisper's default is 5). The pieces
# decoded again are the ones the model struggles with, and on audio it cannot hear (humming,
# whispering) every fallback loops to its budget: five candidates made each of them five times
# dearer. With one, a 10-minute recording took 27.5–28.7 s instead of 35.9–36.6 s on 2 Xeon
# cores, WER 21.3–21.7 % against 21.4–21.6 %, the same passages kept
# (bench/reports/2026-12-08-lossless-xeon-2-cores.md).
BEST_OF = 1

Span = tuple[float, float]
# Decodes samples (from their own start, in seconds) sequentially, without VAD; told the
# seconds of speech they hold (a packed window's gaps are silence), for its token budget.
Decode = Callable[[np.ndarray, float], list[Segment]]


def token_budget(seconds: float) -> int | None:
    """faster-whisper's ``max_new_tokens`` for a second decode of ``seconds`` of speech: twice
    the tokens it may write, as CTranslate2 halves it; None where its own limit is lower."""
    wanted = 16 + math.ceil(seconds * TOKENS_PER_S)
    return None if wanted >= DEFAULT_TOKENS else 2 * wanted


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


def _owner(window: Sequence[_Packed], start: float, end: float) -> _Packed | None:
    """The packed piece whose own audio holds the middle of ``[start, end]`` (packed time);
    None in a gap. Everything decoded from a piece alone is that piece's."""
    if len(window) == 1:
        return window[0]
    middle = (start + end) / 2
    for p in window:
        if p.at <= middle < p.at + (p.piece[1] - p.piece[0]):
            return p
    return None


def _placed(segment: Segment, p: _Packed) -> Segment:
    """``segment`` moved from packed time to ``p``'s own, its times kept inside the piece."""
    lo, hi = p.piece

    def inside(t: float) -> float:
        return round(min(max(t + lo - p.at, lo), hi), 3)

    words = tuple(replace(w, start=inside(w.start), end=inside(w.end)) for w in segment.words)
    return replace(segment, start=inside(segment.start), end=inside(segment.end), words=words)


def _unpacked(window: Sequence[_Packed], segments: Sequence[Segment]) -> dict[Span, list[Segment]]:
    """The decoded segments split by piece and moved to each piece's own time."""
    found: dict[Span, list[Segment]] = {p.piece: [] for p in window}
    for s in segments:
        if not s.words:
            # A segment without word timings is a piece's only if it lies within that piece.
            owner = _owner(window, s.start, s.end)
            if owner is not None and _owner(window, s.start, s.start) is _owner(window, s.end, s.end) is owner:
                found[owner.piece].append(_placed(s, owner))
            continue
        groups: dict[_Packed, list[Word]] = {}
        for w in s.words:
            owner = _owner(window, w.start, w.end)
            if owner is not None:
                groups.setdefault(owner, []).append(w)
        for p, words in groups.items():
            part = s
            if len(words) != len(s.words):
                text = "".join(w.word for w in words)
                part = replace(s, start=words[0].start, end=words[-1].end, text=text, words=tuple(words))
            found[p.piece].append(_placed(part, p))
    return found


def _audio_of(window: Sequence[_Packed], audio: np.ndarray, rate: int, gap_s: float) -> np.ndarray:
    gap = np.zeros(int(gap_s * rate), dtype=audio.dtype)
    parts: list[np.ndarray] = []
    for p in window:
        parts += [audio[int(p.piece[0] * rate) : int(p.piece[1] * rate)], gap]
    return np.concatenate(parts[:-1])


def _words_in(piece: Span, segments: Sequence[Segment]) -> int:
    return coverage.counts([piece], segments)[0]


def _speech_s(window: Sequence[_Packed]) -> float:
    return sum(p.piece[1] - p.piece[0] for p in window)


def _believable(found: dict[Span, list[Segment]], per_s: float) -> dict[Span, list[Segment]]:
    """``found`` without what a decoder looping on a piece wrote into it (more than ``per_s``
    words a second): such a piece holds nothing rather than made-up words."""
    return {
        piece: [] if coverage.too_many_words(piece[1] - piece[0], _words_in(piece, segments), per_s) else segments
        for piece, segments in found.items()
    }


def decode_again(
    decode: Decode,
    audio: np.ndarray,
    pieces: Sequence[Span],
    rate: int,
    packed: bool = True,
    gap_s: float = GAP_S,
    words_per_s: float = coverage.MAX_WORDS_PER_SPEECH_S,
) -> dict[Span, list[Segment]]:
    """Each piece's segments (times from ``audio``'s start) from a second, sequential decode:
    packed with its neighbours first (``packed``), alone where that left it (nearly) empty;
    none where the decoder wrote more than ``words_per_s`` words a second into it."""
    windows = pack(pieces, gap_s=gap_s) if packed else [[_Packed(p, 0.0)] for p in pieces]
    found: dict[Span, list[Segment]] = {}
    for window in windows:
        decoded = decode(_audio_of(window, audio, rate, gap_s), _speech_s(window))
        found.update(_believable(_unpacked(window, decoded), words_per_s))
        if len(window) == 1:
            continue  # decoded alone already
        for p in window:
            if not coverage.needs_second_decode(p.piece[1] - p.piece[0], _words_in(p.piece, found[p.piece])):
                continue
            decoded = decode(_audio_of([p], audio, rate, gap_s), _speech_s([p]))
            alone = _believable(_unpacked([_Packed(p.piece, 0.0)], decoded), words_per_s)[p.piece]
            if _words_in(p.piece, alone) > _words_in(p.piece, found[p.piece]):
                found[p.piece] = alone
    return found
