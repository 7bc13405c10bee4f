"""What the stages need from the world, built once per process and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import redis

from kscribe.jobstore import JobStore
from kscribe.settings import Settings
from kscribe.storage import Blobs
from kscribe.transcriber import Transcriber, WhisperTranscriber


class Progress(Protocol):
    """Where stages report progress as it happens (the CLI draws it; functions ignore it)."""

    def stage(self, job_id: str, stage: str, detail: str = "") -> None: ...

    def chunk(self, job_id: str, index: int, count: int, done_s: float, total_s: float) -> None: ...


class NoProgress:
    def stage(self, job_id: str, stage: str, detail: str = "") -> None:
        pass

    def chunk(self, job_id: str, index: int, count: int, done_s: float, total_s: float) -> None:
        pass


@dataclass
class Context:
    settings: Settings
    jobs: JobStore
    blobs: Blobs
    transcriber: Transcriber
    progress: Progress = field(default_factory=NoProgress)

    @classmethod
    def create(cls, settings: Settings, client: redis.Redis | None = None,
               transcriber: Transcriber | None = None, blobs: Blobs | None = None,
               progress: Progress | None = None) -> "Context":
        if client is None:
            from kscribe.embedded_redis import connect

            client = connect(settings)
        return cls(
            settings=settings,
            jobs=JobStore(client, settings.retention_s),
            blobs=blobs or Blobs(),
            transcriber=transcriber or WhisperTranscriber(settings.model_cache_dir),
            progress=progress or NoProgress(),
        )
