"""Where to cut a long recording: at silences, near a target chunk length."""

from __future__ import annotations

import math
from collections.abc import Sequence

from kscribe.media.decode import SAMPLE_RATE, Silence

# The target chunk length unless KSCRIBE_CHUNK_SECONDS sets one. In the stack chunks are
# decoded at once by several pods, so they are short enough to spread a job's work. Where one
# process decodes one chunk at a time (`kscribe run`), chunks only bound memory, and each one
# costs: its last batch is part-empty and its speech pieces are cut at its ends. On a
# 35-minute file with tiny.en, batches of 8, 2 cores, 1800 s (one chunk) took 45.6 s and
# 1.22 GiB where 600 s (four) took 56.5 s and 1.07 GiB; bare faster-whisper's batched
# pipeline 48.5 s and 1.09 GiB (bench/reports/2026-12-07-lossless-cpu-2-cores.md).
STACK_CHUNK_S = 600.0
LOCAL_CHUNK_S = 1800.0
# A cut is looked for within ±20 % of the target length; a chunk never exceeds 1.2 × target.
WINDOW_FRACTION = 0.2
# Below this, splitting to keep workers busy costs more in per-chunk overhead than it saves.
MIN_PARALLEL_CHUNK_S = 60.0
# Audio each chunk also holds from its neighbours on either side. A chunk whose audio began
# right at a speech onset lost that whole turn (issue 21: a 73 s dialogue cut at 37.0 s);
# with a second of context the decoder hears the onset, and merge keeps each word once.
PAD_S = 1.0


def padded(start: int, end: int, total: int, pad_s: float = PAD_S) -> tuple[int, int]:
    """The sample range a chunk's audio holds: ``[start, end)`` and ``pad_s`` either side."""
    pad = int(pad_s * SAMPLE_RATE)
    return max(0, start - pad), min(total, end + pad)


def balanced_target(total_s: float, target_s: float, parallel: int) -> float:
    """The target length that gives a chunk count that is a multiple of ``parallel``, so
    ``parallel`` workers finish together instead of one working alone on the last chunk."""
    if parallel <= 1:
        return target_s
    count = math.ceil(total_s / (target_s * (1 + WINDOW_FRACTION)))
    count = math.ceil(count / parallel) * parallel
    return min(target_s, max(total_s / count, MIN_PARALLEL_CHUNK_S))


def plan_cuts(total_samples: int, silences: Sequence[Silence], target_s: float) -> list[tuple[int, int]]:
    """Split ``[0, total_samples)`` into ``(start, end)`` sample ranges.

    Each cut falls in the middle of the longest silence within the window around the target
    length, so no word is split. If that window has no silence, the cut is made at the target
    length itself (speech without a pause for minutes is rare; the transcript loses at most a
    word there). A recording shorter than 1.2 × target is one chunk.
    """
    target = int(target_s * SAMPLE_RATE)
    window = int(target * WINDOW_FRACTION)
    middles = sorted(((s.start_s + s.end_s) / 2 * SAMPLE_RATE, s.duration_s) for s in silences)
    ranges: list[tuple[int, int]] = []
    start = 0
    while total_samples - start > target + window:
        ideal = start + target
        candidates = [(dur, -abs(mid - ideal), mid) for mid, dur in middles if abs(mid - ideal) <= window]
        cut = int(round(max(candidates)[2])) if candidates else ideal
        ranges.append((start, cut))
        start = cut
    ranges.append((start, total_samples))
    return ranges
