"""The settings, one frozen dataclass per concern; ``Settings`` inherits them all.

Each field names its environment variable and carries a one-line description, from which the
README's settings tables are generated (``make settings-table``). A group's docstring is its
table's heading.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kscribe.choices import parse_channels, parse_choice, parse_formats, parse_replacements
from kscribe.errors import ConfigError, InputError
from kscribe.settings.parsing import (
    at_least,
    auto_or,
    boolean,
    comma_list,
    fixed,
    number,
    path,
    setting,
    stripped,
)
from kscribe.values import DEFAULT_FORMATS


# Settings that take a job choice's values, parsed as the job's would be.
def channel_mode(name: str, raw: str) -> str:
    try:
        return parse_channels("channels", raw)
    except InputError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def format_list(name: str, raw: str) -> tuple[str, ...]:
    return parse_formats(raw)


def track_choice(name: str, raw: str) -> str:
    try:
        return parse_choice(raw, name)
    except InputError as exc:
        raise ConfigError(str(exc)) from None


def spellings(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    try:
        return tuple(parse_replacements(raw).items())
    except InputError as exc:
        raise ConfigError(f"{name}: {exc}") from None


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

_UNDER_DATA_DIR = "under the data dir"


@dataclass(frozen=True, kw_only=True)
class StorageSettings:
    """Storage: where inputs, work, outputs, job state and local files live, and for how long."""

    data_dir: Path = setting(
        "KSCRIBE_DATA_DIR",
        parse=path,
        shown="`~/.local/share/kscribe`",
        doc="local state: `input/`, `work/`, `output/`, `redis/`, `models/`, `scratch/`",
    )
    input_uri: str = setting(
        "KSCRIBE_INPUT_URI", shown=_UNDER_DATA_DIR, doc="where uploads land: a directory or `gs://bucket/prefix`"
    )
    work_uri: str = setting(
        "KSCRIBE_WORK_URI", shown=_UNDER_DATA_DIR, doc="chunks and partial results: a directory or `gs://bucket/prefix`"
    )
    output_uri: str = setting(
        "KSCRIBE_OUTPUT_URI", shown=_UNDER_DATA_DIR, doc="where transcripts land: a directory or `gs://bucket/prefix`"
    )
    redis_url: str = setting(
        "REDIS_URL",
        "",
        shown="empty: embedded redis-server",
        doc="job state, e.g. `redis://10.0.0.3:6379/0`; empty starts a private redis-server under the data dir",
    )
    model_cache_dir: Path = setting(
        "KSCRIBE_MODEL_CACHE",
        parse=path,
        factory=lambda: Path("."),
        shown=_UNDER_DATA_DIR,
        doc="joined or copied models",
    )
    scratch_dir: Path = setting(
        "KSCRIBE_SCRATCH_DIR",
        parse=path,
        factory=lambda: Path("."),
        shown=_UNDER_DATA_DIR,
        doc="temporary files, in one `proc-*` directory per process (a starting process removes those of dead ones)",
    )
    retention_s: int = setting(
        "KSCRIBE_RETENTION_SECONDS",
        7 * 24 * 3600,
        at_least(int, 60),
        shown="7 days",
        doc="how long everything a job owns in Redis (its record, dedupe markers) is kept",
    )
    max_retention_days: int = setting(
        "KSCRIBE_MAX_RETENTION_DAYS",
        30,
        at_least(int, 0),
        doc="the most `retention_days` a job may ask for (0: jobs may not ask; bucket lifecycle rules alone apply)",
    )
    purge_index_days: int = setting(
        "KSCRIBE_PURGE_INDEX_DAYS",
        400,
        at_least(int, 1),
        doc="how long what to purge of every job (its output, page-upload and work prefixes) is remembered, so "
        "`?purge=true` works after the record expired; longer than every bucket lifecycle",
    )


@dataclass(frozen=True, kw_only=True)
class MediaSettings:
    """Media: what ingest accepts, how ffmpeg decodes it and where chunks are cut."""

    max_input_bytes: int = setting(
        "KSCRIBE_MAX_INPUT_BYTES", 20 * 1024**3, at_least(int, 1), doc="larger uploads are skipped"
    )
    max_duration_s: float = setting(
        "KSCRIBE_MAX_DURATION_SECONDS",
        8 * 3600.0,
        at_least(float, 1),
        shown="8 hours",
        doc="the longest recording accepted: by its declared duration, and by its decoded audio while ffmpeg runs "
        "(an upload may lie)",
    )
    ffmpeg_timeout_s: float = setting(
        "KSCRIBE_FFMPEG_TIMEOUT_SECONDS",
        120.0,
        at_least(float, 1),
        doc="ffmpeg may run this long plus the duration / `KSCRIBE_FFMPEG_MIN_SPEED` (the duration the file "
        "declares, at most the maximum; the maximum when it declares none)",
    )
    ffmpeg_min_speed: float = setting(
        "KSCRIBE_FFMPEG_MIN_SPEED",
        20.0,
        at_least(float, 0.1),
        doc="the slowest decoding (× real time) ffmpeg is given time for",
    )
    ffmpeg: str = setting(
        "KSCRIBE_FFMPEG",
        "",
        stripped,
        shown="`ffmpeg` on PATH, else imageio-ffmpeg's",
        doc="the ffmpeg to run: a path, or a command on PATH (a process does not start when it names none);"
        " any ffmpeg from 5 on serves (Debian 12's 5.1 and imageio-ffmpeg's are tested)",
    )
    chunk_target_s: float | None = setting(
        "KSCRIBE_CHUNK_SECONDS",
        None,
        auto_or(float, 5),
        doc="target chunk length; cuts fall in silences within ±20 %. `auto`: 600 s in the stack (chunks spread "
        "over pods), 1800 s for `kscribe run`, which decodes one chunk at a time (fewer part-empty batches: 45.6 s "
        "against 56.5 s wall on a 35-minute file, `bench/reports/2026-12-07-lossless-cpu-2-cores.md`)",
    )
    silence_threshold_db: float = setting(
        "KSCRIBE_SILENCE_DB",
        -35.0,
        at_least(float, -120),
        doc="what counts as a silence (to cut at, and to keep word timings out of): quieter than this",
    )
    silence_min_s: float = setting(
        "KSCRIBE_SILENCE_MIN_SECONDS", 0.3, at_least(float, 0.05), doc="what counts as a silence: at least this long"
    )
    audio_track: str = setting(
        "KSCRIBE_AUDIO_TRACK",
        "",
        track_choice,
        shown="empty: the track marked default, else the first",
        doc='the audio track of jobs that name none: an index among the audio tracks or a language code (see "Using it")',
    )
    channels: str = setting(
        "KSCRIBE_CHANNELS",
        "mix",
        channel_mode,
        doc="`split`: each channel of a stereo or multichannel track transcribed apart, its words labelled "
        '`channel N` (per job overridable; see "Speakers by channel")',
    )


@dataclass(frozen=True, kw_only=True)
class AsrSettings:
    """Speech recognition: the model, language, decoding, batching and speaker labels."""

    model: str = setting("KSCRIBE_MODEL", "tiny.en", doc="the model of jobs that name none (see the table above)")
    language: str | None = setting(
        "KSCRIBE_LANGUAGE", None, shown="detect", doc="the spoken language of jobs that name none"
    )
    task: str = setting(
        "KSCRIBE_TASK", "transcribe", doc="`transcribe`, or `translate` into English; per job overridable"
    )
    language_windows: int = setting(
        "KSCRIBE_LANGUAGE_WINDOWS",
        6,
        at_least(int, 0),
        doc="a job with no language and a multilingual model: its language is decided once, before any chunk is "
        "decoded, from this many 30 s windows spread over the audio (0: each chunk detects its own from its first "
        "30 s; at most 20)",
    )
    language_mixed_share: float = setting(
        "KSCRIBE_LANGUAGE_MIXED_SHARE",
        0.25,
        at_least(float, 0.01),
        doc="when a second language holds this share of those windows' speech, the job is decoded multilingual "
        "instead (1: never)",
    )
    multilingual: bool = setting(
        "KSCRIBE_MULTILINGUAL",
        False,
        boolean,
        doc="decode every job without a language window by window, each 30 s in the language detected for it "
        "(code-switched speech); per job: API `multilingual`, upload metadata `kscribe-multilingual`, `--multilingual`",
    )
    beam_size: int = setting("KSCRIBE_BEAM_SIZE", 5, at_least(int, 1), doc="faster-whisper's beam size")
    vad_filter: bool = setting("KSCRIBE_VAD", True, boolean, doc="faster-whisper's VAD filter (Silero VAD)")
    word_timestamps: bool = setting("KSCRIBE_WORD_TIMESTAMPS", True, boolean, doc="faster-whisper's word timestamps")
    condition_on_previous_text: bool = setting(
        "KSCRIBE_CONDITION_ON_PREVIOUS_TEXT",
        False,
        boolean,
        doc="faster-whisper's option; on, it drifted on long audio (DESIGN.md, `bench/`)",
    )
    device: str = setting(
        "KSCRIBE_DEVICE", "auto", doc="`auto`, `cpu` or `cuda`; `auto`: CUDA when a GPU is present, else CPU"
    )
    compute_type: str = setting(
        "KSCRIBE_COMPUTE_TYPE", "auto", doc="CTranslate2's compute type; `auto`: float16 on CUDA, int8 on CPU"
    )
    cpu_threads: int = setting(
        "KSCRIBE_CPU_THREADS",
        0,
        at_least(int, 0),
        shown="`0` (CTranslate2's default)",
        doc="threads per model worker on CPU",
    )
    batch_size: int | None = setting(
        "KSCRIBE_BATCH_SIZE",
        None,
        auto_or(int, 0),
        doc="`auto`: faster-whisper's batched pipeline in batches of 8 for chunks of 60 s or more when VAD is on and "
        "the job brings no prompt or hotwords (on 2 CPU cores it took no more CPU time than sequential decoding at "
        "1, 5 and 30 minutes and matched bare faster-whisper's WER, where sequential decoding lost 0.4–2.1 points: "
        "`bench/reports/2026-11-23-defaults-cpu-2-cores.md`; 8 against 4 on a 35-minute chunk: 12 % less wall "
        "time, 1.22 against 0.92 GiB: `bench/reports/2026-12-07-lossless-cpu-2-cores.md`), sequential decoding "
        "otherwise (a batched 8 s chunk once lost a sentence; batched, a prompt did not take); a number >0 forces "
        "that batch size, `0` sequential decoding",
    )
    parallel_chunks: int = setting(
        "KSCRIBE_PARALLEL_CHUNKS",
        0,
        at_least(int, 0),
        shown="`0` (automatic)",
        doc="chunks one process transcribes at once: automatic is one, batched, on every core (`kscribe run` and a "
        "function alike; two at once, each with its own batch, peaked at 1.5x the memory of one); with more, the "
        "chunks decoded at once share the cores (a job of one chunk still gets them all) and the chunk count is "
        "made a multiple of it",
    )
    diarize: bool = setting(
        "KSCRIBE_DIARIZE",
        False,
        boolean,
        doc="accept jobs with `speakers: true` (speaker labels by voice); needs `pip install 'kscribe[diarize]'` and "
        "the diarize function. Off: the API answers 400, an upload asking for it fails",
    )
    diarize_threads: int = setting(
        "KSCRIBE_DIARIZE_THREADS",
        1,
        at_least(int, 1),
        doc="torch threads for voice embeddings in one process: more than one only pays on cores nothing else uses "
        "(on a busy 2-core machine two ran 9x slower than one)",
    )


@dataclass(frozen=True, kw_only=True)
class GuardSettings:
    """Hallucination guards: the parameters of faster-whisper and its Silero VAD, and kscribe's own
    (`kscribe/asr/guards.py`, where the figures behind the defaults are)."""

    hallucination_silence_s: float = setting(
        "KSCRIBE_HALLUCINATION_SILENCE_SECONDS",
        0.0,
        at_least(float, 0),
        shown="`0` (off)",
        doc="faster-whisper's `hallucination_silence_threshold`: silences over this long around a hallucination "
        "are skipped (needs word timestamps)",
    )
    vad_threshold: float = setting(
        "KSCRIBE_VAD_THRESHOLD", 0.5, at_least(float, 0), doc="Silero VAD's speech probability threshold (0 to 1)"
    )
    vad_min_silence_ms: int | None = setting(
        "KSCRIBE_VAD_MIN_SILENCE_MS",
        None,
        auto_or(int, 0),
        doc="Silero VAD's minimum silence; `auto`: 160 ms when batched (each piece is decoded alone, so pieces end "
        "at short pauses; 2000 ms made ~30 s pieces cut mid-speech, +3 WER points), 2000 ms in sequential decoding",
    )
    vad_speech_pad_ms: int = setting(
        "KSCRIBE_VAD_SPEECH_PAD_MS", 400, at_least(int, 0), doc="Silero VAD's speech padding"
    )
    vad_min_speech_ms: int = setting(
        "KSCRIBE_VAD_MIN_SPEECH_MS", 0, at_least(int, 0), doc="Silero VAD's shortest speech"
    )
    drop_no_speech_prob: float = setting(
        "KSCRIBE_DROP_NO_SPEECH_PROB",
        0.8,
        at_least(float, 0),
        doc="a segment with `no_speech_prob` above this and `avg_logprob` below the next is dropped as non-speech",
    )
    drop_avg_logprob: float = setting(
        "KSCRIBE_DROP_AVG_LOGPROB", -0.5, at_least(float, -100), doc="see `KSCRIBE_DROP_NO_SPEECH_PROB`"
    )
    max_repeats: int = setting(
        "KSCRIBE_MAX_REPEATS",
        3,
        at_least(int, 0),
        doc="a phrase repeated more often in a row is cut to this many (0: off)",
    )


@dataclass(frozen=True, kw_only=True)
class VocabularySettings:
    """Vocabulary: Whisper's prompt and hotwords and custom spellings, for every job that brings none."""

    prompt: str = setting("KSCRIBE_PROMPT", "", doc="Whisper's initial prompt (≤ 800 characters)")
    hotwords: str = setting("KSCRIBE_HOTWORDS", "", doc="Whisper's hotwords (≤ 400 characters)")
    replacements: tuple[tuple[str, str], ...] = setting(
        "KSCRIBE_REPLACEMENTS",
        (),
        spellings,
        doc='custom spellings (heard → written) applied in publish, as JSON: `{"cube control": "kubectl"}` '
        "(≤ 100 entries of ≤ 100 characters)",
    )


