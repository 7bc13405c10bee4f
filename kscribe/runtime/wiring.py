"""The one composition root: builds the real adapters (Redis, Whisper, storage, voices) behind
the ports a ``Context`` holds. Everything else takes a ``Context`` and never builds adapters."""

from __future__ import annotations

import redis

from kscribe.asr.voices import SenkoEmbedder
from kscribe.asr.whisper import WhisperTranscriber
from kscribe.context import Context, NoProgress, Progress
from kscribe.ports import Transcriber, VoiceEmbedder
from kscribe.settings import Settings
from kscribe.state.jobs import JobStore
from kscribe.storage import Blobs


def create_context(
    settings: Settings,
    client: redis.Redis | None = None,
    transcriber: Transcriber | None = None,
    blobs: Blobs | None = None,
    progress: Progress | None = None,
    voices: VoiceEmbedder | None = None,
) -> Context:
    """A ``Context`` over the real adapters; any of them may be handed in (tests, the CLI)."""
    if client is None:
        from kscribe.state.redis import connect

        client = connect(settings)
    blobs = blobs or Blobs()
    return Context(
        settings=settings,
        jobs=JobStore(client, settings.retention_s),
        blobs=blobs,
        transcriber=transcriber or WhisperTranscriber(settings.model_cache_dir, blobs),
        kv=client,
        progress=progress or NoProgress(),
        voices=voices or SenkoEmbedder(settings.diarize_threads),
    )
