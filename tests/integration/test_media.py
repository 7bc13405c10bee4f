"""Probing and decoding with the real ffmpeg and PyAV."""

import pytest

from kscribe.errors import MediaError, NoAudioTrack, NotMedia
from kscribe.media.decode import SAMPLE_RATE, decode_audio
from kscribe.media.probe import probe
from tests.conftest import SAMPLE_INFO, SAMPLE_VIDEO, make_truncated_video, make_video_without_audio
from tests.media_files import ffmpeg


def test_probe_reads_duration_and_audio(tmp_path):
    info = probe(SAMPLE_VIDEO)
    assert info.audio_streams == 1 and info.has_video and info.audio_codec == "aac"
    assert abs(info.duration_s - SAMPLE_INFO["duration_s"]) < 0.1


def test_decode_gives_16k_mono_and_finds_the_pauses(tmp_path):
    audio = decode_audio(SAMPLE_VIDEO, tmp_path / "a.pcm", threshold_db=-35, min_silence_s=0.3, timeout_s=60)
    assert abs(audio.duration_s - SAMPLE_INFO["duration_s"]) < 0.1
    assert audio.path.stat().st_size == audio.samples * 2
    # The two 2-second pauses between passages must be among the silences found.
    starts = [p["start_s"] for p in SAMPLE_INFO["passages"]]
    for passage_start in starts[1:]:
        assert any(s.duration_s > 1.5 and abs(s.end_s - passage_start) < 0.4 for s in audio.silences), audio.silences


def test_video_without_audio_track_is_rejected(tmp_path):
    video = tmp_path / "silent.mp4"
    make_video_without_audio(video)
    with pytest.raises(NoAudioTrack, match="no audio track"):
        probe(video)


def test_not_media_is_rejected(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are meeting notes, not a video\n" * 50)
    with pytest.raises(NotMedia, match="not a readable audio or video file"):
        probe(fake)


def test_truncated_container_is_rejected(tmp_path):
    cut = tmp_path / "cut.mp4"
    make_truncated_video(cut)
    with pytest.raises(NotMedia):
        probe(cut)


def test_ffmpeg_failure_carries_its_stderr(tmp_path):
    with pytest.raises(MediaError, match="could not be decoded") as err:
        decode_audio(tmp_path / "gone.mp4", tmp_path / "a.pcm", threshold_db=-35, min_silence_s=0.3, timeout_s=60)
    assert "No such file or directory" in err.value.stderr_tail


def test_ffmpeg_is_killed_at_its_timeout(tmp_path):
    with pytest.raises(MediaError, match="took longer than"):
        decode_audio(SAMPLE_VIDEO, tmp_path / "a.pcm", threshold_db=-35, min_silence_s=0.3, timeout_s=0.001)


def test_decoding_a_rate_other_than_16k(tmp_path):
    wav = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3", "-ac", "2", str(wav))
    audio = decode_audio(wav, tmp_path / "a.pcm", threshold_db=-35, min_silence_s=0.3, timeout_s=60)
    assert audio.samples == 3 * SAMPLE_RATE and audio.silences == ()
