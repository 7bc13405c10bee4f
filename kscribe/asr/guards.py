"""Hallucination guards on what the model returns for a chunk. Pure.

Whisper, given silence, tone or noise, may still write something ("You", "Thank you.") and,
stuck in a loop, repeats a phrase. Two guards on top of faster-whisper's own (VAD and
``hallucination_silence_threshold``, see transcriber.py):

* a segment the model itself thinks is not speech (``no_speech_prob`` above a threshold)
  and is unsure of (``avg_logprob`` below one) is dropped;
* a phrase of up to ``MAX_PHRASE_WORDS`` words repeated more than ``max_repeats`` times
  in a row, within a segment or as whole consecutive segments, is cut to ``max_repeats``.

Where the defaults come from (tiny.en, 30 s inputs made with ffmpeg's lavfi, and the
31 s sample; VAD off so that the model hears everything; with VAD on nothing but the sample
gave any segment at all):

    input                  segments   no_speech_prob   avg_logprob
    sample (speech)             7     ≤ 0.369          ≥ -0.293     (VAD on: ≤ 0.213, ≥ -0.274)
    silence                     1       0.950            -0.662     " You" at 21.5 s
    440 Hz tone, pink noise,
    white noise, chords+noise   0

Whisper's own rule (no_speech_prob > 0.6 and avg_logprob < -1.0) keeps that " You". Drop
when above 0.8 and below -0.5: the hallucination is 0.15 and 0.16 past the thresholds,
speech 0.43 and 0.21 short of them. Legitimate repeats ("no, no, no") are kept up to 3.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import replace

from kscribe.values import Segment, Word

MAX_PHRASE_WORDS = 10
_PUNCTUATION = string.punctuation + "“”‘’«»¿¡…。、，？！：；"


def _norm(text: str) -> str:
    return " ".join(text.strip().strip(_PUNCTUATION).casefold().split())


def is_non_speech(segment: Segment, max_no_speech_prob: float, min_avg_logprob: float) -> bool:
    return segment.no_speech_prob > max_no_speech_prob and segment.avg_logprob < min_avg_logprob


def _collapse_words(words: Sequence[Word], max_repeats: int) -> list[Word]:
    norms = [_norm(w.word) for w in words]
    out: list[Word] = []
    i = 0
    while i < len(words):
        step = 0
        for n in range(1, min(MAX_PHRASE_WORDS, len(words) - i) + 1):
            phrase = norms[i : i + n]
            reps = 1
            while norms[i + reps * n : i + (reps + 1) * n] == phrase:
                reps += 1
            if reps > max_repeats:
                out.extend(words[i : i + n * max_repeats])
                step = n * reps
                break
        if not step:
            out.append(words[i])
            step = 1
        i += step
    return out


def _collapse_segment(segment: Segment, max_repeats: int) -> Segment:
    if not segment.words:
        return segment
    words = _collapse_words(segment.words, max_repeats)
    if len(words) == len(segment.words):
        return segment
    # replace(): what else the segment carries (speaker, language) stays with it.
    return replace(
        segment, end=max(segment.start, words[-1].end), text="".join(w.word for w in words), words=tuple(words)
    )


def guard(
    segments: Sequence[Segment], max_no_speech_prob: float, min_avg_logprob: float, max_repeats: int
) -> tuple[Segment, ...]:
    """``segments`` without non-speech ones and with repeated phrases cut (``max_repeats`` 0: kept)."""
    kept = [s for s in segments if not is_non_speech(s, max_no_speech_prob, min_avg_logprob)]
    if max_repeats <= 0:
        return tuple(kept)
    out: list[Segment] = []
    run = 0
    for s in kept:
        same = bool(out) and _norm(s.text) == _norm(out[-1].text) and bool(_norm(s.text))
        run = run + 1 if same else 1
        if run <= max_repeats:
            out.append(_collapse_segment(s, max_repeats))
    return tuple(out)
