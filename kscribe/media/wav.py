"""Writing pieces of raw PCM as WAV files and reading them back as model input."""

from __future__ import annotations

import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kscribe.media.decode import BYTES_PER_SAMPLE, SAMPLE_RATE

_COPY_BYTES = 4 * 1024 * 1024


def write_wav_slice(pcm: Path, start: int, end: int, dest: Path) -> None:
    """Copy samples ``[start, end)`` of the raw PCM file into a WAV file, block by block."""
    write_wav_slices(pcm, [(start, end)], dest)


def write_wav_slices(pcm: Path, spans: Sequence[tuple[int, int]], dest: Path) -> None:
    """Copy each ``[start, end)`` of samples of the raw PCM file, one after another, into a
    WAV file, block by block."""
    with open(pcm, "rb") as source, wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(BYTES_PER_SAMPLE)
        out.setframerate(SAMPLE_RATE)
        for start, end in spans:
            source.seek(start * BYTES_PER_SAMPLE)
            remaining = (end - start) * BYTES_PER_SAMPLE
            while remaining > 0:
                block = source.read(min(_COPY_BYTES, remaining))
                if not block:
                    break
                out.writeframesraw(block)
                remaining -= len(block)


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz mono WAV as float32 in [-1, 1], the array faster-whisper takes."""
    with wave.open(str(path), "rb") as source:
        if source.getframerate() != SAMPLE_RATE or source.getnchannels() != 1 or source.getsampwidth() != 2:
            raise ValueError(f"{path} is not 16 kHz mono 16-bit PCM")
        frames = source.readframes(source.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