@dataclass(frozen=True, kw_only=True)
class OutputSettings:
    """Outputs: the formats written and the shaping of subtitles (`kscribe/transcript/subtitles.py`),
    per job overridable."""

    formats: tuple[str, ...] = setting(
        "KSCRIBE_FORMATS", DEFAULT_FORMATS, format_list, doc="the formats written; `ass` too on request (or `all`)"
    )
    max_line_chars: int = setting(
        "KSCRIBE_MAX_LINE_CHARS", 42, number(int), doc="subtitle line width in display columns (a CJK character is two)"
    )
    max_lines: int = setting("KSCRIBE_MAX_LINES", 2, number(int), doc="subtitle lines per cue")
    max_cue_s: float = setting("KSCRIBE_MAX_CUE_SECONDS", 7.0, number(float), doc="the longest cue")
    min_cue_s: float = setting("KSCRIBE_MIN_CUE_SECONDS", 1.0, number(float), doc="the shortest cue")
    min_gap_s: float = setting("KSCRIBE_MIN_GAP_SECONDS", 0.08, number(float), doc="the gap kept between cues")
    srt_start_index: int = setting("KSCRIBE_SRT_START_INDEX", 1, number(int), doc="the first SRT cue's number")


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    """The HTTP API: limits, client addresses, its internal server, the web page's uploads, the
    OpenAI-compatible routes and batches."""

    api_rate_per_minute: int = setting(
        "KSCRIBE_API_RATE_PER_MINUTE", 120, at_least(int, 1), doc="requests a minute per API key; more answer 429"
    )
    api_max_body_bytes: int = setting(
        "KSCRIBE_API_MAX_BODY_BYTES", 64 * 1024, at_least(int, 256), doc="the largest request body"
    )
    api_local_sources: bool = setting(
        "KSCRIBE_API_LOCAL_SOURCES",
        False,
        boolean,
        doc="whether a source may be a path on the API's own machine (local stacks only: it exposes that filesystem)",
    )
    api_auth_failures_per_minute: int = setting(
        "KSCRIBE_API_AUTH_FAILURES_PER_MINUTE",
        30,
        at_least(int, 1),
        doc="failed authentications per client address a minute; more answer 429 (even with a good key) until the "
        "minute is over",
    )
    trusted_proxies: tuple[str, ...] = setting(
        "KSCRIBE_TRUSTED_PROXIES",
        (),
        comma_list,
        doc="CIDRs of the proxies in front of the API (they append to `X-Forwarded-For`): the client is the nearest "
        "address outside them (none: the peer address — behind Knative that is the queue-proxy, shared by every "
        "client; the gke config sets loopback, with `KSCRIBE_TRUSTED_GATEWAY_HOPS=1` for the gateway)",
    )
    trusted_gateway_hops: int = setting(
        "KSCRIBE_TRUSTED_GATEWAY_HOPS",
        0,
        at_least(int, 0),
        doc="proxies trusted by position beyond `KSCRIBE_TRUSTED_PROXIES` (the ingress gateway, whose pods share the "
        "pod range with every other pod)",
    )
    internal_port: int = setting(
        "KSCRIBE_INTERNAL_PORT",
        0,
        at_least(int, 0),
        shown="off",
        doc="the port of the api function's internal server: `/metrics` and detailed `/health/ready`, off the "
        "public port",
    )
    internal_host: str = setting(
        "KSCRIBE_INTERNAL_HOST", "127.0.0.1", stripped, doc="the address the internal server binds to"
    )
    web_uploads: str = setting(
        "KSCRIBE_WEB_UPLOADS",
        "direct",
        shown="`direct` with a `gs://` input, `api` with `STORAGE_EMULATOR_HOST` or a local input",
        doc="where the web page's upload bytes go: a GCS resumable session the API creates (`direct`), or streamed "
        'through the api (`api`; see "The web page")',
    )
    api_max_upload_bytes: int = setting(
        "KSCRIBE_API_MAX_UPLOAD_BYTES",
        512 * 1024**2,
        at_least(int, 1024),
        doc="the OpenAI routes' largest multipart upload (checked from `Content-Length` and while streaming to disk)",
    )
    openai_wait_s: float = setting(
        "KSCRIBE_OPENAI_WAIT_SECONDS",
        120.0,
        at_least(float, 0),
        doc="how long an OpenAI-route request waits for its job before answering `202` with its status URL",
    )
    api_timeout_s: float = setting(
        "KSCRIBE_API_TIMEOUT_SECONDS",
        100.0,
        at_least(float, 1),
        doc="the OpenAI routes answer `202` + `Location` this long after a request arrived at the latest (keep it "
        "below the api Service's `timeoutSeconds`, 120)",
    )
    openai_max_waiters: int = setting(
        "KSCRIBE_OPENAI_MAX_WAITERS",
        4,
        at_least(int, 0),
        doc="OpenAI-route requests of a process that wait for their job at once (half of them of one tenant at "
        "most); the others get `202` at once",
    )
    api_upload_budget_bytes: int = setting(
        "KSCRIBE_API_UPLOAD_BUDGET_BYTES",
        1536 * 1024**2,
        at_least(int, 1024),
        doc="OpenAI-route upload bytes on one api pod's scratch at once (under the production emptyDir's 2 GiB): "
        "each upload reserves its declared size (the largest upload when it declares none) before its body is "
        "read; over it is refused at once (503)",
    )
    api_tenant_upload_budget_bytes: int = setting(
        "KSCRIBE_API_TENANT_UPLOAD_BUDGET_BYTES",
        1024 * 1024**2,
        at_least(int, 1024),
        doc="the same per tenant; over it is refused at once (429)",
    )
    max_batch_jobs: int = setting(
        "KSCRIBE_MAX_BATCH_JOBS",
        500,
        at_least(int, 1),
        doc="the most files one batch (`POST /api/v1/batches`) may make jobs of; more is a 400, never a partial batch",
    )


