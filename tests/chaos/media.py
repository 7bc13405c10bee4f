"""The chaos suite's media: deterministic mutations of real files (a seeded RNG per file) and
extremes made with the ffmpeg kscribe uses."""

from __future__ import annotations

import random
from pathlib import Path

from tests.media_files import ffmpeg

MUTATIONS = ("flip", "truncate", "zero")


def mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    """``data`` with random bytes flipped, cut short, or a range zeroed (never the first
    byte's neighbourhood only: ranges fall anywhere in the file)."""
    buf = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 64)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del buf[rng.randint(1, len(buf) - 1) :]
    else:
        start = rng.randrange(len(buf))
        end = min(len(buf), start + rng.randint(16, max(17, len(buf) // 8)))
        buf[start:end] = bytes(end - start)
    return bytes(buf)


def mutated_files(sources: list[Path], count: int, out: Path, seed: int = 11) -> list[Path]:
    """``count`` files, cycling over ``sources`` and the three mutations, each from its own
    seeded RNG: the same ``count`` gives the same bytes on every run."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        source = sources[i % len(sources)]
        kind = MUTATIONS[(i // len(sources)) % len(MUTATIONS)]
        path = out / f"m{i:03d}-{kind}-{source.stem}{source.suffix}"
        path.write_bytes(mutate(source.read_bytes(), kind, random.Random(seed * 1000 + i)))
        files.append(path)
    return files


def clips(sample: Path, out: Path) -> dict[str, Path]:
    """Short WAVs cut from the sample (speech), for the load and mutation scenarios."""
    out.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, start, length in (("tiny-a", 0, 2), ("tiny-b", 4, 3), ("tiny-c", 12, 2)):
        made[name] = out / f"{name}.wav"
        ffmpeg(
            "-ss", str(start), "-t", str(length), "-i", str(sample), "-vn", "-ac", "1", "-ar", "16000", str(made[name])
        )
    return made


def extremes(sample: Path, out: Path, silence_s: int) -> dict[str, Path]:
    """Hours (or ``silence_s``) of silence, eight audio streams, one frame of video and
    nothing else, 48 channels."""
    out.mkdir(parents=True, exist_ok=True)
    made = {
        "silence": out / "silence.m4a",
        "eight-streams": out / "eight-streams.mkv",
        "one-frame": out / "one-frame.mp4",
        "48-channels": out / "48-channels.wav",
    }
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=8000:cl=mono",
        "-t",
        str(silence_s),
        "-c:a",
        "aac",
        "-b:a",
        "8k",
        str(made["silence"]),
    )
    inputs = [arg for _ in range(8) for arg in ("-t", "10", "-i", str(sample))]
    maps = [arg for i in range(8) for arg in ("-map", f"{i}:a")]
    ffmpeg(*inputs, *maps, "-c:a", "aac", "-b:a", "32k", str(made["eight-streams"]))
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=64x64:r=1", "-frames:v", "1", "-c:v", "mpeg4", str(made["one-frame"]))
    ffmpeg(
        "-t",
        "8",
        "-i",
        str(sample),
        "-filter_complex",
        "[0:a]aformat=channel_layouts=mono:sample_rates=16000,asplit=48"
        + "".join(f"[s{i}]" for i in range(48))
        + ";"
        + "".join(f"[s{i}]" for i in range(48))
        + "amerge=inputs=48",
        "-c:a",
        "pcm_s16le",
        str(made["48-channels"]),
    )
    return made
