"""Uploads built to make ffmpeg or PyAV do more than decode them, against the real ffmpeg and
PyAV: each must fail with a clear reason, and must not read any other file."""

import struct
import subprocess
from pathlib import Path

import pytest

from kscribe.errors import ImplausibleAudio, MediaError, MediaTooLong, UnsupportedContainer
from kscribe.media.decode import SAMPLE_RATE, decode_audio
from kscribe.media.ffmpeg_bin import ffmpeg_executable
from kscribe.media.probe import probe
from kscribe.values import JobStatus
from tests.integration.test_pipeline import run_file
from tests.media_files import ffmpeg

DECODE = {"threshold_db": -35, "min_silence_s": 0.3, "timeout_s": 60}


@pytest.fixture
def host_file(tmp_path) -> Path:
    """A recording on the worker's disk that no upload may reach (an HLS segment kind)."""
    secret = tmp_path / "host" / "secret.ts"
    secret.parent.mkdir()
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=16000:duration=5", "-c:a", "aac", str(secret))
    return secret


def _plain_ffmpeg_decode(path: Path) -> subprocess.CompletedProcess:
    """ffmpeg as it runs without kscribe's whitelists: what an attack gets from it."""
    return subprocess.run(
        [
            ffmpeg_executable(),
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-",
        ],
        capture_output=True,
    )


def _playlist(path: Path, target: Path) -> Path:
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:5.0,\n{target}\n#EXT-X-ENDLIST\n")
    return path


def test_an_hls_playlist_naming_a_local_file_is_refused(tmp_path, host_file):
    playlist = _playlist(tmp_path / "upload.m3u8", host_file)
    # Without the whitelists, ffmpeg follows the playlist and decodes the host's file.
    plain = _plain_ffmpeg_decode(playlist)
    assert plain.returncode == 0 and len(plain.stdout) > 5 * SAMPLE_RATE, "the attack works on a plain ffmpeg"

    with pytest.raises(UnsupportedContainer, match="it is an HLS playlist"):
        probe(playlist)
    dest = tmp_path / "a.pcm"
    with pytest.raises(MediaError, match="could not be decoded") as err:
        decode_audio(playlist, dest, **DECODE)
    assert "not on whitelist" in err.value.stderr_tail
    assert not dest.exists() or dest.stat().st_size == 0


def test_a_playlist_named_like_a_video_is_refused(tmp_path, host_file):
    disguised = _playlist(tmp_path / "upload.mp4", host_file)
    with pytest.raises(UnsupportedContainer, match="HLS playlist"):
        probe(disguised)
    with pytest.raises(MediaError):
        decode_audio(disguised, tmp_path / "a.pcm", **DECODE)


def test_a_concat_script_is_refused(tmp_path, host_file):
    script = tmp_path / "host" / "upload.mp4"  # beside the file it names: concat's safe mode allows that
    script.write_text(f"ffconcat version 1.0\nfile {host_file.name}\n")
    plain = _plain_ffmpeg_decode(script)
    assert plain.returncode == 0 and plain.stdout, "the attack works on a plain ffmpeg"

    with pytest.raises(UnsupportedContainer, match="concat script"):
        probe(script)
    with pytest.raises(MediaError) as err:
        decode_audio(script, tmp_path / "a.pcm", **DECODE)
    assert "not on whitelist" in err.value.stderr_tail