@dataclass(frozen=True, kw_only=True)
class TenancySettings:
    """Tenancy: each tenant's quotas, unless `kscribe tenants set` gives it its own (0: no limit)."""

    tenant_max_active_jobs: int = setting(
        "KSCRIBE_TENANT_MAX_ACTIVE_JOBS",
        20,
        at_least(int, 0),
        doc="unfinished jobs at once; the next API create is refused",
    )
    tenant_audio_hours_per_day: float = setting(
        "KSCRIBE_TENANT_AUDIO_HOURS_PER_DAY",
        24.0,
        at_least(float, 0),
        doc="hours of audio a day (UTC), checked once extraction knows the duration",
    )


@dataclass(frozen=True, kw_only=True)
class ReconcileSettings:
    """The reconciler and backpressure: when a step that has not moved is re-driven (its event
    published again), claims' leases, and the line of waiting jobs (docs/capacity.md)."""

    redrive_after_s: float = setting(
        "KSCRIBE_REDRIVE_AFTER_SECONDS",
        300.0,
        at_least(float, 1),
        doc="the base lease: a step that has not moved for this long (plus what its worker asked for: the decode's "
        "time limit, a chunk at `KSCRIBE_TRANSCRIBE_MIN_SPEED`) is re-driven",
    )
    redrive_extract_s: float = setting(
        "KSCRIBE_REDRIVE_EXTRACT_SECONDS", 0.0, at_least(float, 0), shown="base", doc="extract's lease (0: the base)"
    )
    redrive_transcribe_s: float = setting(
        "KSCRIBE_REDRIVE_TRANSCRIBE_SECONDS",
        0.0,
        at_least(float, 0),
        shown="base",
        doc="transcribe's lease (0: the base)",
    )
    redrive_publish_s: float = setting(
        "KSCRIBE_REDRIVE_PUBLISH_SECONDS", 0.0, at_least(float, 0), shown="base", doc="publish's lease (0: the base)"
    )
    max_redrives: int = setting(
        "KSCRIBE_MAX_REDRIVES",
        5,
        at_least(int, 1),
        doc="re-drives that found the job's work lost (no worker holds it, its stage idle for a lease), in a row "
        'without progress, before it fails with "no progress after N re-drives at <stage>" — a job waiting in line '
        "is never re-driven",
    )
    transcribe_min_speed: float = setting(
        "KSCRIBE_TRANSCRIBE_MIN_SPEED",
        1.0,
        at_least(float, 0.01),
        doc="the slowest transcription speed (× real time) a chunk's lease allows for",
    )
    claim_lease_s: float = setting(
        "KSCRIBE_CLAIM_LEASE_SECONDS",
        10.0,
        at_least(float, 1),
        doc="how long a duplicate of running work waits at most after its worker died (a live worker renews its "
        "claim every third of it)",
    )
    queue_max_jobs: int = setting(
        "KSCRIBE_QUEUE_MAX_JOBS",
        2000,
        at_least(int, 0),
        doc="with this many jobs waiting in line the API answers `429 queue_full` with `Retry-After` (0: never; "
        "bucket uploads always queue)",
    )
    queue_horizon_s: float = setting(
        "KSCRIBE_QUEUE_HORIZON_SECONDS",
        86400.0,
        at_least(float, 60),
        doc="a chunk dead-lettered for lack of capacity is queued again while its job is younger than this; past "
        "it the job fails",
    )


