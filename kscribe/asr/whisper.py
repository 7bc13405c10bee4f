"""Speech to text with faster-whisper. The model loads once per process and stays cached."""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kscribe.asr import coverage, redecode, vad_tap
from kscribe.asr.base import (
    ProgressCallback,
    Recognition,
    TranscribeOptions,
    choose_batch_size,
    choose_vad_min_silence_ms,
    cpu_threads_for,
)
from kscribe.asr.models import PACKAGED, resolve_model
from kscribe.media.decode import SAMPLE_RATE
from kscribe.observability import metrics
from kscribe.settings import Settings
from kscribe.storage.base import BlobStore
from kscribe.values import Segment, Word

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)


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
        vad_tap.listen()
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
                on_progress(min(s.end, duration), segments[-1])
        pieces: list[tuple[float, float]] = []
        if options.vad_filter:
            heard = vad_tap.heard(SAMPLE_RATE)
            pieces = heard if heard is not None else _speech_pieces(audio, kwargs["vad_parameters"], batch_size)
        # Coverage: every speech piece holds words, or was decoded a second time, sequentially,
        # in the chunk's language and options (kscribe/asr/coverage.py, kscribe/asr/redecode.py).
        sequential = {k: v for k, v in kwargs.items() if k not in ("vad_filter", "vad_parameters")}
        if not multilingual:
            sequential["language"] = options.language or language
        segments, checked = self._check_coverage(model, audio, segments, pieces, sequential, language)
        return Recognition(info.language, round(info.language_probability, 4), tuple(segments), tuple(checked))

    def _check_coverage(
        self,
        model: WhisperModel,
        audio: np.ndarray,
        segments: list[Segment],
        pieces: Sequence[tuple[float, float]],
        sequential: dict[str, Any],
        language: str,
    ) -> tuple[list[Segment], list[coverage.Piece]]:
        """The segments with what second decodes recovered, and every piece's coverage."""
        first = dict(zip(pieces, coverage.counts(pieces, segments), strict=True))
        failing = [p for p in pieces if coverage.needs_second_decode(p[1] - p[0], first[p])]

        def decode(samples: np.ndarray, speech_s: float) -> list[Segment]:
            budget = redecode.token_budget(speech_s)
            try:
                decoded = model.transcribe(
                    samples, vad_filter=False, max_new_tokens=budget, best_of=redecode.BEST_OF, **sequential
                )[0]
                return [_segment(s, language) for s in decoded]
            except ValueError as exc:
                # A long initial prompt or hotwords leave no room for the budget beside them
                # in the 448-token context: decode as faster-whisper would.
                if "max_new_tokens" not in str(exc):
                    raise
                decoded = model.transcribe(samples, vad_filter=False, best_of=redecode.BEST_OF, **sequential)[0]
                return [_segment(s, language) for s in decoded]

        # Packed windows need word timings to split what they hold; multilingual, each piece
        # keeps the language of its own window.
        packed = bool(sequential.get("word_timestamps")) and not sequential.get("multilingual")
        # Multilingual, a window's language is only known once decoded: the largest limit.
        per_s = coverage.words_per_s_limit(None if sequential.get("multilingual") else sequential.get("language"))
        again = (
            redecode.decode_again(decode, audio, failing, SAMPLE_RATE, packed=packed, words_per_s=per_s)
            if failing
            else {}
        )
        recovered = []
        for start, end in failing:
            [found] = coverage.counts([(start, end)], again[(start, end)])
            if found > first[(start, end)]:
                recovered.append((start, end))
            metrics.PIECES_REDECODED.labels("recovered" if found else "empty").inc()
            log.info("speech piece %.2f–%.2f s: %d word(s) from a second decode", start, end, found)
        # In one step, so one recovered piece's words are never taken for a neighbour's: the
        # first pass's words inside any recovered piece go, then every recovered piece's come in.
        if recovered:
            segments = coverage.keep_words(segments, functools.partial(_outside_all, recovered))
            segments = sorted(segments + [s for p in recovered for s in again[p]], key=lambda s: (s.start, s.end))
        failed = set(failing)
        # Counted again on the segments returned, so the record describes the transcript: a
        # first-pass word on a recovered piece's edge, or a wordless segment over several
        # pieces, may have gone with the words the second decode replaced.
        words = coverage.counts(pieces, segments)
        return segments, [
            coverage.Piece(p[0], p[1], n, redecoded=p in failed) for p, n in zip(pieces, words, strict=True)
        ]


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


def _outside_all(spans: Sequence[tuple[float, float]], item: tuple[float, float, str]) -> bool:
    middle = (item[0] + item[1]) / 2
    return not any(start <= middle < end for start, end in spans)


def _speech_pieces(audio: np.ndarray, vad: dict[str, Any], batch_size: int) -> list[tuple[float, float]]:
    """The speech pieces (seconds) Silero VAD finds with the decoder's own parameters; the
    batched pipeline caps them at 30 s as it does."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    limit = 30.0 if batch_size > 0 else float("inf")
    found = get_speech_timestamps(audio, VadOptions(**vad, max_speech_duration_s=limit))
    return [(round(p["start"] / SAMPLE_RATE, 3), round(p["end"] / SAMPLE_RATE, 3)) for p in found]


def options_from_settings(settings: Settings, **job_choices: object) -> TranscribeOptions:
    """The decoding options of the deployment's settings, with a job's own choices over them."""
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
    return TranscribeOptions(**values)
