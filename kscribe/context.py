"""What the stages need from the world, built once per process and passed in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kscribe.asr.voices import SenkoEmbedder
from kscribe.events import Event
from kscribe.ports import BlobStore, Jobs, Transcriber, VoiceEmbedder
from kscribe.settings import Settings
from kscribe.state.batches import Batches
from kscribe.state.claims import Claims
from kscribe.state.lanes import CallbackLanes
from kscribe.state.purges import PurgePlans
from kscribe.state.secrets import SharedSecrets
from kscribe.state.uploads import MediaTokens, Uploads
from kscribe.tenancy.apikeys import ApiKeys
from kscribe.tenancy.ratelimit import RateLimiter
from kscribe.tenancy.tenants import Tenants
from kscribe.values import Chunk, ChunkTranscript, Segment


class Progress(Protocol):
    """Where stages report progress as it happens (the CLI draws it; functions ignore it)."""

    def stage(self, job_id: str, stage: str, detail: str = "") -> None: ...

    def chunk(self, job_id: str, index: int, count: int, done_s: float, total_s: float) -> None: ...

    def chunk_transcribed(self, count: int, transcript: ChunkTranscript) -> None:
        """A chunk's transcript, once stored (chunks of a job may finish in any order)."""

    def heard(self, chunk: Chunk, segment: Segment) -> None:
        """A segment of ``chunk``'s own span as the decoder hears it, on the chunk's times: a
        preview, before the coverage check's second decodes add what the first pass missed."""


class NoProgress:
    """A ``Progress`` that reports nowhere."""

    def stage(self, job_id: str, stage: str, detail: str = "") -> None:
        pass

    def chunk(self, job_id: str, index: int, count: int, done_s: float, total_s: float) -> None:
        pass

    def chunk_transcribed(self, count: int, transcript: ChunkTranscript) -> None:
        pass

    def heard(self, chunk: Chunk, segment: Segment) -> None:
        pass


@dataclass
class Context:
    """Exactly the ports the stages use (see ``kscribe.ports``), and the settings."""

    settings: Settings
    jobs: Jobs
    blobs: BlobStore
    transcriber: Transcriber
    # The stores of kscribe's other state, each over the same Redis (kscribe.state, built by
    # kscribe.runtime.wiring): nothing outside kscribe/state/ holds the Redis client itself.
    claims: Claims
    tenants: Tenants
    api_keys: ApiKeys
    request_limits: RateLimiter
    auth_failure_limits: RateLimiter
    uploads: Uploads
    media_tokens: MediaTokens
    batches: Batches
    lanes: CallbackLanes
    purges: PurgePlans
    secrets: SharedSecrets
    progress: Progress = field(default_factory=NoProgress)
    # Speech turns and voice embeddings for jobs with speakers; loads torch on first use only.
    voices: VoiceEmbedder = field(default_factory=SenkoEmbedder)


Handler = Callable[[Event, Context], list[Event]]
