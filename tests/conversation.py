"""Conversations with known turns, spoken by espeak-ng in two (or more) distinct voices:
the ground truth for speaker-label tests and the diarization benchmark (bench/diarize.py).

The voices are synthetic: en-us (espeak-ng's default male voice) and en+f3 (its English
with the f3 female variant), plus en-gb+m3 and en+f4 for a third and fourth speaker.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
VOICES = ("en-us", "en+f3", "en-gb+m3", "en+f4")

LINES = (
    "Good morning everyone, thank you for joining the weekly planning meeting today.",
    "Thanks. I want to start with the budget, because the numbers changed last week.",
    "That sounds fine to me. Tell us what moved and by how much.",
    "Travel went up by twelve percent, while equipment stayed almost the same as before.",
    "Then we should ask finance before we approve anything new this quarter.",
    "I agree. I will write to them this afternoon and share the answer on Friday.",
    "Good. The second point is the office move, which is planned for the spring.",
    "The landlord has confirmed the dates, and the movers have sent their quote.",
)


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str


def available() -> bool:
    return shutil.which("espeak-ng") is not None


def say_pcm(voice: str, text: str, speed: int = 160) -> np.ndarray:
    """espeak-ng's speech as 16 kHz mono int16 (resampled by ffmpeg)."""
    from tests.media_files import ffmpeg

    spoken = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True, check=True, timeout=60
    ).stdout
    pcm = ffmpeg("-i", "-", "-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-", input=spoken, capture_output=True)
    return np.frombuffer(pcm.stdout, dtype="<i2")


def say(voice: str, text: str, speed: int = 160) -> np.ndarray:
    """espeak-ng's speech as 16 kHz mono float32."""
    return say_pcm(voice, text, speed).astype(np.float32) / 32768.0


def conversation(lines: list[tuple[str, str]], pause_s: float = 0.0) -> tuple[np.ndarray, list[Turn]]:
    """(voice, text) lines one after another, ``pause_s`` of silence between; the audio and
    each turn's span of speech (espeak's own leading and trailing silence trimmed)."""
    pieces, turns, at = [], [], 0.0
    gap = np.zeros(int(pause_s * SAMPLE_RATE), np.float32)
    for voice, text in lines:
        audio = say(voice, text)
        loud = np.flatnonzero(np.abs(audio) > 0.01)
        first, last = (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, len(audio))
        turns.append(Turn(at + first / SAMPLE_RATE, at + last / SAMPLE_RATE, voice))
        pieces += [audio, gap]
        at += (len(audio) + len(gap)) / SAMPLE_RATE
    return np.concatenate(pieces), turns


def write_wav(audio: np.ndarray, path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
