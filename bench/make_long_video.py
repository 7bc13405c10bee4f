"""Build a long test video from committed speech passages and pauses.

The passages (bench/speech/passages.ogg and .json: 24 different sentences, two voices) are
taken in a seeded order that never repeats one within six places — a window of Whisper's
30 seconds then never holds the same sentence twice, which real speech rarely does and which
would trip faster-whisper's repetition fallback — with seeded pauses of 0.6–4 s, over a
plain H.264 track. Writes VIDEO and VIDEO.json holding the reference text and the start
time of every passage on the video's timeline.

    python bench/make_long_video.py --minutes 30 bench/results/long-30.mp4
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import wave
from pathlib import Path

from kscribe.media.ffmpeg_bin import ffmpeg_executable

SPEECH = Path(__file__).resolve().parent / "speech"
RATE = 16_000
NO_REPEAT_WITHIN = 6
# Raised whenever the reference a video gets would change, so stale videos are rebuilt.
FORMAT = 2


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_executable(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _cut_passages(tmp: Path) -> list[tuple[Path, float, str]]:
    info = json.loads((SPEECH / "passages.json").read_text())
    pieces = []
    for i, passage in enumerate(info["passages"]):
        out = tmp / f"passage-{i}.wav"
        _ffmpeg(
            "-ss",
            f"{passage['start_s']:.3f}",
            "-t",
            f"{passage['duration_s']:.3f}",
            "-i",
            str(SPEECH / info["audio"]),
            "-ac",
            "1",
            "-ar",
            str(RATE),
            "-c:a",
            "pcm_s16le",
            str(out),
        )
        pieces.append((out, _seconds(out), passage["text"]))
    return pieces


def _seconds(wav: Path) -> float:
    """Length from the WAV's own frame count: ffmpeg's header is not always 44 bytes (it adds
    a LIST chunk), and a byte-size guess drifts the reference ~1 ms per passage."""
    with wave.open(str(wav)) as w:
        return w.getnframes() / w.getframerate()


def _order(count: int, rng: random.Random):
    """Passage indexes forever, none repeated within NO_REPEAT_WITHIN places."""
    recent: list[int] = []
    while True:
        choice = rng.choice([i for i in range(count) if i not in recent])
        recent = (recent + [choice])[-NO_REPEAT_WITHIN:]
        yield choice


def _silence(tmp: Path, seconds: float) -> Path:
    out = tmp / f"silence-{seconds:.1f}.wav"
    if not out.exists():
        _ffmpeg(
            "-f", "lavfi", "-t", f"{seconds:.1f}", "-i", f"anullsrc=r={RATE}:cl=mono", "-c:a", "pcm_s16le", str(out)
        )
    return out


def build(minutes: float, dest: Path, seed: int = 7) -> dict:
    rng = random.Random(seed)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        passages = _cut_passages(tmp)
        order = _order(len(passages), rng)
        concat, timeline, t = [], [], 0.0
        while t < minutes * 60:
            pause = _silence(tmp, round(rng.uniform(0.6, 4.0), 1))
            concat.append(pause)
            t += _seconds(pause)
            path, length, text = passages[next(order)]
            concat.append(path)
            timeline.append({"start_s": round(t, 3), "text": text})
            t += length
        listing = tmp / "list.txt"
        listing.write_text("".join(f"file '{p}'\n" for p in concat))
        audio = tmp / "audio.m4a"
        _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c:a", "aac", "-b:a", "48k", str(audio))
        _ffmpeg(
            "-f",
            "lavfi",
            "-i",
            "color=c=0x203040:s=160x90:r=5",
            "-i",
            str(audio),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-shortest",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "stillimage",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "copy",
            str(dest),
        )
    reference = {
        "video": dest.name,
        "format": FORMAT,
        "duration_s": round(t, 3),
        "seed": seed,
        "passages": timeline,
        "text": " ".join(p["text"] for p in timeline),
    }
    Path(str(dest) + ".json").write_text(json.dumps(reference, indent=1))
    return reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args()
    ref = build(args.minutes, args.dest, args.seed)
    print(f"{args.dest}: {ref['duration_s'] / 60:.1f} min, {len(ref['passages'])} passages")


if __name__ == "__main__":
    main()
