"""The diarize stage's filterbanks: CPU seconds per hour of audio, numpy against senko's library.

    python bench/fbank.py [--minutes 5] [--repeats 5] [--library PATH] [--json out.json]

On an espeak-ng conversation (tests/conversation.py, two voices), the diarize stage's own
turns (Silero VAD, 1.5 s windows every 0.6 s, kscribe/asr/voices.py) get their filterbanks from

- ``kscribe.asr.fbank`` (numpy, what kscribe runs), in this process;
- senko's native library, in a child process (tests/native_fbank.py), where this CPU has the
  AVX-512 it is built for, or any build of it with its C interface given by ``--library``
  (senko's C++ source compiled for this CPU, say). Its CPU time counts all its threads.

Repeats alternate the two; medians. For scale, CAM++'s CPU time on the same turns (one torch
thread), which the features feed. Also the largest difference between the two sets of features
and the lowest cosine between CAM++ embeddings of each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kscribe.asr import fbank, voices
from tests import conversation, native_fbank


def talk(minutes: float) -> np.ndarray:
    lines, seconds, i = [], 0.0, 0
    while seconds < minutes * 60:
        lines.append((conversation.VOICES[i % 2], conversation.LINES[i % len(conversation.LINES)]))
        seconds += 5.0
        i += 1
    return conversation.conversation(lines, pause_s=0.3)[0]


def cpu_seconds(work) -> tuple[object, float]:
    started = time.process_time()
    result = work()
    return result, time.process_time() - started


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--library", help="a build of senko's extractor (default: senko's own, if this CPU runs it)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    audio = talk(args.minutes)
    hours = len(audio) / voices.SAMPLE_RATE / 3600
    models = voices._models(1)
    spans = voices.windows(models.speech(audio))
    library = args.library or (native_fbank.shipped_library() if native_fbank.cpu_runs_it() else None)

    ours_s: list[float] = []
    theirs_s: list[float] = []
    ours = theirs = None
    for _ in range(args.repeats):
        ours, seconds = cpu_seconds(lambda: fbank.turn_features(audio, spans))
        ours_s.append(seconds)
        if library:
            theirs, seconds = native_fbank.timed_features(audio, spans, library)
            theirs_s.append(seconds)
    embeddings, camplusplus_s = cpu_seconds(lambda: models.embed(ours))

    report: dict[str, object] = {
        "audio_min": round(hours * 60, 2),
        "turns": len(spans),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "numpy_cpu_s_per_audio_hour": round(statistics.median(ours_s) / hours, 1),
        "camplusplus_cpu_s_per_audio_hour": round(camplusplus_s / hours, 1),
        "library": library,
    }
    if library and theirs is not None and ours is not None:
        difference = max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs, strict=True))
        report |= {
            "library_cpu_s_per_audio_hour": round(statistics.median(theirs_s) / hours, 1),
            "max_abs_feature_difference": float(f"{difference:.2e}"),
            "min_embedding_cosine": round(float(cosines(embeddings, models.embed(theirs)).min()), 7),
        }
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
