"""Prometheus metrics. Every label's values come from a fixed set, so series stay bounded.

Each function serves these at /metrics from the process that does the work. With more than
one gunicorn worker, set PROMETHEUS_MULTIPROC_DIR so every worker's samples are collected.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

from kscribe import errors, events

JOBS = Counter("kscribe_jobs_total", "Jobs that ended, by outcome and failure reason.", ["outcome", "reason"])
STAGE_SECONDS = Histogram(
    "kscribe_stage_duration_seconds",
    "Wall time of one stage call.",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200),
)
AUDIO_SECONDS = Counter("kscribe_audio_transcribed_seconds_total", "Seconds of audio transcribed.")
REALTIME_FACTOR = Histogram(
    "kscribe_transcription_realtime_factor",
    "Seconds of audio transcribed per second of wall time, per chunk.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)
MODEL_LOAD_SECONDS = Histogram(
    "kscribe_model_load_seconds", "Time to load a model.", ["model"], buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
)
CHUNKS_IN_FLIGHT = Gauge("kscribe_chunks_in_flight", "Chunks being transcribed right now.", multiprocess_mode="livesum")
PIECES_REDECODED = Counter(
    "kscribe_speech_pieces_redecoded_total",
    "VAD speech pieces decoded a second time (empty or too few words), by whether that found words.",
    ["outcome"],
)
SPEECH_UNCOVERED_SECONDS = Counter(
    "kscribe_speech_uncovered_seconds_total", "Seconds of VAD speech left without words after a second decode."
)
CALLBACKS = Counter("kscribe_callback_attempts_total", "Callback deliveries by outcome.", ["outcome"])
DEAD_LETTERED = Counter("kscribe_events_dead_lettered_total", "Events whose deliveries ran out of retries.", ["type"])
REQUEUED = Counter(
    "kscribe_events_requeued_total",
    "Dead-lettered events published again because their subscriber had no capacity (429/502/503/504, "
    "a timeout, no answer) while their job was younger than KSCRIBE_QUEUE_HORIZON_SECONDS.",
    ["type"],
)
JOBS_STUCK = Gauge(
    "kscribe_jobs_stuck",
    "Unfinished jobs whose work the reconciler's last pass found lost (no claim held, their stage idle "
    "for a lease); jobs waiting in line for capacity are not counted.",
    multiprocess_mode="max",
)
# reason: unauthenticated (no valid broker token; functions/runtime.py), or why an event does
# not match the job it names (kscribe/handlers.py): a fixed set chosen in code.
REDRIVES = Counter(
    "kscribe_redrives_total",
    "Events the reconciler published again for a job that stopped moving, by stage (notify: a callback re-sent).",
    ["stage"],
)
DUPLICATES_CLAIMED = Counter(
    "kscribe_duplicates_claimed_total",
    "Duplicate deliveries that found their work claimed by a delivery still running (answered retryably), by stage.",
    ["stage"],
)
EVENTS_REJECTED = Counter(
    "kscribe_events_rejected_total",
    "Events refused or dropped unprocessed (unauthenticated, or not matching their job), by reason.",
    ["type", "reason"],
)
# Per tenant: tenants are created by the operator, so the label is bounded; uploads under a
# prefix no tenant owns count as "unknown", bucket uploads of nobody's as "uploads".
TENANT_JOBS = Counter("kscribe_tenant_jobs_created_total", "Jobs created, by tenant.", ["tenant"])
TENANT_AUDIO_SECONDS = Counter(
    "kscribe_tenant_audio_seconds_total", "Seconds of audio extracted, by tenant.", ["tenant"]
)
API_REQUESTS = Counter("kscribe_api_requests_total", "API requests by route and status.", ["method", "route", "status"])

# The method is whatever the client wrote on the request line: anything else shares "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    return method if method in _METHODS else "other"


# Failure reasons as a bounded label: the error's class, never its message.
_REASONS = {
    errors.SourceNotFound: "source_not_found",
    errors.NotMedia: "not_media",
    errors.NoAudioTrack: "no_audio",
    errors.NoSuchAudioTrack: "no_audio",
    errors.MediaError: "media_error",
    errors.ModelNotFound: "model_not_found",
    errors.OutputNotWritable: "output_not_writable",
    errors.CallbackRefused: "callback_refused",
    errors.DailyQuotaExceeded: "quota",
}


def tenant_label(tenant: str, known: bool) -> str:
    if not tenant:
        return "uploads"
    return tenant if known else "unknown"


_EVENT_TYPES = frozenset(
    {
        events.OBJECT_FINALIZED,
        events.PUBSUB_MESSAGE,
        events.JOB_CREATED,
        events.CHUNK_READY,
        events.JOB_TRANSCRIBED,
        events.JOB_COMPLETED,
        events.JOB_FAILED,
    }
)


def event_type_label(event_type: str) -> str:
    """kscribe's and GCS's event types as they are; anything else (a forged type) "other"."""
    return event_type if event_type in _EVENT_TYPES else "other"


def failure_reason(error: BaseException | None) -> str:
    for cls in type(error).__mro__ if error is not None else ():
        if cls in _REASONS:
            return _REASONS[cls]
    return "other"


def exposition(multiprocess_dir: str = "") -> tuple[bytes, str]:
    """The text to answer a scrape with, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY

    if multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