@dataclass(frozen=True, kw_only=True)
class CallbackSettings:
    """Callbacks: signing, which internal receivers are allowed, retries and fairness between tenants."""

    callback_secret: str = setting(
        "KSCRIBE_CALLBACK_SECRET", "", doc="the HMAC secret callbacks of jobs outside tenant prefixes are signed with"
    )
    callback_allow: tuple[str, ...] = setting(
        "KSCRIBE_CALLBACK_ALLOW", (), comma_list, doc="hosts, IPs and CIDRs allowed as receivers despite being internal"
    )
    callback_attempts: int = setting(
        "KSCRIBE_CALLBACK_ATTEMPTS",
        5,
        at_least(int, 1),
        doc="tries of one delivery (5xx, 429 and network errors retry)",
    )
    callback_backoff_s: float = setting(
        "KSCRIBE_CALLBACK_BACKOFF_SECONDS", 1.0, at_least(float, 0), doc="the first retry's delay, doubled after each"
    )
    callback_lanes: int = setting(
        "KSCRIBE_CALLBACK_LANES",
        4,
        at_least(int, 1),
        doc="a tenant's callback deliveries under way at once across notify's pods; more wait for the re-send, so one "
        "tenant's receivers that never answer cannot hold notify for others",
    )
    callback_hold_s: float = setting(
        "KSCRIBE_CALLBACK_HOLD_SECONDS",
        60.0,
        at_least(float, 0),
        doc="after a delivery a receiver did not answer, how long that tenant's deliveries to it are put off "
        "without a try (0: never)",
    )
    callback_resend_s: float = setting(
        "KSCRIBE_CALLBACK_RESEND_SECONDS",
        86400.0,
        at_least(float, 0),
        shown="1 day",
        doc="how long an undelivered callback is re-sent after its job finished",
    )


