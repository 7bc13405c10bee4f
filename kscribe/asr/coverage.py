"""Coverage: how much of what VAD heard as speech ended up as words.

A speech piece (a span Silero VAD marks as speech, as the decoder was given it) is covered
when decoded words fall in it. One that comes back empty, or with implausibly few words for
its length, is decoded a second time, sequentially (``kscribe.asr.whisper``); only what is
still empty after that counts as uncovered. faster-whisper's batched pipeline sometimes
returns nothing for a whole piece (SYSTRAN/faster-whisper#1179), and sequential decoding can
skip the rest of a 30 s window, so a transcript says how much of its speech it holds.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from kscribe.values import Segment

# Fewer words than this per second of speech is not a piece decoded, but one the decoder
# gave up on: people say 2–3 words a second, and a piece of a few slow words still has one
# every two seconds. Pieces shorter than MIN_CHECKED_S are only checked for being empty.
MIN_WORDS_PER_SPEECH_S = 0.4
MIN_CHECKED_S = 3.0
# More than this many words a second, beyond a few, is a decoder looping: fast speech is four
# words a second, and a piece's seconds hold VAD's padding too.
MAX_WORDS_PER_SPEECH_S = 6.0
MAX_EXTRA_WORDS = 2
# faster-whisper's "words" in these languages are characters or tokens
# (faster_whisper/tokenizer.py: split_to_word_tokens): fluent Japanese is seven or eight morae
# a second, so a loop is only what no one could say.
CHARACTER_WORD_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})
MAX_CHARACTERS_PER_SPEECH_S = 15.0


@dataclass(frozen=True)
class Piece:
    """One VAD speech piece of a chunk's audio (seconds from the audio's start), the words
    decoded in it, and whether it was decoded a second time."""

    start: float
    end: float
    words: int
    redecoded: bool = False

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Coverage:
    """Seconds of speech, the seconds of it in pieces that hold words, and the pieces
    decoded twice. Sums over chunks with ``+``."""

    speech_s: float = 0.0
    covered_s: float = 0.0
    redecoded: int = 0

    @property
    def uncovered_s(self) -> float:
        return round(max(0.0, self.speech_s - self.covered_s), 3)

    def __add__(self, other: Coverage) -> Coverage:
        return Coverage(
            round(self.speech_s + other.speech_s, 3),
            round(self.covered_s + other.covered_s, 3),
            self.redecoded + other.redecoded,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "uncovered_s": self.uncovered_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Coverage:
        data = data or {}
        return cls(float(data.get("speech_s", 0.0)), float(data.get("covered_s", 0.0)), int(data.get("redecoded", 0)))


def keep_words(segments: Iterable[Segment], keep: Callable[[tuple[float, float, str]], bool]) -> list[Segment]:
    """The segments with only the words ``keep`` accepts (given (start, end, text); a
    wordless segment is judged as one word); a segment left without words goes."""
    kept = []
    for s in segments:
        if not s.words:
            if keep((s.start, s.end, s.text)):
                kept.append(s)
            continue
        words = tuple(w for w in s.words if keep((w.start, w.end, w.word)))
        if len(words) == len(s.words):
            kept.append(s)
        elif words:
            text = "".join(w.word for w in words)
            kept.append(replace(s, start=words[0].start, end=words[-1].end, text=text, words=words))
    return kept


def items(segments: Iterable[Segment]) -> list[tuple[float, float, str]]:
    """Each word's (start, end, text), or the segment's when it has no words."""
    found: list[tuple[float, float, str]] = []
    for s in segments:
        if s.words:
            found.extend((w.start, w.end, w.word) for w in s.words)
        else:
            found.append((s.start, s.end, s.text))
    return found


def counts(pieces: Sequence[tuple[float, float]], segments: Iterable[Segment]) -> list[int]:
    """Per piece (in order, as VAD gives them), the words whose middle lies in it. Touching is
    not enough: VAD pieces meet, and the last word of one piece reaching 0.15 s over the edge
    of the next, empty one had made that one look decoded (a 10-minute recording). A middle on
    the edge two pieces share is the later one's, as everywhere else here (``start <= m <
    end``); a piece no other follows at once keeps its end (a zero-length word there counts). A
    segment without word timings counts as one word for each piece that holds its middle or
    that it spans whole. Sorted middles: a 35-minute chunk has ~600 pieces and ~3,000 words,
    and counting pair by pair took a second of its time."""
    middles: list[float] = []
    wordless: list[tuple[float, float]] = []
    for s in segments:
        if s.words:
            middles.extend((w.start + w.end) / 2 for w in s.words if w.word.strip())
        elif s.text.strip():
            wordless.append((s.start, s.end))
    middles.sort()
    found = []
    for i, (start, end) in enumerate(pieces):
        followed = i + 1 < len(pieces) and pieces[i + 1][0] <= end
        last = bisect.bisect_left(middles, end) if followed else bisect.bisect_right(middles, end)
        in_words = max(0, last - bisect.bisect_left(middles, start))
        found.append(in_words + sum(1 for a, b in wordless if start <= (a + b) / 2 <= end or a <= start <= end <= b))
    return found


def needs_second_decode(seconds: float, words: int) -> bool:
    """An empty piece, or one with implausibly few words for its speech seconds."""
    if words == 0:
        return True
    return seconds >= MIN_CHECKED_S and words < MIN_WORDS_PER_SPEECH_S * seconds


def words_per_s_limit(language: str | None) -> float:
    """The most words a second speech of ``language`` gives (None: not known, the largest)."""
    if language in CHARACTER_WORD_LANGUAGES or not language:
        return MAX_CHARACTERS_PER_SPEECH_S
    return MAX_WORDS_PER_SPEECH_S


def too_many_words(seconds: float, words: int, per_s: float = MAX_WORDS_PER_SPEECH_S) -> bool:
    """More words than anyone says in ``seconds`` (at most ``per_s`` a second, plus a few): a
    decoder looping on a piece it cannot hear (18 words in a 0.4 s piece, 17 in 1.8 s of
    whispering), not speech."""
    return words > MAX_EXTRA_WORDS + per_s * seconds


def summarise(pieces: Iterable[Piece], lo: float = 0.0, hi: float = float("inf")) -> Coverage:
    """Coverage of the pieces' parts inside ``[lo, hi)`` (a chunk's own span without the
    padding it shares with its neighbours); a piece counts as re-decoded where it lies
    mostly inside."""
    speech = covered = 0.0
    redecoded = 0
    for p in pieces:
        inside = max(0.0, min(p.end, hi) - max(p.start, lo))
        speech += inside
        if p.words:
            covered += inside
        if p.redecoded and inside * 2 >= p.seconds:
            redecoded += 1
    return Coverage(round(speech, 3), round(covered, 3), redecoded)
