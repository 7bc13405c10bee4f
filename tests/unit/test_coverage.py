"""Coverage as an invariant: a speech piece the decoder returns empty (or nearly so) is
decoded a second time, alone and sequentially; a chunk's padding is heard but its words are
kept once, by the chunk whose span holds their middle; threads follow the chunk count."""

from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest

from kscribe.asr import coverage
from kscribe.asr import whisper as transcriber
from kscribe.asr.base import TranscribeOptions, cpu_threads_for
from kscribe.asr.coverage import Coverage, Piece, summarise
from kscribe.asr.redecode import token_budget
from kscribe.asr.whisper import WhisperTranscriber, options_from_settings
from kscribe.media.chunking import padded
from kscribe.media.decode import SAMPLE_RATE
from kscribe.settings import Settings
from kscribe.transcript.merge import merge_chunks
from kscribe.values import ChunkTranscript, Job, Segment, Word


def _fw_segment(start: float, words: list[str], step: float = 0.4):
    """A faster-whisper segment (what its generators yield) with ``words`` from ``start``."""
    ws = [
        SimpleNamespace(start=start + i * step, end=start + i * step + step * 0.8, word=f" {w}", probability=0.9)
        for i, w in enumerate(words)
    ]
    return SimpleNamespace(
        start=start,
        end=ws[-1].end,
        text="".join(w.word for w in ws),
        words=ws,
        avg_logprob=-0.2,
        no_speech_prob=0.01,
    )


class _Model:
    """faster-whisper's model and batched pipeline: the batched pipeline gives words for
    the first speech piece only; sequential decoding of a piece alone gives ``again``."""

    calls: ClassVar[list[dict]] = []
    again: ClassVar[list[str]] = ["and", "so", "my", "fellow", "Americans"]

    def __init__(self, model=None):
        self.model = SimpleNamespace(is_multilingual=False, forget=lambda: None, last="")

    def transcribe(self, audio, **kwargs):
        self.calls.append({"pipeline": type(self).__name__, "seconds": len(audio) / SAMPLE_RATE, **kwargs})
        info = SimpleNamespace(language="en", language_probability=1.0)
        if "batch_size" in kwargs:
            return iter([_fw_segment(1.2, ["ask", "not", "what", "your", "country", "can", "do"])]), info
        return iter([_fw_segment(0.5, self.again)] if self.again else []), info


class _Batched(_Model):
    pass


PIECES = [(1.0, 5.0), (10.0, 16.0)]


@pytest.fixture
def decoder(monkeypatch, tmp_path):
    import faster_whisper

    _Model.calls = []
    _Model.again = ["and", "so", "my", "fellow", "Americans"]
    monkeypatch.setattr(faster_whisper, "BatchedInferencePipeline", _Batched)
    monkeypatch.setattr(transcriber, "_speech_pieces", lambda audio, vad, batch_size: list(PIECES))
    t = WhisperTranscriber(tmp_path)
    monkeypatch.setattr(t, "_model", lambda options: _Model())
    return t


def _options(tmp_path, **env) -> TranscribeOptions:
    settings = Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path), "KSCRIBE_BATCH_SIZE": "8", **env})
    return options_from_settings(settings)


