"""Second decodes: the pieces a first pass left empty are packed into shared windows and
decoded sequentially, their words put back at each piece's own time; a piece still empty
after that is decoded alone. The pieces checked are the ones faster-whisper's VAD found."""

import numpy as np
import pytest

from kscribe.asr import vad_tap
from kscribe.asr.redecode import GAP_S, WINDOW_S, decode_again, pack
from kscribe.media.decode import SAMPLE_RATE
from kscribe.values import Segment, Word

RATE = 100  # samples a second: small arrays, the same arithmetic


def _said(at: float, *words: str, step: float = 0.3) -> Segment:
    ws = tuple(Word(round(at + i * step, 3), round(at + i * step + 0.2, 3), f" {w}", 0.9) for i, w in enumerate(words))
    return Segment(ws[0].start, ws[-1].end, "".join(w.word for w in ws), ws, -0.2, 0.01)


class _Decoder:
    """Sequential decoding without VAD: each stretch of audio marked with a value says the
    word that value stands for, timed where it lies in what it was given."""

    def __init__(self, words: dict[int, str], deaf_when_packed: frozenset[int] = frozenset()):
        self.words, self.deaf_when_packed, self.calls = words, deaf_when_packed, []

    def __call__(self, samples: np.ndarray) -> list[Segment]:
        self.calls.append(len(samples) / RATE)
        marks = np.flatnonzero(np.diff(np.concatenate([[0], samples, [0]])))
        found, stretches = [], list(zip(marks[::2], marks[1::2], strict=True))
        for start, _ in stretches:
            value = int(samples[start])
            if value in self.deaf_when_packed and len(stretches) > 1:
                continue  # this piece's speech is heard only when decoded alone
            found.append(_said(start / RATE, self.words[value]))
        return found


def _audio(pieces: list[tuple[float, float]], seconds: float = 120.0) -> np.ndarray:
    audio = np.zeros(int(seconds * RATE), dtype=np.float32)
    for n, (start, end) in enumerate(pieces, 1):
        audio[int(start * RATE) + 10 : int(end * RATE) - 10] = n  # speech inside the piece
    return audio


def test_pieces_are_packed_in_order_into_windows_and_a_long_one_goes_alone():
    pieces = [(0.0, 10.0), (20.0, 30.0), (40.0, 47.0), (50.0, 90.0), (95.0, 97.0)]
    windows = pack(pieces)
    assert [[p.piece for p in w] for w in windows] == [
        [(0.0, 10.0), (20.0, 30.0), (40.0, 47.0)],  # 10 + 0.5 + 10 + 0.5 + 7 = 28 s
        [(50.0, 90.0)],
        [(95.0, 97.0)],
    ]
    assert [p.at for p in windows[0]] == [0.0, 10.0 + GAP_S, 20.0 + 2 * GAP_S]
    assert all(sum(p.piece[1] - p.piece[0] for p in w) + GAP_S * (len(w) - 1) <= WINDOW_S for w in windows[:1])


def test_words_of_a_packed_window_return_to_their_pieces_times():
    pieces = [(3.0, 5.0), (30.0, 32.5), (61.0, 62.5)]
    decoder = _Decoder({1: "alpha", 2: "bravo", 3: "charlie"})
    found = decode_again(decoder, _audio(pieces), pieces, RATE)
    assert decoder.calls == [pytest.approx(2.0 + 2.5 + 1.5 + 2 * GAP_S)]  # one window, one decode
    assert {p: [(w.word.strip(), w.start) for s in segs for w in s.words] for p, segs in found.items()} == {
        (3.0, 5.0): [("alpha", 3.1)],
        (30.0, 32.5): [("bravo", 30.1)],
        (61.0, 62.5): [("charlie", 61.1)],
    }


def test_a_piece_still_empty_when_packed_is_decoded_alone():
    pieces = [(3.0, 5.0), (30.0, 33.0)]
    decoder = _Decoder({1: "alpha", 2: "bravo"}, deaf_when_packed=frozenset({2}))
    found = decode_again(decoder, _audio(pieces), pieces, RATE)
    assert decoder.calls == [pytest.approx(5.0 + GAP_S), pytest.approx(3.0)]
    assert [w.word.strip() for s in found[(30.0, 33.0)] for w in s.words] == ["bravo"]
    assert found[(30.0, 33.0)][0].start == pytest.approx(30.1)


def test_a_piece_alone_in_its_window_is_not_decoded_twice():
    pieces = [(3.0, 40.0)]
    decoder = _Decoder({1: "alpha"}, deaf_when_packed=frozenset({1}))
    found = decode_again(decoder, _audio(pieces), pieces, RATE)
    assert decoder.calls == [pytest.approx(37.0)]
    assert [w.word.strip() for s in found[(3.0, 40.0)] for w in s.words] == ["alpha"]


def test_one_segment_that_spans_two_packed_pieces_is_split_between_them():
    pieces = [(10.0, 11.0), (50.0, 51.0)]
    # One segment: a word in each piece (packed at 0.0–1.0 and 1.5–2.5).
    segment = Segment(0.2, 1.9, " one two", (Word(0.2, 0.5, " one", 0.9), Word(1.6, 1.9, " two", 0.9)), -0.2, 0.01)
    found = decode_again(lambda samples: [segment], _audio(pieces), pieces, RATE)
    assert [(s.text, s.start, s.end) for s in found[(10.0, 11.0)]] == [(" one", 10.2, 10.5)]
    assert [(s.text, s.start, s.end) for s in found[(50.0, 51.0)]] == [(" two", 50.1, 50.4)]


def test_the_tap_notes_the_pieces_faster_whispers_own_vad_found():
    import faster_whisper.transcribe as fw
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    rng = np.random.default_rng(3)
    t = np.arange(int(6 * SAMPLE_RATE)) / SAMPLE_RATE
    # Not speech to Silero, but a fixed input: whatever it finds, the tap must note the same.
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (t % 2 < 1) + rng.normal(0, 0.01, len(t))).astype(np.float32)
    assert vad_tap.listen()
    assert vad_tap.heard(SAMPLE_RATE) is None  # VAD did not run
    assert vad_tap.listen()
    expected = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=160))
    fw.get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=160))  # as transcribe calls it
    assert vad_tap.heard(SAMPLE_RATE) == [
        (round(p["start"] / SAMPLE_RATE, 3), round(p["end"] / SAMPLE_RATE, 3)) for p in expected
    ]
