"""The world as the stages see it: every port ``Context`` offers, each a small ``Protocol``.

A reader learns what a stage depends on from this file; tests pass fakes or real clients
that fit these shapes (``kscribe.state.jobs.JobStore`` is a ``Jobs``; ``kscribe.storage.Blobs`` a
``BlobStore``; ``kscribe.asr.whisper.WhisperTranscriber`` a ``Transcriber``). ``Jobs`` is the union
of six capabilities — records, progress, leases, the line, tenant quotas, monitoring — and a
function that needs only one takes that one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kscribe.storage.base import BlobStore
from kscribe.values import Job, JobStatus

if TYPE_CHECKING:
    import numpy as np

    from kscribe.asr.base import ProgressCallback, Recognition, TranscribeOptions
    from kscribe.transcript.speakers import Turns

__all__ = [
    "BlobStore",
    "ChunkCompletion",
    "JobLeases",
    "JobLine",
    "JobMonitoring",
    "JobProgress",
    "JobRecords",
    "Jobs",
    "TenantQuotas",
    "Transcriber",
    "VoiceEmbedder",
]


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


# Jobs, one capability at a time. Each Protocol below is one thing a caller does with job state;
# ``Jobs`` is all of them, and ``kscribe.state.jobs.JobStore`` fits every one. A new method of the
# store goes into exactly one capability (tests/unit/test_job_ports.py checks it).


@runtime_checkable
class JobRecords(Protocol):
    """A job's record: create it (once per dedupe key), read it, set its plain fields, undo a
    creation nobody heard of, list a tenant's jobs. Ingest and the API create jobs; every
    stage, route and the CLI reads them."""

    # The store's clock: every time a record holds, and every deadline computed from one.
    clock: Callable[[], float]

    def create(self, job: Job, dedupe_key: str, max_active: int = 0, queue_max: int = 0) -> tuple[Job, bool]: ...

    def job_id_for(self, dedupe_key: str) -> str | None: ...

    def discard(self, job_id: str, dedupe_key: str) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def get_many(self, job_ids: list[str]) -> list[Job | None]: ...

    def require(self, job_id: str) -> Job: ...

    def ids_starting(self, prefix: str, limit: int = 2) -> list[str]: ...

    def update(self, job_id: str, **values: Any) -> None: ...

    def tenant_job_ids(self, tenant: str, start: int, count: int, status: str = "") -> list[str]: ...


@runtime_checkable
class JobProgress(Protocol):
    """A job's way through the stages: status transitions (advance, fail, cancel), each chunk's
    results as they are stored — the last one decided atomically —, stage timings and the
    events announced. The pipeline's stages write it; cancelling routes and retention end jobs."""

    def advance(self, job_id: str, status: JobStatus, **values: Any) -> bool: ...

    def fail(self, job_id: str, error: str, failed_stage: str) -> bool: ...

    def cancel(self, job_id: str) -> bool: ...

    def add_timing(self, job_id: str, stage: str, seconds: float) -> None: ...

    def note_decoded(self, job_id: str, index: int, seconds: float) -> None: ...

    def complete_chunk(
        self, job_id: str, index: int, total: int, audio_s: float, part: str = "transcript", speakers: bool = False
    ) -> ChunkCompletion: ...

    def done_chunks(self, job_id: str) -> set[int]: ...

    def diarized_chunks(self, job_id: str) -> set[int]: ...

    def chunk_done(self, job_id: str, index: int) -> bool: ...

    def mark_announced(self, job_id: str, what: str) -> None: ...


@runtime_checkable
class JobLeases(Protocol):
    """What finishes a job whose events were lost: the lease of its current step (a working
    stage extends it), the jobs that went quiet past it, the re-drives the reconciler counts,
    and the callbacks still owed (notify schedules them, the reconciler sends those due)."""

    def extend_lease(self, job_id: str, seconds: float) -> None: ...

    def quiet_jobs(self, since: float) -> list[str]: ...

    def note_redrive(self, job_id: str, now: float | None = None, lost: bool = True) -> int: ...

    def callbacks_due(self, now: float) -> list[str]: ...

    def callback_due_at(self, job_id: str, when: float | None) -> None: ...


@runtime_checkable
class JobLine(Protocol):
    """The line of jobs waiting for a transcribe worker (``kscribe.pipeline.backlog``): a job's
    place, the line's length, how fast it drains, and a job leaving it as its first chunk
    starts."""

    def note_transcription_started(self, job_id: str) -> None: ...

    def place_in_line(self, job_id: str) -> int | None: ...

    def in_line(self) -> int: ...

    def finished_per_minute(self, minutes: int = 5) -> float: ...


@runtime_checkable
class TenantQuotas(Protocol):
    """What a tenant has in use against its quotas: unfinished jobs, the slots page uploads
    hold among them, and audio extracted today. The API refuses and reports from it;
    ingest and extract count against it."""

    def tenant_active_count(self, tenant: str) -> int: ...

    def reserve_upload_slot(self, tenant: str, upload_id: str, limit: int, hold_s: int) -> bool: ...

    def upload_slot_held(self, tenant: str, upload_id: str) -> bool: ...

    def release_upload_slot(self, tenant: str, upload_id: str) -> None: ...

    def record_usage(self, job_id: str, tenant: str, audio_s: float, limit_s: float) -> bool: ...

    def audio_used_today(self, tenant: str) -> float: ...


@runtime_checkable
class JobMonitoring(Protocol):
    """The store as health checks and metrics see it: whether it answers (readiness), and
    stuck jobs — those the reconciler's last pass found with work lost (``kscribe_jobs_stuck``),
    or those that have not moved for a while."""

    def ping(self) -> None: ...

    def record_jobs_lost(self, count: int) -> None: ...

    def jobs_lost(self) -> int: ...

    def stuck_jobs(self, older_than_s: float) -> int: ...


class Jobs(JobRecords, JobProgress, JobLeases, JobLine, TenantQuotas, JobMonitoring, Protocol):
    """Job state, every capability above (``kscribe.state.jobs.JobStore``): every change one
    atomic step. ``Context.jobs`` is one; a function that needs less takes the capability."""


@dataclass(frozen=True)
class ChunkCompletion:
    done: int
    first_time: bool
    # Every chunk of the job is recorded.
    complete: bool