def _audio(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def test_a_piece_the_batched_pipeline_returns_empty_is_decoded_again_alone(decoder, tmp_path):
    options = _options(tmp_path, KSCRIBE_BEAM_SIZE="3")
    recognition = decoder.transcribe(_audio(20.0), options)
    batched, again = _Model.calls
    assert batched["pipeline"] == "_Batched"
    # The empty piece only, sequentially, without VAD, in the chunk's language and options.
    assert again["pipeline"] == "_Model" and "batch_size" not in again
    assert again["seconds"] == pytest.approx(6.0)
    assert again["vad_filter"] is False and "vad_parameters" not in again
    assert again["language"] == "en" and again["beam_size"] == 3
    assert again["max_new_tokens"] == token_budget(6.0), "a looping decode stops at the piece's budget"
    assert again["best_of"] == 1, "each temperature fallback samples one candidate, not five"
    # Its words are placed at the piece's time, after the first piece's.
    text = " ".join(w.word.strip() for s in recognition.segments for w in s.words)
    assert text == "ask not what your country can do and so my fellow Americans"
    assert recognition.segments[-1].words[0].start == pytest.approx(10.5)
    assert recognition.pieces == (Piece(1.0, 5.0, 7), Piece(10.0, 16.0, 5, redecoded=True))
    assert summarise(recognition.pieces) == Coverage(speech_s=10.0, covered_s=10.0, redecoded=1)


def test_a_piece_still_empty_after_the_second_decode_is_uncovered_speech(decoder, tmp_path):
    _Model.again = []
    recognition = decoder.transcribe(_audio(20.0), _options(tmp_path))
    assert len(_Model.calls) == 2
    assert recognition.pieces[1] == Piece(10.0, 16.0, 0, redecoded=True)
    c = summarise(recognition.pieces)
    assert (c.speech_s, c.covered_s, c.uncovered_s, c.redecoded) == (10.0, 4.0, 6.0, 1)


def test_pieces_that_hold_their_words_are_decoded_once(decoder, tmp_path, monkeypatch):
    monkeypatch.setattr(transcriber, "_speech_pieces", lambda audio, vad, batch_size: [(1.0, 5.0)])
    recognition = decoder.transcribe(_audio(20.0), _options(tmp_path))
    assert len(_Model.calls) == 1 and not any(p.redecoded for p in recognition.pieces)


def test_a_neighbours_last_word_reaching_over_the_edge_does_not_cover_an_empty_piece(decoder, tmp_path, monkeypatch):
    # VAD pieces meet: the first pass's "do" (3.6–3.92 s) reaches 0.12 s into the second
    # piece, whose own speech it did not decode.
    monkeypatch.setattr(transcriber, "_speech_pieces", lambda audio, vad, batch_size: [(1.0, 3.8), (3.8, 6.0)])
    recognition = decoder.transcribe(_audio(20.0), _options(tmp_path))
    assert [c["pipeline"] for c in _Model.calls] == ["_Batched", "_Model"]
    assert _Model.calls[1]["seconds"] == pytest.approx(2.2)
    first, second = recognition.pieces
    assert (first.words, first.redecoded) == (7, False)
    assert second.redecoded and second.words == 5


def test_a_word_counts_for_the_piece_that_holds_its_middle():
    def said(*spans):
        return [Segment(a, b, " w", (Word(a, b, " w", 0.9),), -0.2, 0.01) for a, b in spans]

    # "do" (3.6–3.92 s) touches the second piece; its middle is in the first.
    assert coverage.counts([(1.0, 3.8), (3.8, 6.0)], said((3.6, 3.92))) == [1, 0]
    # A middle on the edge two pieces share is the later one's, once; a piece no other
    # follows at once keeps its end.
    assert coverage.counts([(1.0, 3.8), (3.8, 6.0)], said((3.6, 4.0))) == [0, 1]
    assert coverage.counts([(1.0, 3.8), (3.8, 6.0)], said((3.8, 3.8))) == [0, 1]
    assert coverage.counts([(1.0, 3.8), (4.0, 6.0)], said((3.6, 4.0))) == [1, 0]
    assert coverage.counts([(4.0, 4.0)], said((4.0, 4.0))) == [1]  # zero length, at the edge
    assert coverage.counts([(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)], said((0.1, 0.3), (0.5, 0.7), (2.2, 2.4))) == [2, 0, 1]
    # A segment without word timings counts for each piece it spans whole, or that holds its middle.
    wordless = [Segment(0.0, 10.0, " many words", (), -0.2, 0.01)]
    assert coverage.counts([(2.0, 3.0), (9.0, 11.0), (4.0, 6.0)], wordless) == [1, 0, 1]


def test_more_words_than_anyone_says_is_a_loop():
    assert coverage.too_many_words(0.4, 18) and coverage.too_many_words(1.8, 17)
    assert not coverage.too_many_words(0.4, 3) and not coverage.too_many_words(1.8, 8)
    assert not coverage.too_many_words(10.0, 45)  # four and a half words a second
    # Where faster-whisper's words are characters, fluent speech gives seven or more a second.
    japanese = coverage.words_per_s_limit("ja")
    assert not coverage.too_many_words(3.0, 24, japanese) and coverage.too_many_words(0.4, 18, japanese)
    assert coverage.words_per_s_limit("en") == coverage.MAX_WORDS_PER_SPEECH_S
    assert coverage.words_per_s_limit(None) == japanese  # not known yet: the largest


def test_a_packed_second_decodes_budget_counts_its_pieces_not_the_gaps(decoder, tmp_path, monkeypatch):
    # Two empty 2 s pieces: packed into one 5 s window (2 + 1 s gap + 2), budgeted for 4 s.
    monkeypatch.setattr(
        transcriber, "_speech_pieces", lambda audio, vad, batch_size: [(1.0, 5.0), (10.0, 12.0), (14.0, 16.0)]
    )
    decoder.transcribe(_audio(20.0), _options(tmp_path))
    packed = _Model.calls[1]
    assert packed["seconds"] == pytest.approx(5.0)
    assert packed["max_new_tokens"] == token_budget(4.0) != token_budget(5.0)


def test_the_record_counts_the_words_the_transcript_keeps(tmp_path):
    """Without word timings a segment is one item: recovering the piece that holds its middle
    replaces it, and a piece it also spanned is then without words — and says so."""

    class Model:
        def transcribe(self, samples, **kwargs):
            return iter([_fw_segment(0.5, ["and", "so", "my", "fellow"], step=1.0)]), None

    wordless = Segment(0.0, 12.0, " one long line", (), -0.2, 0.01)
    pieces = [(2.0, 9.0), (10.0, 11.0)]  # its middle (6.0) in the first; the second spanned whole
    segments, checked = WhisperTranscriber(tmp_path)._check_coverage(
        Model(), _audio(20.0), [wordless], pieces, {"word_timestamps": False}, "en"
    )
    assert [s.text for s in segments] == [" and so my fellow"]
    assert [(p.words, p.redecoded) for p in checked] == [(4, True), (0, False)]


def test_implausibly_few_words_for_the_speech_seconds_means_a_second_decode():
    assert coverage.needs_second_decode(20.0, 0)
    assert coverage.needs_second_decode(20.0, 3)  # 0.15 words a second
    assert not coverage.needs_second_decode(20.0, 30)
    assert not coverage.needs_second_decode(1.5, 1)  # a short piece: one word is plausible


def test_coverage_counts_only_a_chunks_own_span():
    pieces = [Piece(0.2, 1.6, 3), Piece(5.0, 9.0, 0, redecoded=True), Piece(9.5, 11.0, 4)]
    c = summarise(pieces, lo=1.0, hi=10.0)
    assert c == Coverage(speech_s=5.1, covered_s=1.1, redecoded=1)
    assert c.to_dict() == {"speech_s": 5.1, "covered_s": 1.1, "redecoded": 1, "uncovered_s": 4.0}
    assert Coverage.from_dict(c.to_dict()) + c == Coverage(10.2, 2.2, 2)


def _seg(words: list[tuple[float, float, str]]) -> Segment:
    ws = tuple(Word(a, b, t, 0.9) for a, b, t in words)
    return Segment(ws[0].start, ws[-1].end, "".join(w.word for w in ws), ws, -0.2, 0.01)


JOB = Job("j", "/v.mp4", "1", "/o", "v", "tiny.en", None, "transcribe", ("json",))


def _padded_chunks(first, second, **coverages):
    """Two chunks cut at 10.0 s, each with a second of the other's audio; times from each
    chunk's start (the second's padding words before 0)."""
    return [
        ChunkTranscript("j", 0, 0.0, 10.0, "en", 1.0, tuple(first), "tiny.en", tail_s=1.0, **coverages.get("a", {})),
        ChunkTranscript("j", 1, 10.0, 10.0, "en", 1.0, tuple(second), "tiny.en", lead_s=1.0, **coverages.get("b", {})),
    ]


def _timeline(transcript):
    return [(w.word.strip(), w.start) for s in transcript.segments for w in s.words]


def test_a_word_both_chunks_hear_is_kept_once_by_the_chunk_that_holds_its_middle():
    # "boundary" (9.7–10.5, middle 10.1) is in both chunks' audio.
    first = [_seg([(8.0, 8.5, " the"), (8.6, 9.6, " word"), (9.7, 10.5, " boundary"), (10.6, 10.9, " ends")])]
    second = [_seg([(-0.3, 0.5, " boundary"), (0.6, 0.9, " ends"), (1.0, 1.5, " here")])]
    merged = merge_chunks(
        JOB,
        _padded_chunks(
            first,
            second,
            a={"coverage": Coverage(9.0, 9.0, 0).to_dict()},
            b={"coverage": Coverage(2.0, 1.5, 1).to_dict()},
        ),
    )
    assert _timeline(merged) == [("the", 8.0), ("word", 8.6), ("boundary", 9.7), ("ends", 10.6), ("here", 11.0)]
    assert merged.coverage == {"speech_s": 11.0, "covered_s": 10.5, "redecoded": 1, "uncovered_s": 0.5}


def test_a_word_each_chunk_places_on_the_others_side_of_the_cut_is_kept_once():
    # A turn starts at the cut: the first chunk (tail padding) times "Americans" after the
    # cut, the second (lead padding) before it. Each alone would drop it.
    first = [_seg([(8.0, 8.9, " changed.")]), _seg([(10.05, 10.6, " Americans")])]
    second = [_seg([(-0.45, 0.3, " Americans,"), (0.4, 0.7, " ask"), (0.8, 1.1, " not")])]
    merged = merge_chunks(JOB, _padded_chunks(first, second))
    assert _timeline(merged) == [("changed.", 8.0), ("Americans,", 9.55), ("ask", 10.4), ("not", 10.8)]


def test_padding_words_only_one_chunk_heard_are_kept():
    first = [_seg([(9.0, 9.6, " one")]), _seg([(10.2, 10.6, " two")])]  # "two": only the first heard it
    second = [_seg([(-0.5, -0.2, " three")]), _seg([(0.8, 1.2, " four")])]  # "three": only the second
    merged = merge_chunks(JOB, _padded_chunks(first, second))
    assert sorted(_timeline(merged), key=lambda w: w[1]) == [
        ("one", 9.0),
        ("three", 9.5),
        ("two", 10.2),
        ("four", 10.8),
    ]


def test_threads_follow_the_chunks_decoded_at_once():
    assert cpu_threads_for(1, cores=8) == 8  # one chunk: every core
    assert cpu_threads_for(2, cores=8) == 4
    assert cpu_threads_for(4, cores=2) == 1


def test_a_one_chunk_job_loads_the_model_with_every_core(monkeypatch, tmp_path):
    loaded = []
    monkeypatch.setattr(transcriber, "resolve_model", lambda name, cache, blobs: tmp_path)
    monkeypatch.setattr(transcriber, "load_model", lambda *args: loaded.append(args))
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    t = WhisperTranscriber(tmp_path)
    base = _options(tmp_path, KSCRIBE_DEVICE="cpu", KSCRIBE_PARALLEL_CHUNKS="2")
    t._model(base.__class__(**{**base.__dict__, "chunks_at_once": 1}))
    t._model(base.__class__(**{**base.__dict__, "chunks_at_once": 6}))
    (_, _, _, threads_one, _, workers_one), (_, _, _, threads_six, _, workers_six) = loaded
    assert (threads_one, workers_one) == (8, 1)
    assert (threads_six, workers_six) == (4, 2)


def test_a_chunks_audio_holds_a_second_of_each_neighbour():
    sr = SAMPLE_RATE
    assert padded(0, 10 * sr, 30 * sr) == (0, 11 * sr)
    assert padded(10 * sr, 20 * sr, 30 * sr) == (9 * sr, 21 * sr)
    assert padded(20 * sr, 30 * sr, 30 * sr) == (19 * sr, 30 * sr)


def test_where_the_prompt_leaves_no_room_for_the_budget_the_piece_is_decoded_as_faster_whisper_would(decoder, tmp_path):
    """faster-whisper refuses a budget that does not fit beside a long prompt and hotwords in
    its context: the piece is then decoded without one, not failed."""

    def refusing(self, audio, **kwargs):
        if kwargs.get("max_new_tokens"):
            self.calls.append({"refused": kwargs["max_new_tokens"]})
            raise ValueError("The length of the prompt is 447, and the `max_new_tokens` is 76 ...")
        return _Model.transcribe(self, audio, **kwargs)

    class Refusing(_Model):
        transcribe = refusing

    decoder._model = lambda options: Refusing()
    recognition = decoder.transcribe(_audio(20.0), _options(tmp_path))
    assert _Model.calls[1] == {"refused": token_budget(6.0)}
    assert "max_new_tokens" not in _Model.calls[2]
    assert recognition.pieces[1] == Piece(10.0, 16.0, 5, redecoded=True)
