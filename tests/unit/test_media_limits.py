"""Limits and whitelists that decide what an upload may make ffmpeg and PyAV do."""

import math

import av
import pytest

from kscribe.errors import ImplausibleAudio, MediaTooLong
from kscribe.media import containers
from kscribe.media.decode import build_command
from kscribe.media.limits import decode_time_limit, duration_words, limit_words, max_decoded_bytes
from kscribe.media.probe import MediaInfo, check_declared
from kscribe.settings import Settings


def test_limits_read_as_plain_words():
    assert limit_words(8 * 3600) == "8-hour"
    assert limit_words(5400) == "90-minute"
    assert limit_words(2) == "2-second"
    assert duration_words(5) == "5 seconds" and duration_words(900) == "15 minutes"
    assert duration_words(34200) == "9.5 hours"


def test_the_time_limit_never_trusts_the_declared_duration_beyond_the_maximum():
    assert decode_time_limit(600, 28800, 120, 20) == 150
    assert decode_time_limit(1000 * 3600, 28800, 120, 20) == 120 + 28800 / 20
    assert decode_time_limit(0, 28800, 120, 20) == 120 + 28800 / 20, "no declared duration: the maximum"


def test_the_decoded_size_limit():
    assert max_decoded_bytes(8 * 3600, 16000, 2) == 8 * 3600 * 16000 * 2
    assert max_decoded_bytes(math.inf, 16000, 2) is None


def _info(rate=44100, duration=60.0):
    return MediaInfo(
        duration_s=duration,
        format_name="wav",
        audio_streams=1,
        audio_codec="pcm_s16le",
        has_video=False,
        sample_rate=rate,
    )


@pytest.mark.parametrize("rate", [0, 1, 3999, 768_001, 10**9])
def test_implausible_sample_rates_are_refused(rate):
    with pytest.raises(ImplausibleAudio, match=f"sample rate says {rate} Hz"):
        check_declared(_info(rate=rate), 28800)


@pytest.mark.parametrize("rate", [4000, 8000, 16000, 44100, 48000, 192000, 768000])
def test_real_sample_rates_pass(rate):
    check_declared(_info(rate=rate), 28800)


def test_a_declared_duration_over_the_maximum_is_refused():
    check_declared(_info(duration=28800), 28800)
    with pytest.raises(MediaTooLong, match=r"longer than the 8-hour limit \(it says it lasts 8.5 hours\)"):
        check_declared(_info(duration=30600), 28800)


def test_the_whitelists_name_real_demuxers_and_none_that_read_other_files():
    known = {part for name in av.formats_available for part in name.split(",")}
    assert set(containers.DEMUXERS) <= known
    for dangerous in ("hls", "concat", "image2", "tty", "data", "dash", "webm_dash_manifest", "avisynth"):
        assert dangerous not in containers.DEMUXERS
    assert containers.input_options() == {
        "protocol_whitelist": "file",
        "format_whitelist": ",".join(containers.DEMUXERS),
    }


def test_ffmpeg_gets_the_whitelists_before_its_input_and_a_size_cap(tmp_path):
    command = build_command(tmp_path / "concat:x.mp4", tmp_path / "a.pcm", -35, 0.3, max_bytes=1000)
    i = command.index("-i")
    assert command[command.index("-protocol_whitelist") + 1] == "file" and command.index("-protocol_whitelist") < i
    assert command.index("-format_whitelist") < i
    assert command[i + 1] == f"file:{tmp_path}/concat:x.mp4", "a name never reads as a protocol"
    assert command[command.index("-fs") + 1] == "1002"
    assert "-fs" not in build_command(tmp_path / "a.mp4", tmp_path / "a.pcm", -35, 0.3)


def test_sniffing_names_the_refused_kinds(tmp_path):
    (tmp_path / "a").write_bytes(b"\xef\xbb\xbf#EXTM3U\n")
    (tmp_path / "b").write_text("ffconcat version 1.0\n")
    (tmp_path / "c").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    assert containers.sniff(tmp_path / "a") == "an HLS playlist (m3u8)"
    assert containers.sniff(tmp_path / "b") == "an ffmpeg concat script"
    assert containers.sniff(tmp_path / "c") == "" and containers.sniff(tmp_path / "gone") == ""


def test_max_duration_setting():
    assert Settings.from_env({"KSCRIBE_DATA_DIR": "/tmp/k"}).max_duration_s == 8 * 3600
    assert Settings.from_env({"KSCRIBE_DATA_DIR": "/tmp/k", "KSCRIBE_MAX_DURATION_SECONDS": "60"}).max_duration_s == 60
