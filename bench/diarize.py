"""Speaker labels: diarization error rate, speed and memory on espeak-ng conversations.

    python bench/diarize.py [--minutes 5] [--threads 1] [--chunk-seconds 60] [--json out.json]

Builds a conversation of espeak-ng voices (tests/conversation.py: en-us, en+f3, en-gb+m3,
en+f4 — synthetic voices, not recordings) with known turn boundaries and short pauses, cuts
it into fixed chunks the way extract's chunks fall (so turns cross cuts), runs the diarize
stage's model on each chunk (kscribe/asr/voices.py) and publish's clustering on all turns
(kscribe/transcript/speakers.py), and scores the result:

- DER (missed + false alarm + confusion over reference speech, 10 ms frames, the best
  one-to-one mapping of labels, no collar, overlap-free reference) by this script, and by
  pyannote.metrics' DiarizationErrorRate when that package is installed (a check only);
- seconds of audio per second of work, and per hour of audio;
- peak resident memory of this process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kscribe.asr.voices import SenkoEmbedder
from kscribe.transcript.speakers import SpeakerCount, Turns, cluster, timeline
from tests import conversation

FRAME = 0.01


def frames(segments, total, labels):
    """A frame × label matrix of who speaks (True where they do)."""
    grid = np.zeros((int(total / FRAME) + 1, len(labels)), bool)
    for start, end, who in segments:
        grid[int(start / FRAME) : int(end / FRAME), labels.index(who)] = True
    return grid


def der(reference, hypothesis, total):
    """(DER, missed, false alarm, confusion), each as a fraction of reference speech."""
    ref_labels = sorted({r[2] for r in reference})
    hyp_labels = sorted({h[2] for h in hypothesis})
    ref, hyp = frames(reference, total, ref_labels), frames(hypothesis, total, hyp_labels)
    speech = ref.any(1)
    heard = hyp.any(1)
    missed = float((speech & ~heard).sum())
    false_alarm = float((~speech & heard).sum())
    best = np.inf
    n = max(len(ref_labels), len(hyp_labels))
    for perm in itertools.permutations(range(n), len(ref_labels)) if len(hyp_labels) <= 8 else []:
        correct = sum(float((ref[:, r] & hyp[:, h]).sum()) for r, h in enumerate(perm) if h < len(hyp_labels))
        best = min(best, float((speech & heard).sum()) - correct)
    total_speech = float(speech.sum())
    confusion = best
    return (
        (missed + false_alarm + confusion) / total_speech,
        missed / total_speech,
        false_alarm / total_speech,
        confusion / total_speech,
    )


def pyannote_der(reference, hypothesis):
    try:
        from pyannote.core import Annotation, Segment
        from pyannote.metrics.diarization import DiarizationErrorRate
    except ImportError:
        return None
    ref, hyp = Annotation(), Annotation()
    for s, e, w in reference:
        ref[Segment(s, e)] = w
    for s, e, w in hypothesis:
        hyp[Segment(s, e)] = w
    return float(DiarizationErrorRate(collar=0.0, skip_overlap=False)(ref, hyp))


def build(minutes, speakers, seed):
    rng = np.random.default_rng(seed)
    lines, seconds, previous = [], 0.0, -1
    while seconds < minutes * 60:
        who = int(rng.choice([v for v in range(speakers) if v != previous]))
        previous = who
        text = conversation.LINES[int(rng.integers(len(conversation.LINES)))]
        lines.append((conversation.VOICES[who], text))
        seconds += 5.0
    return conversation.conversation(lines, pause_s=0.3)


def run(minutes, speakers, chunk_s, threads, seed=0):
    audio, turns = build(minutes, speakers, seed)
    total = len(audio) / conversation.SAMPLE_RATE
    embedder = SenkoEmbedder(threads)
    embedder.load()
    started = time.perf_counter()
    parts, step = [], int(chunk_s * conversation.SAMPLE_RATE)
    for at in range(0, len(audio), step):
        parts.append(embedder.turns(audio[at : at + step]).shifted(at / conversation.SAMPLE_RATE))
    embed_s = time.perf_counter() - started
    started = time.perf_counter()
    joined = Turns.joined(parts)
    runs = timeline(joined.spans, cluster(joined.embeddings, SpeakerCount()))
    cluster_s = time.perf_counter() - started
    reference = [(t.start, t.end, t.speaker) for t in turns]
    hypothesis = [(s, e, f"S{w}") for s, e, w in runs]
    ours = der(reference, hypothesis, total)
    return {
        "minutes": round(total / 60, 2),
        "speakers": speakers,
        "found": len({h[2] for h in hypothesis}),
        "chunk_s": chunk_s,
        "threads": threads,
        "turns": len(joined),
        "der": round(ours[0], 4),
        "missed": round(ours[1], 4),
        "false_alarm": round(ours[2], 4),
        "confusion": round(ours[3], 4),
        "der_pyannote_metrics": pyannote_der(reference, hypothesis),
        "embed_s": round(embed_s, 2),
        "cluster_s": round(cluster_s, 3),
        "x_realtime": round(total / (embed_s + cluster_s), 1),
        "seconds_per_audio_hour": round(3600 * (embed_s + cluster_s) / total, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--speakers", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--chunk-seconds", type=float, default=60)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = [run(args.minutes, n, args.chunk_seconds, args.threads) for n in args.speakers]
    for r in results:
        print(json.dumps(r))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
