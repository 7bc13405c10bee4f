"""Damaged and extreme media through probe, decode and chunk cutting, with the real ffmpeg
and PyAV: each decodes or fails as an InputError in plain words (anything else would be
retried as transient), within the decode watchdog's limits."""

import re
from pathlib import Path

import numpy as np
import pytest

from kscribe.errors import (
    EmptyAudioTrack,
    InputError,
    MediaError,
    NotMedia,
    ScratchFull,
    TooManyChannels,
    TransientError,
    UnsupportedCodec,
)
from kscribe.media.decode import SAMPLE_RATE, decode_audio
from kscribe.media.probe import probe
from tests.integration.damaged_media import build_all, ffmpeg, multichannel, outcome, tone, write_wav

DECODE = {"threshold_db": -35, "min_silence_s": 0.3, "timeout_s": 60}

# What a user may read: no worker path, no ffmpeg log line ("[af#0:0 @ 0x55…]", "Stream #0:1").
_LEAK = re.compile(r"/tmp|/work|file:|@ 0x|Stream #|\n|ffmpeg version|Lav[cf]\d")

EXPECTED = {
    "48ch.wav": "decoded",
    "8ch.wav": "decoded",
    "6ch-unset.wav": "decoded",
    "6ch-hexagonal.wav": "decoded",
    "6ch-5.1.wav": "decoded",
    "eight-streams.mkv": "decoded",
    "one-frame.mp3": "decoded",
    "one-sample.wav": "decoded",
    "silence-2h.flac": "decoded",
    "silence-10min.opus": "decoded",
    "zero-length-audio.wav": "EmptyAudioTrack",
    "zero-length-audio.mkv": "EmptyAudioTrack",
    "header-only.wav": "EmptyAudioTrack",
    "empty-file.mp4": "NotMedia",
}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> dict[str, Path]:
    return build_all(tmp_path_factory.mktemp("damaged"))


def test_every_damaged_or_extreme_file_decodes_or_fails_in_plain_words(damaged, tmp_path):
    assert len(damaged) >= 60
    outcomes, texts = {}, {}
    for name, path in damaged.items():
        kind, text = outcome(path, tmp_path)  # anything but an InputError escapes and fails the test
        outcomes[name], texts[name] = kind, text
        if kind != "decoded":
            assert not _LEAK.search(text), f"{name}: {text!r}"
            assert len(text) < 200 and text[0].islower(), f"{name}: {text!r}"
    wrong = {n: outcomes[n] for n, want in EXPECTED.items() if outcomes[n] != want}
    assert not wrong, wrong
    assert sum(k == "decoded" for k in outcomes.values()) > len(outcomes) // 2, outcomes
    assert texts["silence-2h.flac"] == "7200.0 s, 12 chunk(s)"


def test_an_audio_stream_with_an_unknown_codec_is_refused_not_crashed(tmp_path):
    # Found by flipping bytes: a codec id PyAV does not know leaves the stream without a
    # codec context, and the probe raised AttributeError (retried as transient for a minute).
    wav = write_wav(tmp_path / "a.wav", tone(2.0)[:, None])
    mkv = tmp_path / "a.mkv"
    ffmpeg("-i", str(wav), "-c:a", "libopus", str(mkv))
    damaged = tmp_path / "unknown-codec.mkv"
    damaged.write_bytes(mkv.read_bytes().replace(b"A_OPUS", b"A_QQQQ"))
    with pytest.raises(UnsupportedCodec, match="format kscribe cannot decode"):
        probe(damaged)


def test_more_channels_than_the_mix_takes_is_refused(tmp_path):
    wav = write_wav(tmp_path / "65ch.wav", np.zeros((1600, 65), dtype=np.int16))
    with pytest.raises(TooManyChannels, match="65 channels"):
        probe(wav)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def _decoded(path: Path, tmp_path: Path) -> np.ndarray:
    audio = decode_audio(path, tmp_path / "a.pcm", **DECODE)
    return np.fromfile(audio.path, dtype="<i2")


@pytest.mark.parametrize(
    "channels, active, layout",
    [
        (48, 30, ""),  # no channel mask: ffmpeg's downmix refuses
        (8, 5, ""),
        (6, 4, ""),
        (6, 3, "5.1"),  # the LFE channel, which ffmpeg's own 5.1 → mono drops
        (6, 5, "hexagonal"),
        (3, 2, "2.1"),
    ],
)
def test_a_voice_on_any_one_channel_is_heard_in_the_mono_mix(tmp_path, channels, active, layout):
    source = write_wav(tmp_path / "in.wav", multichannel(channels, active))
    if layout:
        labelled = tmp_path / "labelled.wav"
        ffmpeg("-i", str(source), "-af", f"aformat=channel_layouts={layout}", str(labelled))
        source = labelled
    mono = _decoded(source, tmp_path)
    assert len(mono) == 2 * SAMPLE_RATE
    # The channel's level survives the mix (an average would put it 20·log10(N) dB down).
    assert _rms(mono) == pytest.approx(_rms(tone(2.0)), rel=0.12)


def test_channels_carrying_the_same_loud_signal_do_not_clip_or_wrap(tmp_path):
    frames = np.repeat(tone(2.0, amplitude=0.8)[:, None], 8, axis=1)
    mono = _decoded(write_wav(tmp_path / "loud.wav", frames), tmp_path)
    assert len(mono) == 2 * SAMPLE_RATE
    assert np.abs(mono.astype(np.int32)).max() <= 0.92 * 32768
    # A wrapped sum would flip sign against the source; the limited one follows it.
    assert np.corrcoef(mono[4000:], frames[4000:, 0])[0, 1] > 0.95


def test_a_failed_decode_says_it_plainly_and_logs_the_details(tmp_path, caplog):
    source = tmp_path / "private" / "upload.mp3"
    source.parent.mkdir()
    source.write_bytes(b"\xff\xfb\x90\x00" + bytes(range(256)) * 40)
    with caplog.at_level("WARNING", logger="kscribe.media.decode"), pytest.raises(InputError) as err:
        decode_audio(source, tmp_path / "a.pcm", **DECODE)
    assert isinstance(err.value, (MediaError, EmptyAudioTrack))
    assert "private" not in str(err.value) and not _LEAK.search(str(err.value)), str(err.value)
    assert any(str(source) in r.getMessage() for r in caplog.records), "the path and ffmpeg's words go to the log"


def test_mediaerror_keeps_the_tail_out_of_its_message():
    error = MediaError("the audio could not be decoded", "[mp3 @ 0x1] /work/scratch/x.mp3: Invalid data")
    assert str(error) == "the audio could not be decoded" and "Invalid data" in error.stderr_tail
    assert isinstance(error, InputError) and not isinstance(NotMedia("x"), MediaError)


def test_a_full_scratch_disk_is_the_workers_trouble_not_the_files(tmp_path):
    """ffmpeg's output hits ENOSPC (written to /dev/full): ScratchFull, a transient error the
    delivery is retried for, never "the file is damaged"."""
    source = tmp_path / "tone.wav"
    write_wav(source, tone(2.0)[:, None])
    with pytest.raises(ScratchFull) as err:
        decode_audio(source, Path("/dev/full"), **DECODE)
    assert isinstance(err.value, TransientError) and not isinstance(err.value, InputError)
    assert "damaged" not in str(err.value) and "No space left on device" in str(err.value)
