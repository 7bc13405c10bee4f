"""Whether two decoded channels carry the same signal: a mono recording stored as stereo
transcribed per channel would say every word twice, once for each "speaker".

Pearson correlation of the two sample streams, read block by block from the PCM files
decode wrote (memory stays flat however long the recording; the files were just written and
are still in the page cache, so this costs a fraction of the decode). Correlation ignores a
gain difference (the same microphone at two levels is the same signal), and two voices on
two microphones correlate weakly even with bleed: a voice picked up 20 dB down by the other
microphone gives about 0.1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kscribe.media.decode import BYTES_PER_SAMPLE

# At or above this, two channels are one signal. Lossy stereo coding of a mono source keeps
# it above 0.99; a two-person interview on two microphones stays far below.
SAME_SIGNAL = 0.95
_BLOCK_SAMPLES = 1 << 20


def correlation(a: Path, b: Path) -> float:
    """Correlation (−1 … 1) of two 16-bit mono PCM files over their common length; 0.0
    when either is digital silence."""
    sum_ab = sum_aa = sum_bb = sum_a = sum_b = 0.0
    count = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            xa = np.frombuffer(fa.read(_BLOCK_SAMPLES * BYTES_PER_SAMPLE), dtype="<i2").astype(np.float64)
            xb = np.frombuffer(fb.read(_BLOCK_SAMPLES * BYTES_PER_SAMPLE), dtype="<i2").astype(np.float64)
            n = min(len(xa), len(xb))
            if n == 0:
                break
            xa, xb = xa[:n], xb[:n]
            sum_a += float(xa.sum())
            sum_b += float(xb.sum())
            sum_ab += float(np.dot(xa, xb))
            sum_aa += float(np.dot(xa, xa))
            sum_bb += float(np.dot(xb, xb))
            count += n
    if count == 0:
        return 0.0
    cov = sum_ab - sum_a * sum_b / count
    var_a = sum_aa - sum_a * sum_a / count
    var_b = sum_bb - sum_b * sum_b / count
    if var_a <= 0 or var_b <= 0:
        return 0.0
    return float(cov / np.sqrt(var_a * var_b))


def same_signal(a: Path, b: Path) -> bool:
    """Whether the channels in ``a`` and ``b`` carry the same signal (at any gains)."""
    return correlation(a, b) >= SAME_SIGNAL
