"""Run ``kscribe run`` on a long generated video and check what issue-level promises depend on:
peak memory, word error rate, passage start times (also right after chunk cuts), and a
timeline that runs continuously across chunk boundaries.

    python bench/make_long_video.py --minutes 30 bench/results/long-30.mp4
    python bench/long_video.py bench/results/long-30.mp4
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kscribe.media.chunking import balanced_target, plan_cuts
from kscribe.media.decode import SAMPLE_RATE, DecodedAudio, decode_audio
from kscribe.settings import Settings
from kscribe.transcript.quality import normalize, word_error_rate

PAUSE_S = 0.3  # the generated videos put at least 0.6 s between passages


def analyse(transcript: dict, reference: dict, chunk_starts: list[float]) -> dict:
    segments = transcript["segments"]
    words = [w for s in segments for w in s["words"]]
    backwards = sum(1 for a, b in zip(words, words[1:]) if b["start"] < a["start"] - 1e-3)
    errors, after_cut, missed, worst = [], [], 0, []
    spoken = [(normalize(w["word"]) or [""])[0] for w in words]
    after_pause = [True] + [b["start"] - a["end"] >= PAUSE_S for a, b in zip(words, words[1:])]
    for passage in reference["passages"]:
        # Whisper may merge passages into one segment, so look for the passage's first word
        # near where the passage starts, and make sure it is the opening: followed by the
        # passage's second word, or said after a pause (a lone "the" also matches inside the
        # passage before). A passage whose first word is not recognised is a miss, not a
        # start error.
        first, second = normalize(passage["text"])[:2]
        near = [
            w
            for i, w in enumerate(words)
            if spoken[i] == first
            and abs(w["start"] - passage["start_s"]) < 5
            and (spoken[i + 1 : i + 2] == [second] or after_pause[i])
        ]
        if not near:
            missed += 1
            continue
        error = min(abs(w["start"] - passage["start_s"]) for w in near)
        errors.append(error)
        worst.append((round(error, 3), passage["start_s"], " ".join(passage["text"].split()[:4])))
        if any(0 <= passage["start_s"] - cut < 5.0 for cut in chunk_starts[1:]):
            after_cut.append(error)
    errors.sort()
    gaps = [b["start"] - a["end"] for a, b in zip(segments, segments[1:])]
    return {
        "wer": round(word_error_rate(reference["text"], transcript["text"]), 4),
        "passages": len(reference["passages"]),
        "opening_missed": missed,
        "start_error_median_s": round(errors[len(errors) // 2], 3),
        "start_error_p95_s": round(errors[int(len(errors) * 0.95)], 3),
        "start_error_max_s": round(errors[-1], 3),
        "worst_starts": sorted(worst, reverse=True)[:3],
        "passages_right_after_a_cut": len(after_cut),
        "start_error_after_cut_max_s": round(max(after_cut), 3) if after_cut else None,
        "words_out_of_order": backwards,
        "largest_gap_between_segments_s": round(max(gaps), 3) if gaps else 0.0,
        "last_segment_end_s": segments[-1]["end"] if segments else 0.0,
    }


def cut(video: Path, scratch: Path, chunk_seconds: float, parallel: int) -> tuple[DecodedAudio, list[tuple[int, int]]]:
    """``video`` decoded into ``scratch`` and cut as the extract stage cuts it (default
    silence settings): the audio and the (start, end) sample of every chunk."""
    settings = Settings.from_env({"KSCRIBE_DATA_DIR": "/nonexistent"})
    audio = decode_audio(
        video,
        scratch / "audio.pcm",
        threshold_db=settings.silence_threshold_db,
        min_silence_s=settings.silence_min_s,
        timeout_s=3600,
    )
    target = balanced_target(audio.duration_s, chunk_seconds, parallel)
    return audio, plan_cuts(audio.samples, audio.silences, target)


def chunk_starts(video: Path, chunk_seconds: float, parallel: int = 1) -> list[float]:
    """Where kscribe cut ``video``, in seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        _, cuts = cut(video, Path(tmp), chunk_seconds, parallel)
        return [start / SAMPLE_RATE for start, _ in cuts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--chunk-seconds", type=float, default=600)
    args = parser.parse_args()
    reference = json.loads(Path(str(args.video) + ".json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, KSCRIBE_DATA_DIR=tmp, KSCRIBE_CHUNK_SECONDS=str(args.chunk_seconds))
        env.pop("REDIS_URL", None)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "kscribe", "run", "-q", str(args.video), "--out", f"{tmp}/out"],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if done.returncode != 0:
            sys.exit(f"kscribe run failed:\n{done.stderr[-3000:]}")
        transcript = json.loads(Path(f"{tmp}/out/{args.video.stem}.json").read_text())
        job_id = transcript["job_id"]  # -q prints only the output paths
        status = subprocess.run(
            [sys.executable, "-m", "kscribe", "status", "--json", job_id],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        job = json.loads(status.stdout)
    report = {
        "video": str(args.video),
        "duration_s": job["duration_s"],
        "chunks": job["chunks_total"],
        "wall_s": round(wall, 1),
        "x_real_time": round(job["duration_s"] / wall, 1),
        "peak_rss_mib": round(peak_mib, 1),
        "timings": job["timings"],
        **analyse(transcript, reference, chunk_starts(args.video, args.chunk_seconds, min(os.cpu_count() or 1, 4))),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
