"""Damaged and extreme media, built from a seeded RNG so every run sees the same bytes.

``build_all(dir)`` writes the files and returns ``{name: path}``; ``outcome(path, scratch)``
runs one through what extract runs (probe, decode, chunk cutting) and says how it ended.
``python -m tests.integration.damaged_media`` prints the table.
"""

from __future__ import annotations

import random
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

from kscribe.errors import InputError
from kscribe.media.chunking import plan_cuts
from kscribe.media.decode import decode_audio
from kscribe.media.limits import decode_time_limit
from kscribe.media.probe import probe
from kscribe.media.wav import write_wav_slice
from tests.media_files import ffmpeg

ROOT = Path(__file__).resolve().parents[2]
MEETING = ROOT / "samples" / "meeting.mp4"
SEED = 11
MAX_DURATION_S = 4 * 3600.0


def write_wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    """``samples``: int16, shape (frames, channels). Python's wave module writes no channel
    mask, so a file of more than two channels has no layout: ffmpeg must guess."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return path


def tone(seconds: float, rate: int = 16_000, hz: float = 300.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * amplitude * 32767).astype(np.int16)


def multichannel(channels: int, active: int, seconds: float = 2.0) -> np.ndarray:
    frames = np.zeros((int(seconds * 16_000), channels), dtype=np.int16)
    frames[:, active] = tone(seconds)
    return frames


def _bases(d: Path) -> dict[str, Path]:
    rng = np.random.default_rng(SEED)
    speechy = (tone(3.0) * (rng.random(48_000) > 0.3)).astype(np.int16)
    wav = write_wav(d / "base.wav", np.stack([speechy, speechy[::-1]], axis=1))
    mp3, mkv = d / "base.mp3", d / "base.mkv"
    ffmpeg("-i", str(wav), "-c:a", "libmp3lame", "-b:a", "64k", str(mp3))
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48:rate=5:duration=3",
        "-i",
        str(wav),
        "-c:v",
        "mpeg4",
        "-c:a",
        "libopus",
        "-shortest",
        str(mkv),
    )
    return {"mp4": MEETING, "wav": wav, "mp3": mp3, "mkv": mkv}


def _mutations(data: bytes, rng: random.Random) -> dict[str, bytes]:
    """Five kinds of damage, each at a few places."""
    n = len(data)
    out: dict[str, bytes] = {}
    for i in range(4):
        b = bytearray(data)
        for _ in range(rng.choice((1, 8, 64))):
            b[rng.randrange(n)] ^= 1 << rng.randrange(8)
        out[f"flip{i}"] = bytes(b)
    for frac in (0.02, 0.3, 0.7):
        out[f"trunc{int(frac * 100)}"] = data[: max(1, int(n * frac))]
    for i in range(3):
        b = bytearray(data)
        start = rng.randrange(n)
        length = rng.choice((16, 512, n // 4))
        b[start : start + length] = bytes(min(length, n - start))
        out[f"zero{i}"] = bytes(b)
    b = bytearray(data)
    b[:64] = bytes(64)
    out["zerohead"] = bytes(b)
    b = bytearray(data)
    start = rng.randrange(n // 2)
    b[start : start + 4096] = bytes(rng.randrange(256) for _ in range(min(4096, n - start)))
    out["garble4k"] = bytes(b)
    return out


def _extremes(d: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    # Hours of silence, cheaply: FLAC of digital silence compresses to almost nothing.
    files["silence-2h.flac"] = d / "silence-2h.flac"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "7200", "-c:a", "flac", str(files["silence-2h.flac"]))
    files["silence-10min.opus"] = d / "silence-10min.opus"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-t",
        "600",
        "-c:a",
        "libopus",
        "-b:a",
        "6k",
        str(files["silence-10min.opus"]),
    )
    files["eight-streams.mkv"] = d / "eight-streams.mkv"
    inputs: list[str] = []
    for i in range(8):
        inputs += ["-f", "lavfi", "-i", f"sine=frequency={200 + 50 * i}:sample_rate=16000:duration=2"]
    maps = [a for i in range(8) for a in ("-map", str(i))]
    ffmpeg(*inputs, *maps, "-c:a", "flac", str(files["eight-streams.mkv"]))
    files["one-frame.mp3"] = d / "one-frame.mp3"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=16000",
        "-frames:a",
        "1",
        "-c:a",
        "libmp3lame",
        str(files["one-frame.mp3"]),
    )
    files["one-sample.wav"] = write_wav(d / "one-sample.wav", np.ones((1, 1), dtype=np.int16))
    files["48ch.wav"] = write_wav(d / "48ch.wav", multichannel(48, 30))
    files["8ch.wav"] = write_wav(d / "8ch.wav", multichannel(8, 5))
    files["6ch-unset.wav"] = write_wav(d / "6ch-unset.wav", multichannel(6, 4))
    files["6ch-hexagonal.wav"] = d / "6ch-hexagonal.wav"
    ffmpeg(
        "-i", str(files["6ch-unset.wav"]), "-af", "aformat=channel_layouts=hexagonal", str(files["6ch-hexagonal.wav"])
    )
    files["6ch-5.1.wav"] = d / "6ch-5.1.wav"
    ffmpeg("-i", str(files["6ch-unset.wav"]), "-af", "aformat=channel_layouts=5.1", str(files["6ch-5.1.wav"]))
    files["zero-length-audio.wav"] = write_wav(d / "zero-length-audio.wav", np.zeros((0, 1), dtype=np.int16))
    files["zero-length-audio.mkv"] = d / "zero-length-audio.mkv"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48:rate=5:duration=2",
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=16000:cl=mono",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "mpeg4",
        "-c:a",
        "libopus",
        "-t",
        "2",
        "-af",
        "atrim=end_sample=0",
        str(files["zero-length-audio.mkv"]),
    )
    files["empty-file.mp4"] = d / "empty-file.mp4"
    files["empty-file.mp4"].write_bytes(b"")
    files["header-only.wav"] = d / "header-only.wav"
    files["header-only.wav"].write_bytes(files["8ch.wav"].read_bytes()[:44])
    return files


def build_all(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    files: dict[str, Path] = {}
    for kind, base in _bases(d).items():
        for name, data in _mutations(base.read_bytes(), rng).items():
            path = d / f"{kind}-{name}.{kind}"
            path.write_bytes(data)
            files[path.name] = path
    files.update(_extremes(d))
    return files


def outcome(path: Path, scratch: Path) -> tuple[str, str]:
    """("decoded", "N.N s, K chunk(s)") or (exception class name, message). Anything that is
    not an ``InputError`` propagates."""
    try:
        info = probe(path, MAX_DURATION_S)
        audio = decode_audio(
            path,
            scratch / "a.pcm",
            threshold_db=-35,
            min_silence_s=0.3,
            timeout_s=decode_time_limit(info.duration_s, MAX_DURATION_S, 30, 50),
            max_duration_s=MAX_DURATION_S,
        )
        cuts = plan_cuts(audio.samples, audio.silences, 600)
        for start, end in cuts[:2]:
            write_wav_slice(audio.path, start, end, scratch / "c.wav")
        return "decoded", f"{audio.duration_s:.1f} s, {len(cuts)} chunk(s)"
    except InputError as exc:
        return type(exc).__name__, str(exc)
    finally:
        (scratch / "a.pcm").unlink(missing_ok=True)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        files = build_all(Path(tmp) / "in")
        for name, path in files.items():
            try:
                kind, text = outcome(path, Path(tmp))
            except Exception as exc:
                kind, text = f"ESCAPED {type(exc).__name__}", str(exc)[:200]
            print(f"| {name} | {kind} | {text.replace(chr(10), ' / ')[:300]} |")
        sys.stdout.flush()
