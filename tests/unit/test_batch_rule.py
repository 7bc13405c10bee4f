"""KSCRIBE_BATCH_SIZE=auto and KSCRIBE_VAD_MIN_SILENCE_MS=auto: the rule, the settings that
select it, and the transcriber that applies it to every chunk (the same call serves
`kscribe run` and the transcribe stage of the stack)."""

from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest

from kscribe.asr.base import (
    AUTO_BATCH_MIN_S,
    AUTO_BATCH_SIZE,
    BATCHED_VAD_MIN_SILENCE_MS,
    VAD_MIN_SILENCE_MS,
    choose_batch_size,
    choose_vad_min_silence_ms,
)
from kscribe.asr.whisper import WhisperTranscriber, options_from_settings
from kscribe.errors import ConfigError
from kscribe.media.decode import SAMPLE_RATE
from kscribe.settings import Settings


def settings(tmp_path, **env):
    return Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path), **env})


def test_both_are_automatic_unless_set(tmp_path):
    s = settings(tmp_path)
    assert s.batch_size is None and s.vad_min_silence_ms is None
    options = options_from_settings(s)
    assert options.batch_size is None and options.vad_min_silence_ms is None


@pytest.mark.parametrize("raw, value", [("auto", None), (" AUTO ", None), ("0", 0), ("8", 8), ("32", 32)])
def test_explicit_values_and_auto_are_read(tmp_path, raw, value):
    s = settings(tmp_path, KSCRIBE_BATCH_SIZE=raw, KSCRIBE_VAD_MIN_SILENCE_MS=raw)
    assert s.batch_size == value and s.vad_min_silence_ms == value


@pytest.mark.parametrize("raw", ["-1", "eight", "8.5"])
def test_a_bad_batch_size_is_a_config_error(tmp_path, raw):
    with pytest.raises(ConfigError, match="KSCRIBE_BATCH_SIZE"):
        settings(tmp_path, KSCRIBE_BATCH_SIZE=raw)


@pytest.mark.parametrize("explicit", [0, 1, 4, 16])
@pytest.mark.parametrize("vad_filter", [True, False])
@pytest.mark.parametrize("duration_s", [1.0, 59.0, 600.0, 1800.0])
def test_an_explicit_batch_size_is_kept(explicit, vad_filter, duration_s):
    assert choose_batch_size(explicit, duration_s, vad_filter) == explicit


@pytest.mark.parametrize("duration_s", [AUTO_BATCH_MIN_S, 450.0, 1800.0])
def test_auto_batches_long_chunks_when_vad_cuts_them_into_pieces(duration_s):
    assert choose_batch_size(None, duration_s, vad_filter=True) == AUTO_BATCH_SIZE > 0


@pytest.mark.parametrize("duration_s", [0.5, 8.0, AUTO_BATCH_MIN_S - 0.01])
def test_auto_decodes_short_chunks_in_turn(duration_s):
    assert choose_batch_size(None, duration_s, vad_filter=True) == 0


@pytest.mark.parametrize("duration_s", [8.0, 600.0])
def test_auto_without_vad_decodes_in_turn(duration_s):
    # The batched pipeline cuts its pieces with VAD: without it faster-whisper refuses audio
    # over 30 s, so the automatic choice never picks it then.
    assert choose_batch_size(None, duration_s, vad_filter=False) == 0


def test_vad_pause_follows_the_decoding_mode_unless_set():
    assert choose_vad_min_silence_ms(None, batch_size=8) == BATCHED_VAD_MIN_SILENCE_MS
    assert choose_vad_min_silence_ms(None, batch_size=0) == VAD_MIN_SILENCE_MS
    assert BATCHED_VAD_MIN_SILENCE_MS < VAD_MIN_SILENCE_MS
    assert choose_vad_min_silence_ms(500, batch_size=8) == 500
    assert choose_vad_min_silence_ms(0, batch_size=0) == 0


class _Recorder:
    """Stands in for faster-whisper's model and batched pipeline: records how it was called."""

    calls: ClassVar[list[dict]] = []

    def __init__(self, model=None):
        # The CTranslate2 model beneath, as the transcriber reads it (an English-only one).
        self.model = SimpleNamespace(is_multilingual=False, forget=lambda: None, last="")

    def transcribe(self, audio, **kwargs):
        self.calls.append({"pipeline": type(self).__name__, **kwargs})
        return iter(()), SimpleNamespace(language="en", language_probability=1.0)


class _Batched(_Recorder):
    pass


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    import faster_whisper

    _Recorder.calls = []
    monkeypatch.setattr(faster_whisper, "BatchedInferencePipeline", _Batched)
    t = WhisperTranscriber(tmp_path)
    monkeypatch.setattr(t, "_model", lambda options: _Recorder())
    return t


def _seconds(n: float) -> np.ndarray:
    return np.zeros(int(n * SAMPLE_RATE), dtype=np.float32)


@pytest.mark.parametrize("vad", ["on", "off"])
@pytest.mark.parametrize("duration_s", [20.0, 450.0])
def test_the_transcriber_applies_the_rule_to_each_chunk(recorded, tmp_path, vad, duration_s):
    options = options_from_settings(settings(tmp_path, KSCRIBE_VAD=vad))
    recorded.transcribe(_seconds(duration_s), options)
    (call,) = _Recorder.calls
    if vad == "on" and duration_s >= AUTO_BATCH_MIN_S:
        assert call["pipeline"] == "_Batched" and call["batch_size"] == AUTO_BATCH_SIZE
        assert call["vad_parameters"]["min_silence_duration_ms"] == BATCHED_VAD_MIN_SILENCE_MS
    else:
        assert call["pipeline"] == "_Recorder" and "batch_size" not in call
        assert call["vad_filter"] is (vad == "on")
        assert call["vad_parameters"]["min_silence_duration_ms"] == VAD_MIN_SILENCE_MS


def test_the_transcriber_keeps_explicit_settings(recorded, tmp_path):
    sequential = options_from_settings(settings(tmp_path, KSCRIBE_BATCH_SIZE="0"))
    recorded.transcribe(_seconds(600), sequential)
    batched = options_from_settings(settings(tmp_path, KSCRIBE_BATCH_SIZE="16", KSCRIBE_VAD_MIN_SILENCE_MS="700"))
    recorded.transcribe(_seconds(600), batched)
    first, second = _Recorder.calls
    assert first["pipeline"] == "_Recorder" and "batch_size" not in first
    assert first["vad_parameters"]["min_silence_duration_ms"] == VAD_MIN_SILENCE_MS
    assert second["pipeline"] == "_Batched" and second["batch_size"] == 16
    assert second["vad_parameters"]["min_silence_duration_ms"] == 700
