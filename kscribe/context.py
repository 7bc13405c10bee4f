"""What the stages need from the world, built once per process and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import redis

from kscribe.asr.voices import SenkoEmbedder
from kscribe.asr.whisper import WhisperTranscriber
from kscribe.ports import BlobStore, Jobs, KeyValue, Transcriber, VoiceEmbedder
from kscribe.settings import Settings
from kscribe.state.jobs import JobStore
from kscribe.storage import Blobs


class Progress(Protocol):
    """Where stages report progress as it happens (the CLI draws it; functions ignore it)."""

    def stage(self, job_id: str, stage: str, detail: str = "") -> None: ...

    def chunk(self, job_id: str, index: int, count: int, done_s: float, total_s: float) -> None: ...


class NoProgress:
    """A ``Progress`` that reports nowhere."""

    def stage(self, job_id: str, stage: str, detail: str = "") -> None:
        pass

    def chunk(self, job_id: str, index: int, count: int, done_s: float, total_s: float) -> None:
        pass


@dataclass
class Context:
    """Exactly the ports the stages use (see ``kscribe.ports``), and the settings."""

    settings: Settings
    jobs: Jobs
    blobs: BlobStore
    transcriber: Transcriber
    # Tenants, API keys, rate limits and health read Redis through this, never through jobs.
    kv: KeyValue
    progress: Progress = field(default_factory=NoProgress)
    # Speech turns and voice embeddings for jobs with speakers; loads torch on first use only.
    voices: VoiceEmbedder = field(default_factory=SenkoEmbedder)

    @classmethod
    def create(
        cls,
        settings: Settings,
        client: redis.Redis | None = None,
        transcriber: Transcriber | None = None,
        blobs: Blobs | None = None,
        progress: Progress | None = None,
        voices: VoiceEmbedder | None = None,
    ) -> Context:
        if client is None:
            from kscribe.state.redis import connect

            client = connect(settings)
        blobs = blobs or Blobs()
        return cls(
            settings=settings,
            jobs=JobStore(client, settings.retention_s),
            blobs=blobs,
            transcriber=transcriber or WhisperTranscriber(settings.model_cache_dir, blobs),
            kv=client,
            progress=progress or NoProgress(),
            voices=voices or SenkoEmbedder(settings.diarize_threads),
        )
