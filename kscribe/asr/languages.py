"""A job's spoken language, decided once from windows spread over the whole recording.

Whisper detects a language from the first 30 s it is given. Left to each chunk, a chunk that
opens on music, a jingle or a quote in another language decodes all its speech in that
language — and with a multilingual model "decoding in English" means *translating* into
English. So before any chunk is decoded, a few windows at evenly spaced places in the audio
are each detected, and a vote weighted by how much speech each window holds (times how sure
the model was) decides the job's language.

When the windows disagree in earnest (a second language holds a real share of the sampled
speech), no single language is right for the job: it is decoded *multilingual*, every 30 s
window in the language detected for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kscribe.media.decode import Silence
from kscribe.values import Segment

# Whisper looks at 30 s at a time: a longer window would be cut, a shorter one padded.
WINDOW_S = 30.0


@dataclass(frozen=True)
class Window:
    """A stretch of the job's audio sent to language detection."""

    start_s: float
    duration_s: float
    # How much of it is speech (its length less the silences in it): the weight of its vote.
    speech_s: float

    def to_dict(self) -> dict[str, float]:
        return {"start_s": self.start_s, "duration_s": self.duration_s, "speech_s": self.speech_s}

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> Window:
        return cls(float(data["start_s"]), float(data["duration_s"]), float(data["speech_s"]))


@dataclass(frozen=True)
class Detection:
    """What the model said of one window."""

    language: str
    probability: float
    speech_s: float


@dataclass(frozen=True)
class Verdict:
    language: str
    # True: a second language holds at least the mixed share of the weighted speech.
    mixed: bool
    # Each language's share of the weighted speech, largest first.
    shares: dict[str, float]


def _silence_in(start: float, end: float, silences: Sequence[Silence]) -> float:
    return sum(max(0.0, min(end, s.end_s) - max(start, s.start_s)) for s in silences)


def _speech_start(at: float, silences: Sequence[Silence]) -> float:
    """``at``, or the end of the silence it falls in: a window starts on speech."""
    for s in silences:
        if s.start_s <= at < s.end_s:
            return s.end_s
    return at


def pick_windows(
    duration_s: float, silences: Sequence[Silence], count: int, window_s: float = WINDOW_S
) -> list[Window]:
    """Up to ``count`` windows of ``window_s`` seconds spread evenly over the audio, each
    starting on speech. Audio no longer than ``count`` windows is cut into equal tiles
    (two halves for a minute), so every part of it is heard; a window that would be all
    silence, or would hear what an earlier one heard, is left out."""
    if count <= 0 or duration_s <= 0:
        return []
    if duration_s <= count * window_s:
        tiles = max(1, math.ceil(duration_s / window_s))
        size = duration_s / tiles
        spans = [(i * size, (i + 1) * size) for i in range(tiles)]
    else:
        spans = []
        for i in range(count):
            centre = (i + 0.5) * duration_s / count
            start = _speech_start(max(0.0, centre - window_s / 2), silences)
            start = min(start, duration_s - window_s)
            # A long silence moves every window whose centre falls in it to where it ends:
            # the same speech heard twice would vote twice, so it is heard once.
            if spans and start < spans[-1][1]:
                continue
            spans.append((start, start + window_s))
    windows = []
    for start, end in spans:
        speech = (end - start) - _silence_in(start, end, silences)
        if speech > 0.5:
            windows.append(Window(round(start, 3), round(end - start, 3), round(speech, 3)))
    return windows


def vote(detections: Iterable[Detection], mixed_share: float) -> Verdict:
    """The language with the most speech × confidence. ``mixed`` when the runner-up holds at
    least ``mixed_share`` of it all (``mixed_share`` ≥ 1: never)."""
    weights: dict[str, float] = {}
    for d in detections:
        weights[d.language] = weights.get(d.language, 0.0) + d.speech_s * d.probability
    total = sum(weights.values())
    if not weights or total <= 0:
        return Verdict("", False, {})
    ranked = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    shares = {lang: round(weight / total, 3) for lang, weight in ranked}
    mixed = len(ranked) > 1 and ranked[1][1] / total >= mixed_share
    return Verdict(ranked[0][0], mixed, shares)


def spoken_seconds(segments: Iterable[Segment], fallback: str = "") -> dict[str, float]:
    """Seconds of transcribed speech per language (a segment without one counts as
    ``fallback``; none counts at all if that is empty too), most first."""
    seconds: dict[str, float] = {}
    for s in segments:
        language = s.language or fallback
        if language and s.end > s.start:
            seconds[language] = seconds.get(language, 0.0) + (s.end - s.start)
    return {k: round(v, 1) for k, v in sorted(seconds.items(), key=lambda kv: (-kv[1], kv[0]))}
