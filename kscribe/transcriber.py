"""Speech to text with faster-whisper. The model loads once per process and stays cached."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kscribe import coverage, metrics
from kscribe.media.decode import SAMPLE_RATE
from kscribe.models import PACKAGED, resolve_model
from kscribe.settings import Settings
from kscribe.storage.base import BlobStore
from kscribe.values import Segment, Word

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]


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

    @classmethod
    def from_settings(cls, settings: Settings, **job_choices: object) -> TranscribeOptions:
        values: dict[str, Any] = dict(
            model=settings.model,
            language=settings.language,
            task=settings.task,
            beam_size=settings.beam_size,
            vad_filter=settings.vad_filter,
            word_timestamps=settings.word_timestamps,
            condition_on_previous_text=settings.condition_on_previous_text,
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
            batch_size=settings.batch_size,
            parallel_chunks=settings.parallel_chunks,
            initial_prompt=settings.prompt,
            hotwords=settings.hotwords,
            hallucination_silence_s=settings.hallucination_silence_s,
            vad_threshold=settings.vad_threshold,
            vad_min_silence_ms=settings.vad_min_silence_ms,
            vad_speech_pad_ms=settings.vad_speech_pad_ms,
            vad_min_speech_ms=settings.vad_min_speech_ms,
            multilingual=settings.multilingual,
        )
        values.update({k: v for k, v in job_choices.items() if v is not None and v != ""})
        return cls(**values)


# KSCRIBE_BATCH_SIZE=auto. Measured with tiny.en on 2 CPU cores (bench/defaults.py,
# bench/reports/2026-11-23-defaults-cpu-2-cores.md): batched decoding with chunks in parallel
# took ~10 % less CPU than sequential decoding at 1 and 5 minutes and as much at 30, and its
# WER matched bare faster-whisper's batched pipeline (sequential: +0.4 to +2.1 points), so
# sequential decoding pays nowhere on speed. Batches of 4, 8 and 16 ran alike
# at the same WER, but memory grows with the batch (30 minutes, two chunks at once: peak
# 1.5 GiB with 4, 2.0 with 8, 2.7 with 16), so 4.
AUTO_BATCH_SIZE = 4
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


class _LanguageNotes:
    """The CTranslate2 model under a ``WhisperModel``, noting per thread the language its
    last ``detect_language`` chose. With ``multilingual=True`` faster-whisper (1.2) detects a
    language for every 30 s window and decodes the window in it, but its segments do not say
    which: a window's segments are yielded before the next window's detection, so the note
    read as a segment arrives is that segment's language."""

    def __init__(self, model: Any):
        self._model = model
        self._local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def detect_language(self, *args: Any, **kwargs: Any) -> Any:
        results = self._model.detect_language(*args, **kwargs)
        if results and results[0]:
            token = results[0][0][0]  # "<|de|>"
            self._local.language = token[2:-2]
        return results

    @property
    def last(self) -> str:
        return str(getattr(self._local, "language", ""))

    def forget(self) -> None:
        self._local.language = ""


_SENTENCE_END = (".", "?", "!", "。", "？", "！")


def _sentences(segments: Iterable[Any]) -> Iterator[Any]:
    """faster-whisper segments split after words that end a sentence (words needed)."""
    for segment in segments:
        words = list(segment.words or ())
        cuts = [i + 1 for i, w in enumerate(words[:-1]) if w.word.strip().endswith(_SENTENCE_END)]
        if not cuts:
            yield segment
            continue
        for start, end in zip([0, *cuts], [*cuts, len(words)], strict=True):
            part = words[start:end]
            yield dataclasses.replace(
                segment, start=part[0].start, end=part[-1].end, text="".join(w.word for w in part), words=part
            )


@dataclass(frozen=True)
class Recognition:
    language: str
    language_probability: float
    segments: tuple[Segment, ...]
    # The VAD speech pieces checked for words (none without VAD): kscribe.coverage.
    pieces: tuple[coverage.Piece, ...] = ()


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def resolve_compute_type(compute_type: str, device: str) -> str:
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


