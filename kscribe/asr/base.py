"""What speech recognition takes and gives, whatever the engine: the decoding options,
the recognition result, and the rules that pick batch size and VAD pauses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

from kscribe.asr import coverage
from kscribe.values import Segment


class ProgressCallback(Protocol):
    """Told how far (seconds of the audio given) decoding has got, with the segment just
    decoded: first-pass text, before the coverage check's second decodes."""

    def __call__(self, done_s: float, segment: Segment | None = None) -> None: ...


@dataclass(frozen=True)
class TranscribeOptions:
    model: str
    language: str | None
    task: str
    beam_size: int
    vad_filter: bool
    word_timestamps: bool
    condition_on_previous_text: bool
    device: str
    compute_type: str
    cpu_threads: int
    # None: choose_batch_size decides.
    batch_size: int | None
    parallel_chunks: int = 1
    # Chunks of this job that can be decoded at once (its chunk count; 0: parallel_chunks):
    # a job of fewer chunks than workers leaves their threads to the chunks it has.
    chunks_at_once: int = 0
    # Vocabulary: Whisper's initial prompt and hotwords ("": none).
    initial_prompt: str = ""
    hotwords: str = ""
    # Guards: faster-whisper's hallucination_silence_threshold (0: off), Silero VAD's knobs.
    hallucination_silence_s: float = 0.0
    vad_threshold: float = 0.5
    # None: choose_vad_min_silence_ms decides (by batching).
    vad_min_silence_ms: int | None = None
    vad_speech_pad_ms: int = 400
    vad_min_speech_ms: int = 0
    # No language: decode each 30 s window in the language detected for it.
    multilingual: bool = False


# KSCRIBE_BATCH_SIZE=auto. Measured with tiny.en on 2 CPU cores (bench/defaults.py,
# bench/reports/2026-11-23-defaults-cpu-2-cores.md): batched decoding took ~10 % less CPU
# than sequential decoding at 1 and 5 minutes and as much at 30, and its WER matched bare
# faster-whisper's batched pipeline (sequential: +0.4 to +2.1 points). Batches of 8 against
# 4, one chunk of 35 minutes (bench/reports/2026-12-07-lossless-cpu-2-cores.md): 45.6 s
# against 51.7 s wall, 1.22 against 0.92 GiB peak, the same words; on 10-minute chunks they
# ran alike. 8 is what bare faster-whisper users pick, and memory stays under 1.2x theirs.
AUTO_BATCH_SIZE = 8


# Below this chunk length auto decodes sequentially: batched, an 8 s chunk of a two-voice
# conversation lost a whole sentence that followed a 0.8 s pause
# (tests/integration/test_diarize.py), and at 1 minute batching saved only ~0.4 CPU s.
AUTO_BATCH_MIN_S = 60.0


# Silero VAD's minimum pause (ms) between speech pieces: sequential decoding reads 30-second
# windows whatever the pieces are; the batched pipeline decodes each piece alone (at most
# 30 s), so it needs pieces cut at short pauses — faster-whisper's own default there. With
# 2000 ms it cut 30 s pieces mid-speech: WER 10.66 % against 7.54 % on the 5-minute video.
VAD_MIN_SILENCE_MS = 2000


BATCHED_VAD_MIN_SILENCE_MS = 160


def choose_batch_size(batch_size: int | None, duration_s: float, vad_filter: bool) -> int:
    """The batch size for a chunk of ``duration_s``: ``batch_size`` when set (0: sequential
    decoding), else AUTO_BATCH_SIZE from AUTO_BATCH_MIN_S on. Without VAD the batched
    pipeline has no pieces to batch (faster-whisper refuses audio over 30 s then), so auto
    decodes sequentially."""
    if batch_size is not None:
        return batch_size
    return AUTO_BATCH_SIZE if vad_filter and duration_s >= AUTO_BATCH_MIN_S else 0


def cpu_threads_for(chunks_at_once: int, cores: int | None = None) -> int:
    """CTranslate2 threads per chunk: the cores shared by the chunks decoded at once."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, chunks_at_once))


def choose_vad_min_silence_ms(min_silence_ms: int | None, batch_size: int) -> int:
    """Silero VAD's minimum pause: ``min_silence_ms`` when set, else by decoding mode."""
    if min_silence_ms is not None:
        return min_silence_ms
    return BATCHED_VAD_MIN_SILENCE_MS if batch_size > 0 else VAD_MIN_SILENCE_MS


@dataclass(frozen=True)
class Recognition:
    language: str
    language_probability: float
    segments: tuple[Segment, ...]
    # The VAD speech pieces checked for words (none without VAD): kscribe.asr.coverage.
    pieces: tuple[coverage.Piece, ...] = ()
