"""A chunk as its stages read it: its audio (with or without the padding either side), and
whether an event's description of it matches the stored one."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kscribe.context import Context
from kscribe.media.decode import SAMPLE_RATE
from kscribe.media.wav import read_wav
from kscribe.storage.scratch import process_dir
from kscribe.values import Chunk


@dataclass(frozen=True)
class ChunkOutcome:
    """``announce_transcribed``: every chunk is stored and the job is not yet announced as
    transcribed — true for the delivery that completes the set, and again for a redelivery
    if that announcement never went out (its worker died, or the broker was down)."""

    announce_transcribed: bool
    transcribed: bool


def _load_wav(uri: str, ctx: Context) -> np.ndarray:
    local = ctx.blobs.local_path(uri)
    if local is not None:
        return read_wav(local)
    with tempfile.TemporaryDirectory(dir=process_dir(ctx.settings.scratch_dir), prefix="chunk-") as tmp:
        path = Path(tmp) / "audio.wav"
        ctx.blobs.download(uri, path)
        return read_wav(path)


def load_chunk_audio(chunk: Chunk, ctx: Context) -> np.ndarray:
    """A chunk's audio as model input, with its padding (``Chunk.lead_s``)."""
    return _load_wav(chunk.uri, ctx)


def own_audio(chunk: Chunk, audio: np.ndarray) -> np.ndarray:
    """The part of a chunk's audio in its own span, without the padding either side."""
    first = round(chunk.lead_s * SAMPLE_RATE)
    return audio[first : first + round(chunk.duration_s * SAMPLE_RATE)]


def matches(claimed: Mapping[str, Any], chunk: Chunk) -> bool:
    """Whether an event's description of a chunk agrees with the stored one (the fields it
    gives; the stored ones are what gets used either way)."""
    stored = chunk.to_dict()
    for name, value in claimed.items():
        if name not in stored:
            continue
        if isinstance(stored[name], float):
            if not isinstance(value, (int, float)) or abs(float(value) - stored[name]) > 1e-6:
                return False
        elif value != stored[name]:
            return False
    return True
