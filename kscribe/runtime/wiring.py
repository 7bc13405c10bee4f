"""The one composition root: builds the real adapters (Redis, Whisper, storage, voices) behind
the ports a ``Context`` holds. Everything else takes a ``Context`` and never builds adapters."""

from __future__ import annotations

import redis

from kscribe.asr.voices import SenkoEmbedder
from kscribe.asr.whisper import WhisperTranscriber
from kscribe.context import Context, NoProgress, Progress
from kscribe.delivery.transport import SEND_DEADLINE_S
from kscribe.media import ffmpeg_bin
from kscribe.ports import Transcriber, VoiceEmbedder
from kscribe.settings import Settings
from kscribe.state import keys
from kscribe.state.batches import Batches
from kscribe.state.claims import Claims
from kscribe.state.jobs import JobStore
from kscribe.state.lanes import CallbackLanes
from kscribe.state.purges import PurgePlans
from kscribe.state.secrets import SharedSecrets
from kscribe.state.uploads import MediaTokens, Uploads
from kscribe.storage import Blobs
from kscribe.tenancy.apikeys import ApiKeys
from kscribe.tenancy.ratelimit import RateLimiter
from kscribe.tenancy.tenants import Tenants


def create_context(
    settings: Settings,
    client: redis.Redis | None = None,
    transcriber: Transcriber | None = None,
    blobs: Blobs | None = None,
    progress: Progress | None = None,
    voices: VoiceEmbedder | None = None,
) -> Context:
    """A ``Context`` over the real adapters; any of them may be handed in (tests, the CLI)."""
    ffmpeg_bin.use(settings.ffmpeg)
    if client is None:
        from kscribe.state.redis import connect

        client = connect(settings)
    blobs = blobs or Blobs()
    jobs = JobStore(client, settings.retention_s)
    return Context(
        settings=settings,
        jobs=jobs,
        blobs=blobs,
        transcriber=transcriber or WhisperTranscriber(settings.model_cache_dir, blobs),
        claims=Claims(client),
        tenants=Tenants(client),
        api_keys=ApiKeys(client),
        request_limits=RateLimiter(client, settings.api_rate_per_minute),
        auth_failure_limits=RateLimiter(
            client, settings.api_auth_failures_per_minute, key_for=keys.auth_failures_window
        ),
        uploads=Uploads(client),
        media_tokens=MediaTokens(client),
        batches=Batches(client, settings.retention_s, jobs.clock),
        # One lane is held at most as long as one send may take, and a little more.
        lanes=CallbackLanes(client, settings.callback_lanes, hold_s=SEND_DEADLINE_S + 30),
        purges=PurgePlans(client),
        secrets=SharedSecrets(client),
        progress=progress or NoProgress(),
        voices=voices or SenkoEmbedder(settings.diarize_threads),
    )