@dataclass(frozen=True, kw_only=True)
class LinkSettings:
    """Result links: how links to a job's outputs are made (`kscribe/delivery/links.py`)."""

    links: str = setting(
        "KSCRIBE_LINKS",
        "api",
        stripped,
        doc="`api`: served through the api with an HMAC token (the local stack; any installation without signBlob); "
        "`gcs`: redirected to GCS V4 signed URLs minted through IAM signBlob",
    )
    link_expiry_s: int = setting(
        "KSCRIBE_LINK_EXPIRY_SECONDS", 3600, at_least(int, 1), doc="a link's life (at most 7 days, GCS's own cap)"
    )
    link_secret: str = setting(
        "KSCRIBE_LINK_SECRET", "", stripped, shown="random (kept in Redis)", doc="the HMAC secret of `api` links"
    )
    public_url: str = setting("KSCRIBE_PUBLIC_URL", "", stripped, doc="the api's public address links start with")
    signing_service_account: str = setting(
        "KSCRIBE_SIGNING_SERVICE_ACCOUNT",
        "",
        stripped,
        shown="the api's own",
        doc="the service account signBlob signs `gcs` links as",
    )


@dataclass(frozen=True, kw_only=True)
class EventSettings:
    """Events: where functions publish them and how a function authenticates those it receives."""

    sink_url: str = setting("K_SINK", "", doc="the broker address functions publish to (a SinkBinding sets it)")
    sink_timeout_s: float = fixed(10.0, doc="how long one publish to the broker may take")
    sink_token_file: str = setting(
        "KSCRIBE_SINK_TOKEN_FILE",
        "",
        doc="the publisher's OIDC token a SinkBinding mounts (sent with every publish; the gke overlay sets "
        "`/oidc/token`); empty where the broker takes events without one",
    )
    ingest_url: str = setting(
        "KSCRIBE_INGEST_URL",
        "http://127.0.0.1:8081",
        doc="where `python -m kscribe_stack submit` posts storage notifications (as Eventarc would)",
    )
    event_auth: str = setting(
        "KSCRIBE_EVENT_AUTH",
        "",
        stripped,
        doc="`oidc`: a function refuses (401) an event without Knative Eventing's OIDC token from an allowed sender; "
        "empty trusts the network",
    )
    event_jwks_url: str = setting("KSCRIBE_EVENT_JWKS_URL", "", stripped, doc="with `oidc`: the issuer's keys")
    event_issuer: str = setting("KSCRIBE_EVENT_ISSUER", "", stripped, doc="with `oidc`: the token's `iss`")
    event_audience: str = setting("KSCRIBE_EVENT_AUDIENCE", "", stripped, doc="with `oidc`: the token's `aud`")
    event_senders: tuple[str, ...] = setting(
        "KSCRIBE_EVENT_SENDERS", (), comma_list, doc="with `oidc`: the allowed `sub`s (comma list)"
    )


@dataclass(frozen=True, kw_only=True)
class ObservabilitySettings:
    """Observability: metrics and readiness."""

    metrics_multiprocess_dir: str = setting(
        "PROMETHEUS_MULTIPROC_DIR",
        "",
        doc="prometheus-client's directory, set when running more than one gunicorn worker",
    )
    stuck_after_s: float = setting(
        "KSCRIBE_STUCK_AFTER_SECONDS",
        900.0,
        at_least(float, 1),
        doc="unused: `kscribe_jobs_stuck` now counts jobs the reconciler found with their work lost",
    )
    min_free_disk_bytes: int = setting(
        "KSCRIBE_MIN_FREE_DISK_BYTES",
        2 * 1024**3,
        at_least(int, 0),
        doc="readiness fails below this much free space in the scratch directory",
    )
