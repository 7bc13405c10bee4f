"""Second decodes: the pieces a first pass left empty are packed into shared windows and
decoded sequentially, their words put back at each piece's own time; a piece still empty
after that is decoded alone. The pieces checked are the ones faster-whisper's VAD found."""

import numpy as np
import pytest

from kscribe.asr import vad_tap
from kscribe.asr.redecode import DEFAULT_TOKENS, GAP_S, WINDOW_S, decode_again, pack, token_budget
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
        self.words, self.deaf_when_packed, self.calls, self.speech_s = words, deaf_when_packed, [], []

    def __call__(self, samples: np.ndarray, speech_s: float) -> list[Segment]:
        self.calls.append(len(samples) / RATE)
        self.speech_s.append(speech_s)
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
    pieces = [(0.0, 10.0), (20.0, 30.0), (40.0, 46.0), (50.0, 90.0), (95.0, 97.0)]
    windows = pack(pieces)
    assert [[p.piece for p in w] for w in windows] == [
        [(0.0, 10.0), (20.0, 30.0), (40.0, 46.0)],  # 10 + 1 + 10 + 1 + 6 = 28 s
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
    assert decoder.speech_s == [pytest.approx(6.0)], "the budget follows the speech, not the gaps"
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


def test_what_a_decoder_looping_on_a_piece_writes_is_not_kept():
    pieces = [(3.0, 4.0), (30.0, 31.0)]  # packed at 0.0–1.0 and 2.0–3.0
    calls = []

    def decode(samples, speech_s):
        calls.append(len(samples) / RATE)
        loop = _said(0.05, *["la"] * 18, step=0.05)  # 18 words in the first piece's second
        return [loop, _said(2.1, "bravo")] if len(calls) == 1 else [loop]

    found = decode_again(decode, _audio(pieces), pieces, RATE)
    # The loop is dropped packed and again alone: the piece holds nothing, not 18 "la"s.
    assert calls == [pytest.approx(3.0), pytest.approx(1.0)]
    assert found[(3.0, 4.0)] == []
    assert [w.word.strip() for s in found[(30.0, 31.0)] for w in s.words] == ["bravo"]


def test_a_piece_alone_in_its_window_is_not_decoded_twice():
    pieces = [(3.0, 40.0)]
    decoder = _Decoder({1: "alpha"}, deaf_when_packed=frozenset({1}))
    found = decode_again(decoder, _audio(pieces), pieces, RATE)
    assert decoder.calls == [pytest.approx(37.0)]
    assert [w.word.strip() for s in found[(3.0, 40.0)] for w in s.words] == ["alpha"]


def test_one_segment_that_spans_two_packed_pieces_is_split_between_them():
    pieces = [(10.0, 11.0), (50.0, 51.0)]
    # One segment: a word in each piece (packed at 0.0–1.0 and 2.0–3.0).
    segment = Segment(0.2, 2.4, " one two", (Word(0.2, 0.5, " one", 0.9), Word(2.1, 2.4, " two", 0.9)), -0.2, 0.01)
    found = decode_again(lambda samples, speech_s: [segment], _audio(pieces), pieces, RATE)
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


def test_a_word_in_a_gap_belongs_to_no_piece_and_words_stay_inside_their_piece():
    pieces = [(10.0, 11.0), (40.0, 41.0)]  # packed at 0.0–1.0 and 2.0–3.0
    decoded = [
        _said(0.2, "alpha"),  # 0.2–0.4: the first piece's
        Segment(0.8, 1.3, " late", (Word(0.8, 1.3, " late", 0.9),), -0.2, 0.01),  # middle 1.05: in the gap
        Segment(1.9, 2.3, " early", (Word(1.9, 2.3, " early", 0.9),), -0.2, 0.01),  # middle 2.1: the second's
    ]
    found = decode_again(
        lambda samples, speech_s: decoded if len(samples) > 2 * RATE else [], _audio(pieces), pieces, RATE
    )
    words = {p: [(w.word.strip(), w.start, w.end) for s in segs for w in s.words] for p, segs in found.items()}
    # "early" starts in the gap: kept, but inside its piece (40.0, not 39.9).
    assert words == {(10.0, 11.0): [("alpha", 10.2, 10.4)], (40.0, 41.0): [("early", 40.0, 40.3)]}


def test_without_word_timings_every_piece_is_decoded_alone():
    pieces = [(10.0, 11.0), (50.0, 51.0)]
    calls = []

    def decode(samples, speech_s):
        calls.append(len(samples) / RATE)
        return [Segment(0.1, 0.8, f" piece{len(calls)}", (), -0.2, 0.01)]

    found = decode_again(decode, _audio(pieces), pieces, RATE, packed=False)
    assert calls == [pytest.approx(1.0), pytest.approx(1.0)]
    assert [(s.text, s.start) for s in found[(10.0, 11.0)]] == [(" piece1", 10.1)]
    assert [(s.text, s.start) for s in found[(50.0, 51.0)]] == [(" piece2", 50.1)]


def test_recovered_words_of_touching_pieces_are_all_kept(monkeypatch, tmp_path):
    """Two empty pieces that touch (VAD splits a short pause between them): each recovered
    word is kept once, at its piece's time, and the coverage record agrees with the text."""
    from types import SimpleNamespace

    from kscribe.asr.whisper import WhisperTranscriber

    def fw_segment(words):
        ws = [SimpleNamespace(start=a, end=b, word=t, probability=0.9) for a, b, t in words]
        return SimpleNamespace(
            start=ws[0].start,
            end=ws[-1].end,
            text="".join(w.word for w in ws),
            words=ws,
            avg_logprob=-0.2,
            no_speech_prob=0.01,
        )

    class Model:
        def transcribe(self, samples, **kwargs):
            # Packed: the first piece at 0.0–1.0, the second at 2.0–3.0; "omega" ends the first.
            return iter(
                [fw_segment([(0.1, 0.4, " alpha"), (0.6, 0.95, " omega")]), fw_segment([(2.1, 2.6, " bravo")])]
            ), None

    audio = np.ones(20 * SAMPLE_RATE, dtype=np.float32)
    pieces = [(10.0, 11.0), (11.0, 12.0)]
    segments, checked = WhisperTranscriber(tmp_path)._check_coverage(
        Model(), audio, [], pieces, {"word_timestamps": True}, "en"
    )
    assert [(w.word.strip(), w.start) for s in segments for w in s.words] == [
        ("alpha", 10.1),
        ("omega", 10.6),
        ("bravo", 11.1),
    ]
    assert [(p.words, p.redecoded) for p in checked] == [(2, True), (1, True)]


def test_a_segment_without_word_timings_that_spans_packed_pieces_is_no_ones():
    pieces = [(10.0, 11.0), (50.0, 51.0)]  # packed at 0.0–1.0 and 2.0–3.0
    calls = []

    def decode(samples, speech_s):
        calls.append(len(samples) / RATE)
        return [Segment(0.2, 2.6, " one two", (), -0.2, 0.01)] if len(calls) == 1 else []

    found = decode_again(decode, _audio(pieces), pieces, RATE)
    # Neither piece takes it (nor its times); both are then decoded alone.
    assert found == {(10.0, 11.0): [], (50.0, 51.0): []}
    assert calls == [pytest.approx(3.0), pytest.approx(1.0), pytest.approx(1.0)]


def _decoded_tokens(prompt: int, budget: int | None) -> int:
    """The tokens CTranslate2 decodes after a prompt of ``prompt`` tokens when faster-whisper
    is given ``budget`` as max_new_tokens (its generate: max_length is the prompt's length plus
    the budget, or 448; src/models/whisper.cc: at most min(max_length / 2, max_length - start
    step), the start step being the prompt less its last token)."""
    max_length = 448 if budget is None else prompt + budget
    assert max_length <= 448, "faster-whisper refuses more than the model's context"
    return min(max_length // 2, max_length - (prompt - 1))


def test_a_second_decodes_token_budget_holds_fast_speech_and_stops_a_loop_early():
    # An English-only model's prompt is its start token; a multilingual one's three or four.
    for prompt in (1, 4):
        for seconds in (0.5, 0.9, 1.8, 5.0, 10.0, 20.0, WINDOW_S):
            # Fast speech (six tokens a second, timestamps included) is decoded whole ...
            assert _decoded_tokens(prompt, token_budget(seconds)) >= 6 * seconds
        # ... and a short piece cannot loop on for hundreds of tokens.
        assert _decoded_tokens(prompt, token_budget(1.8)) <= 40
    # Where faster-whisper's own limit is lower, no budget is given.
    assert token_budget(WINDOW_S) is None and token_budget(21.0) is None
    assert _decoded_tokens(1, None) == DEFAULT_TOKENS