@functools.lru_cache(maxsize=2)
def load_model(
    model_dir: Path, device: str, compute_type: str, cpu_threads: int, label: str = "custom", workers: int = 1
) -> WhisperModel:
    """Load (once per process and configuration) a faster-whisper model from a directory."""
    from faster_whisper import WhisperModel  # heavy: imported when a model is first needed

    started = time.perf_counter()
    # num_workers: concurrent transcribe() calls from several threads run truly in parallel.
    model = WhisperModel(
        str(model_dir),
        device=device,
        compute_type=compute_type,
        cpu_threads=cpu_threads,
        num_workers=workers,
        local_files_only=True,
    )
    model.model = _LanguageNotes(model.model)
    elapsed = time.perf_counter() - started
    metrics.MODEL_LOAD_SECONDS.labels(label).observe(elapsed)
    log.info("loaded model %s on %s/%s in %.2f s", model_dir, device, compute_type, elapsed)
    return model


class WhisperTranscriber:
    """The real transcriber. ``cache_dir`` is where split or remote models are assembled."""

    def __init__(self, cache_dir: Path, blobs: BlobStore | None = None):
        self.cache_dir = cache_dir
        self.blobs = blobs

    def load(self, options: TranscribeOptions) -> None:
        self._model(options)

    def _model(self, options: TranscribeOptions) -> WhisperModel:
        device = resolve_device(options.device)
        model_dir = resolve_model(options.model, self.cache_dir, self.blobs)
        label = options.model if options.model in PACKAGED else "custom"
        workers = max(1, options.parallel_chunks)
        if options.chunks_at_once > 0:
            workers = min(workers, options.chunks_at_once)
        threads = options.cpu_threads
        if device == "cpu" and not threads:
            # Sized when the chunk count is known: one chunk gets every core, several share them.
            threads = cpu_threads_for(workers)
        return load_model(
            model_dir, device, resolve_compute_type(options.compute_type, device), threads, label, workers
        )

    def detect_language(self, windows: Sequence[np.ndarray], options: TranscribeOptions) -> list[tuple[str, float]]:
        """The language of each window (its first 30 s) and the model's confidence in it;
        English for every window of an English-only model, without running it."""
        model = self._model(options)
        if not model.model.is_multilingual:
            return [("en", 1.0) for _ in windows]
        detected = []
        for window in windows:
            language, probability, _ = model.detect_language(audio=window, language_detection_segments=1)
            detected.append((str(language), round(float(probability), 4)))
        return detected

    def transcribe(
        self, audio: np.ndarray, options: TranscribeOptions, on_progress: ProgressCallback | None = None
    ) -> Recognition:
        model = self._model(options)
        # faster-whisper ignores a given language when multilingual; one given wins here.
        multilingual = options.multilingual and not options.language and model.model.is_multilingual
        notes: _LanguageNotes = model.model
        notes.forget()
        # The batched pipeline detects per batch element and notes only the batch's last, so a
        # multilingual chunk is decoded window by window, where each window's language is known.
        batch_size = (
            0 if multilingual else choose_batch_size(options.batch_size, len(audio) / SAMPLE_RATE, options.vad_filter)
        )
        if options.batch_size is None and (options.initial_prompt or options.hotwords):
            # Batched, tiny.en did not take up a prompt's or hotwords' spelling of a name that
            # sequential decoding did (tests/integration/test_vocabulary_and_guards.py).
            batch_size = 0
        kwargs: dict[str, Any] = dict(
            language=options.language,
            multilingual=multilingual,
            task=options.task,
            beam_size=options.beam_size,
            vad_filter=options.vad_filter,
            word_timestamps=options.word_timestamps,
            condition_on_previous_text=options.condition_on_previous_text,
            # Text only: no option here names or loads a file.
            initial_prompt=options.initial_prompt or None,
            hotwords=options.hotwords or None,
            vad_parameters=dict(
                threshold=options.vad_threshold,
                min_silence_duration_ms=choose_vad_min_silence_ms(options.vad_min_silence_ms, batch_size),
                speech_pad_ms=options.vad_speech_pad_ms,
                min_speech_duration_ms=options.vad_min_speech_ms,
            ),
        )
        if options.hallucination_silence_s > 0 and options.word_timestamps:
            kwargs["hallucination_silence_threshold"] = options.hallucination_silence_s
        pieces = _speech_pieces(audio, kwargs["vad_parameters"], batch_size) if options.vad_filter else []
        if batch_size > 0:
            from faster_whisper import BatchedInferencePipeline

            segments_iter, info = BatchedInferencePipeline(model=model).transcribe(
                audio, batch_size=batch_size, **kwargs
            )
            # A batched piece (up to 30 s) comes back as one segment; sentences make the
            # segments sequential decoding gives (and speaker turns need). Timestamp tokens
            # would split it too, but lost text: WER 19.7 % against 7.5 % on 5 minutes.
            segments_iter = _sentences(segments_iter)
        else:
            segments_iter, info = model.transcribe(audio, **kwargs)
        # The work happens while iterating the lazy generator, not in the call above.
        duration = len(audio) / SAMPLE_RATE
        language = info.language
        segments = []
        for s in segments_iter:
            segments.append(_segment(s, (notes.last if multilingual else "") or language))
            if on_progress:
                on_progress(min(s.end, duration))
        # Coverage: every speech piece holds words, or was decoded a second time, alone and
        # sequentially, in the chunk's language and options (kscribe/coverage.py).
        sequential = {k: v for k, v in kwargs.items() if k not in ("vad_filter", "vad_parameters")}
        if not multilingual:
            sequential["language"] = options.language or language
        checked = []
        found_at = coverage.spans(segments)
        for start, end in pieces:
            words = coverage.count_in(start, end, found_at)
            if not coverage.needs_second_decode(end - start, words):
                checked.append(coverage.Piece(start, end, words))
                continue
            again = self._decode_piece(model, audio, start, end, sequential, language)
            found = coverage.count_in(start, end, coverage.spans(again))
            if found > words:
                segments = coverage.keep_words(segments, functools.partial(_outside, start, end)) + again
                segments.sort(key=lambda s: (s.start, s.end))
                found_at = coverage.spans(segments)
                words = found
            metrics.PIECES_REDECODED.labels("recovered" if found else "empty").inc()
            log.info(
                "speech piece %.2f–%.2f s: %d word(s) decoded, %d when decoded again alone", start, end, words, found
            )
            checked.append(coverage.Piece(start, end, words, redecoded=True))
        return Recognition(info.language, round(info.language_probability, 4), tuple(segments), tuple(checked))

    def _decode_piece(
        self, model: WhisperModel, audio: np.ndarray, start: float, end: float, kwargs: dict[str, Any], language: str
    ) -> list[Segment]:
        piece = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        segments_iter, _ = model.transcribe(piece, vad_filter=False, **kwargs)
        return [_segment(s, language).shifted(start) for s in segments_iter]


def _segment(s: Any, language: str) -> Segment:
    words = tuple(Word(round(w.start, 3), round(w.end, 3), w.word, round(w.probability, 4)) for w in (s.words or ()))
    return Segment(
        round(s.start, 3),
        round(s.end, 3),
        s.text,
        words,
        round(s.avg_logprob, 4),
        round(s.no_speech_prob, 4),
        language=language,
    )


def _outside(start: float, end: float, item: tuple[float, float, str]) -> bool:
    return not start <= (item[0] + item[1]) / 2 < end


def _speech_pieces(audio: np.ndarray, vad: dict[str, Any], batch_size: int) -> list[tuple[float, float]]:
    """The speech pieces (seconds) Silero VAD finds with the decoder's own parameters; the
    batched pipeline caps them at 30 s as it does."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    limit = 30.0 if batch_size > 0 else float("inf")
    found = get_speech_timestamps(audio, VadOptions(**vad, max_speech_duration_s=limit))
    return [(round(p["start"] / SAMPLE_RATE, 3), round(p["end"] / SAMPLE_RATE, 3)) for p in found]
