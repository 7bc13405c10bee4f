"""The world as the stages see it: every port ``Context`` offers, each a small ``Protocol``.

A reader learns what a stage depends on from this file; tests pass fakes or real clients
that fit these shapes (``kscribe.state.jobs.JobStore`` is a ``Jobs``; ``kscribe.storage.Blobs`` a
``BlobStore``; ``kscribe.asr.whisper.WhisperTranscriber`` a ``Transcriber``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from kscribe.storage.base import BlobStore
from kscribe.values import Job, JobStatus

if TYPE_CHECKING:
    import numpy as np

    from kscribe.asr.base import ProgressCallback, Recognition, TranscribeOptions
    from kscribe.transcript.speakers import Turns
    from kscribe.values import Job, JobStatus

__all__ = ["BlobStore", "Jobs", "Transcriber", "VoiceEmbedder"]


class Transcriber(Protocol):
    """Speech to text (``kscribe.asr.whisper.WhisperTranscriber``)."""

    def load(self, options: TranscribeOptions) -> None:
        """Have the model ``options`` name in memory (a function's readiness waits on it)."""
        ...

    def transcribe(
        self, audio: np.ndarray, options: TranscribeOptions, on_progress: ProgressCallback | None = None
    ) -> Recognition: ...

    def detect_language(self, windows: Sequence[np.ndarray], options: TranscribeOptions) -> list[tuple[str, float]]:
        """Each window's language and the model's confidence in it."""
        ...


class VoiceEmbedder(Protocol):
    """Speech turns and one voice embedding per turn (``kscribe.asr.voices.SenkoEmbedder``)."""

    def load(self) -> None:
        """Have the models in memory (a function's readiness waits on it)."""
        ...

    def turns(self, audio: np.ndarray) -> Turns: ...


class Jobs(Protocol):
    """Job records (``kscribe.state.jobs.JobStore``): every change one atomic step."""

    clock: Callable[[], float]

    def create(self, job: Job, dedupe_key: str, max_active: int = 0, queue_max: int = 0) -> tuple[Job, bool]: ...

    def job_id_for(self, dedupe_key: str) -> str | None: ...

    def get(self, job_id: str) -> Job | None: ...

    def get_many(self, job_ids: list[str]) -> list[Job | None]: ...

    def ids_starting(self, prefix: str, limit: int = 2) -> list[str]: ...

    def require(self, job_id: str) -> Job: ...

    def advance(self, job_id: str, status: JobStatus, **values: Any) -> bool: ...

    def fail(self, job_id: str, reason: str, stage: str) -> bool: ...

    def cancel(self, job_id: str) -> bool: ...

    def update(self, job_id: str, **values: Any) -> None: ...

    def discard(self, job_id: str, dedupe_key: str) -> None: ...

    def add_timing(self, job_id: str, stage: str, seconds: float) -> None: ...

    def complete_chunk(
        self, job_id: str, index: int, total: int, audio_s: float, part: str = "transcript", speakers: bool = False
    ) -> ChunkCompletion: ...

    def done_chunks(self, job_id: str) -> set[int]: ...

    def diarized_chunks(self, job_id: str) -> set[int]: ...

    def chunk_done(self, job_id: str, index: int) -> bool: ...

    def mark_announced(self, job_id: str, what: str) -> None: ...

    def extend_lease(self, job_id: str, seconds: float) -> None: ...

    def note_redrive(self, job_id: str, now: float | None = None, lost: bool = True) -> int: ...

    def note_transcription_started(self, job_id: str) -> None: ...

    def place_in_line(self, job_id: str) -> int | None: ...

    def in_line(self) -> int: ...

    def finished_per_minute(self, minutes: int = 5) -> float: ...

    def quiet_jobs(self, since: float) -> list[str]: ...

    def stuck_jobs(self, older_than_s: float) -> int: ...

    def callbacks_due(self, now: float) -> list[str]: ...

    def callback_due_at(self, job_id: str, when: float | None) -> None: ...

    def tenant_job_ids(self, tenant: str, start: int, count: int, status: str = "") -> list[str]: ...

    def tenant_active_count(self, tenant: str) -> int: ...

    def reserve_upload_slot(self, tenant: str, upload_id: str, limit: int, hold_s: int) -> bool: ...

    def upload_slot_held(self, tenant: str, upload_id: str) -> bool: ...

    def release_upload_slot(self, tenant: str, upload_id: str) -> None: ...

    def record_usage(self, job_id: str, tenant: str, audio_s: float, limit_s: float) -> bool: ...

    def audio_used_today(self, tenant: str) -> float: ...

    def ping(self) -> None: ...

    def record_jobs_lost(self, count: int) -> None: ...

    def jobs_lost(self) -> int: ...


@dataclass(frozen=True)
class ChunkCompletion:
    done: int
    first_time: bool
    # Every chunk of the job is recorded.
    complete: bool