def test_a_name_that_reads_as_a_protocol_stays_a_file_name(tmp_path, host_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tricky = Path(f"concat:{host_file}")  # relative: ffmpeg would read it as the concat protocol
    with pytest.raises(MediaError, match="could not be decoded"):
        decode_audio(tricky, tmp_path / "a.pcm", **DECODE)


def _wav_header(rate: int, data_bytes: int) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def test_a_wav_declaring_1_hz_is_refused_before_decoding(tmp_path):
    wav = tmp_path / "tiny.wav"
    data = bytes(40_000)  # 20 000 samples: at 1 Hz, 5.5 hours, 640 MB once decoded to 16 kHz
    wav.write_bytes(_wav_header(1, len(data)) + data)
    with pytest.raises(ImplausibleAudio, match="sample rate says 1 Hz"):
        probe(wav)


def test_a_declared_duration_over_the_limit_is_refused(tmp_path):
    wav = tmp_path / "long.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "3", str(wav))
    assert probe(wav, max_duration_s=5).duration_s == pytest.approx(3, abs=0.1)
    with pytest.raises(MediaTooLong, match="longer than the 2-second limit"):
        probe(wav, max_duration_s=2)


def test_decoding_past_the_limit_stops_ffmpeg_whatever_the_file_says(tmp_path):
    # The header says 1 second; the data holds 6 (ffmpeg's WAV reader reads on past a short
    # data size, as it must for streamed WAVs whose header was never rewritten).
    wav = tmp_path / "liar.wav"
    data = bytes(6 * 8000 * 2)
    wav.write_bytes(_wav_header(8000, 8000 * 2)[:-4] + struct.pack("<I", 0xFFFFFFFF) + data)
    dest = tmp_path / "a.pcm"
    with pytest.raises(MediaTooLong, match="longer than the 2-second limit"):
        decode_audio(wav, dest, **DECODE, max_duration_s=2)
    assert not dest.exists(), "the partial audio is removed at once"
    assert decode_audio(wav, dest, **DECODE, max_duration_s=10).samples == 6 * SAMPLE_RATE


def test_a_hostile_upload_fails_its_job_with_the_reason(ctx, tmp_path, host_file, fake_transcriber):
    job, _ = run_file(ctx, _playlist(tmp_path / "inbox.m3u8", host_file))
    assert job.status is JobStatus.FAILED and job.failed_stage == "extract"
    assert "HLS playlist" in job.error
    assert fake_transcriber.calls == 0


def test_a_job_longer_than_the_limit_fails_with_it(ctx, sample_copy, fake_transcriber):
    ctx.settings = ctx.settings.replace(max_duration_s=10.0)
    job, _ = run_file(ctx, sample_copy)
    assert job.status is JobStatus.FAILED and "longer than the 10-second limit" in job.error
    assert fake_transcriber.calls == 0


# Every kind of file ingest accepts by name, made by ffmpeg: the whitelists must still admit it.
_KINDS = {
    "mp4": ["-c:a", "aac"],
    "m4a": ["-c:a", "aac"],
    "mov": ["-c:a", "aac"],
    "3gp": ["-c:a", "aac"],
    "mkv": ["-c:a", "libvorbis"],
    "webm": ["-c:a", "libopus"],
    "avi": ["-c:a", "libmp3lame"],
    "flv": ["-c:a", "aac"],
    "ts": ["-c:a", "aac"],
    "mpg": ["-c:a", "mp2"],
    "mxf": [
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=64x64:r=25:d=2",
        "-map",
        "1:v",
        "-map",
        "0:a",
        "-c:v",
        "mpeg2video",
        "-c:a",
        "pcm_s16le",
    ],
    "wma": ["-c:a", "wmav2"],
    "ogg": ["-c:a", "libvorbis"],
    "opus": ["-c:a", "libopus"],
    "mp3": ["-c:a", "libmp3lame"],
    "aac": ["-c:a", "aac"],
    "wav": [],
    "flac": [],
    "aiff": [],
    "caf": [],
    "w64": [],
    "amr": ["-c:a", "libopencore_amrnb", "-ar", "8000"],
}


@pytest.mark.parametrize("ext", sorted(_KINDS))
def test_every_accepted_kind_still_probes_and_decodes(tmp_path, ext):
    source = tmp_path / f"tone.{ext}"
    rate = "48000" if ext == "mxf" else "16000"
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}:duration=2", *_KINDS[ext], str(source))
    info = probe(source, max_duration_s=60)
    assert info.audio_streams == 1, info
    audio = decode_audio(source, tmp_path / "a.pcm", **DECODE, max_duration_s=60)
    assert abs(audio.duration_s - 2) < 0.2, (ext, audio.duration_s)
