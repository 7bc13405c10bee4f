"""Limits on what an upload may make us do, none of them taken from the file on trust."""

from __future__ import annotations

import math

from kscribe.errors import MediaTooLong

# Telephone audio is 8 kHz and some voice codecs go to 4 kHz; 768 kHz is the highest rate
# any recorder writes. Outside this, the header is broken or forged.
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 768_000
# ffmpeg's pan filter, which mixes a track down to mono, takes at most 64 input channels;
# multitrack recorders write up to 64 (MADI).
MAX_CHANNELS = 64


def limit_words(seconds: float) -> str:
    """``28800`` → ``"8-hour"``, ``5400`` → ``"90-minute"``, ``2`` → ``"2-second"``."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}-{unit}"
    return f"{seconds:g}-second"


def duration_words(seconds: float) -> str:
    """``5`` → ``"5 seconds"``, ``900`` → ``"15 minutes"``, ``34200`` → ``"9.5 hours"``."""
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


def too_long(max_duration_s: float, detail: str = "") -> MediaTooLong:
    said = f" ({detail})" if detail else ""
    return MediaTooLong(f"the recording is longer than the {limit_words(max_duration_s)} limit{said}")


def decode_time_limit(declared_s: float, max_duration_s: float, base_s: float, min_speed: float) -> float:
    """Wall time ffmpeg may spend: ``base_s`` plus the media's length at ``min_speed``.

    The length is what the file declares, but never more than ``max_duration_s`` (a header
    claiming 1000 hours must not buy 50 hours of CPU); a file that declares none gets the
    maximum, since a real recording without a duration in its header (raw ADTS, a stream
    dump) may still be long."""
    media_s = min(declared_s, max_duration_s) if declared_s > 0 else max_duration_s
    return base_s + media_s / min_speed


def max_decoded_bytes(max_duration_s: float, sample_rate: int, bytes_per_sample: int) -> int | None:
    """Size of ``max_duration_s`` of decoded audio; None when there is no limit."""
    if math.isinf(max_duration_s):
        return None
    return int(max_duration_s * sample_rate) * bytes_per_sample
