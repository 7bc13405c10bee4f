"""The typed values that flow between stages. Frozen, plain, JSON-friendly."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

# What a job may be asked for, and in which formats; settings, the CLI, ingest, the API and
# its OpenAPI document all read these.
TASKS = ("transcribe", "translate")
# The languages Whisper speaks (its tokenizer's codes): a job's language is one of them or
# left to detection; any other code ("zz") is refused where it is given.
LANGUAGES = tuple(
    [
        "af",
        "am",
        "ar",
        "as",
        "az",
        "ba",
        "be",
        "bg",
        "bn",
        "bo",
        "br",
        "bs",
        "ca",
        "cs",
        "cy",
        "da",
        "de",
        "el",
        "en",
        "es",
        "et",
        "eu",
        "fa",
        "fi",
        "fo",
        "fr",
        "gl",
        "gu",
        "ha",
        "haw",
        "he",
        "hi",
        "hr",
        "ht",
        "hu",
        "hy",
        "id",
        "is",
        "it",
        "ja",
        "jw",
        "ka",
        "kk",
        "km",
        "kn",
        "ko",
        "la",
        "lb",
        "ln",
        "lo",
        "lt",
        "lv",
        "mg",
        "mi",
        "mk",
        "ml",
        "mn",
        "mr",
        "ms",
        "mt",
        "my",
        "ne",
        "nl",
        "nn",
        "no",
        "oc",
        "pa",
        "pl",
        "ps",
        "pt",
        "ro",
        "ru",
        "sa",
        "sd",
        "si",
        "sk",
        "sl",
        "sn",
        "so",
        "sq",
        "sr",
        "su",
        "sv",
        "sw",
        "ta",
        "te",
        "tg",
        "th",
        "tk",
        "tl",
        "tr",
        "tt",
        "uk",
        "ur",
        "uz",
        "vi",
        "yi",
        "yo",
        "zh",
        "yue",
    ]
)
FORMATS = ("json", "srt", "vtt", "txt", "tsv", "ass")
# What a job gets when it names none (ASS only on request).
DEFAULT_FORMATS = FORMATS[:5]
# How a job treats a track of several channels: mixed into one (every voice unlabelled), or
# each channel transcribed on its own and its words labelled "channel N".
CHANNEL_MODES = ("mix", "split")
# How a job came to be (``Job.origin``).
ORIGINS = ("upload", "api", "batch", "openai", "bucket", "cli")


class JobStatus(str, enum.Enum):
    """The job state machine, defined here only: a job moves to a status of equal or higher
    ``rank`` and never leaves a ``terminal`` one (jobstore's Lua derives its table from this)."""

    QUEUED = "queued"
    EXTRACTING = "extracting"
    TRANSCRIBING = "transcribing"
    PUBLISHING = "publishing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def terminal(self) -> bool:
        return self.rank == TERMINAL_RANK

    @property
    def stage(self) -> str | None:
        """The stage whose work moves a job on from this status; None once it is terminal."""
        return STAGE_OF_STATUS.get(self)


_RANK = {
    JobStatus.QUEUED: 0,
    JobStatus.EXTRACTING: 1,
    JobStatus.TRANSCRIBING: 2,
    JobStatus.PUBLISHING: 3,
    JobStatus.SUCCEEDED: 4,
    JobStatus.FAILED: 4,
    JobStatus.CANCELLED: 4,
}
TERMINAL_RANK = max(_RANK.values())

# The stage an unfinished job waits on, by its status (a queued job waits for extract): the
# one table the reconciler, the dead-letter sink and everything else that names a job's step
# read. Publish follows transcribe without a status of its own until it starts, so a job
# transcribing with every chunk stored waits on publish too (the reconciler checks the chunks).
STAGE_OF_STATUS = {
    JobStatus.QUEUED: "extract",
    JobStatus.EXTRACTING: "extract",
    JobStatus.TRANSCRIBING: "transcribe",
    JobStatus.PUBLISHING: "publish",
}


# Progress (0–100) at the start of each stage; transcription fills the span up to publishing.
_STAGE_PROGRESS = {
    JobStatus.QUEUED: 0.0,
    JobStatus.EXTRACTING: 2.0,
    JobStatus.TRANSCRIBING: 10.0,
    JobStatus.PUBLISHING: 95.0,
    JobStatus.SUCCEEDED: 100.0,
}


@dataclass(frozen=True)
class ObjectNotice:
    """An object that appeared in storage, as a storage notification describes it."""

    uri: str
    generation: str
    size: int
    content_type: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        # `bucket/name#generation`: a re-upload is a new generation, a redelivery is not.
        return f"{self.uri}#{self.generation}"


@dataclass(frozen=True)
class Job:
    id: str
    source_uri: str
    source_generation: str
    output_uri: str
    output_stem: str
    model: str
    language: str | None
    task: str
    formats: tuple[str, ...]
    status: JobStatus = JobStatus.QUEUED
    created_at: float = 0.0
    updated_at: float = 0.0
    error: str = ""
    failed_stage: str = ""
    duration_s: float = 0.0
    chunks_total: int = 0
    chunks_done: int = 0
    transcribed_s: float = 0.0
    # The language chunks are decoded in when the job names none (kscribe/asr/languages.py),
    # then the transcript's main one; and seconds of speech per language, when published.
    detected_language: str = ""
    languages: dict[str, float] = field(default_factory=dict)
    # Speech seconds, seconds covered by words, pieces re-decoded (kscribe/asr/coverage.py), when
    # published ({}: not measured).
    coverage: dict[str, float] = field(default_factory=dict)
    # Decode each 30 s window in the language detected for it (code-switched media): asked
    # for, or chosen by the detection that found more than one language.
    multilingual: bool = False
    callback_url: str = ""
    # Who owns the job: an API key's tenant; "" for bucket uploads and the CLI.
    tenant: str = ""
    # "" (none sent yet), "delivered" or "failed"; attempts and the last error with it.
    callback_status: str = ""
    callback_attempts: int = 0
    callback_error: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    # Vocabulary ("": the settings'), custom spellings (merged over the settings'), and
    # subtitle shaping options (subtitles.OPTIONS names) overriding the settings'.
    prompt: str = ""
    hotwords: str = ""
    replacements: dict[str, str] = field(default_factory=dict)
    subtitles: dict[str, float] = field(default_factory=dict)
    # The audio track asked for (kscribe/media/tracks.py: an index or a language code; ""
    # the default track), and the one extraction took: "1 (deu)", "0" for an untagged one.
    audio_track: str = ""
    audio_track_used: str = ""
    # What the page's <video> is told the source is (``containers.media_type`` of the
    # container extract probed); "" until then.
    source_media_type: str = ""
    # SHA-256 of the API request that created the job: a reused Idempotency-Key must match.
    request_hash: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    # What the pipeline has published about the job (created, transcribed, completed,
    # failed): a redelivery re-announces what is missing, whatever its age.
    announced: frozenset[str] = frozenset()
    # The reconciler: how often it re-drove the job, when last, and until when the worker on
    # the current step said it needs (a long decode or chunk).
    # ``redrives`` counts re-drives that found work lost since the job last made progress.
    redrives: int = 0
    redriven_at: float = 0.0
    lease_until: float = 0.0
    # When the first of its chunks reached a transcribe worker (the end of its wait in line).
    transcription_started_at: float = 0.0
    # The key the job was created under (``uri#generation``, or the API's request key).
    dedupe_key: str = ""
    # Per-job retention (kscribe/pipeline/retention.py): days from creation until everything of the
    # job is purged (0: the bucket lifecycle rules alone), and the input prefix kscribe wrote
    # for it (an OpenAI-route upload), purged with it.
    retention_days: int = 0
    owned_input: str = ""
    # 1: the callback carries time-limited links to the outputs (kscribe/delivery/links.py).
    callback_links: int = 0
    # CHANNEL_MODES: "split" transcribes each channel apart; extract says in ``channels_note``
    # when it did otherwise (identical channels, a mono track) and why.
    channels: str = "mix"
    channels_note: str = ""
    # 1: label words and segments with who speaks, by voice (kscribe/transcript/speakers.py); how many
    # speakers there are (num) or may be (min, max), 0 where not given; chunks diarized.
    speakers: int = 0
    num_speakers: int = 0
    min_speakers: int = 0
    max_speakers: int = 0
    chunks_diarized: int = 0
    # The batch the job was made in (kscribe/pipeline/batches.py); "" for a job of its own.
    batch_id: str = ""
    # How the job came to be (ORIGINS): a page upload, an API request or batch, the
    # OpenAI-compatible route, a file dropped in the bucket, the CLI; "" for older records.
    origin: str = ""
    # Names given to the transcript's speaker labels ("channel 1" → "Alice"), applied to
    # its downloads (kscribe/transcript/renamed.py).
    speaker_names: dict[str, str] = field(default_factory=dict)
    # Seconds decoded so far of each chunk on a worker and not yet stored (derived from the
    # record's ``decoding.<index>`` fields): progress inside a chunk.
    decoding: dict[int, float] = field(default_factory=dict)

    @property
    def decoded_s(self) -> float:
        """Seconds of audio transcribed: the chunks stored, and what the chunks in flight decoded."""
        return self.transcribed_s + sum(self.decoding.values())

    @property
    def progress(self) -> float:
        """0–100, derived from status and how much audio is transcribed."""
        if self.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            # How far it came, never 100: a full bar read as "done" on a job that is not.
            if self.duration_s <= 0 or self.decoded_s <= 0:
                return 0.0
            return self._transcribing_progress()
        start = _STAGE_PROGRESS[self.status]
        if self.status is JobStatus.TRANSCRIBING and self.duration_s > 0:
            return self._transcribing_progress()
        return start

    def _transcribing_progress(self) -> float:
        start = _STAGE_PROGRESS[JobStatus.TRANSCRIBING]
        span = _STAGE_PROGRESS[JobStatus.PUBLISHING] - start
        return round(start + span * min(1.0, self.decoded_s / self.duration_s), 1)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["formats"] = list(self.formats)
        data["announced"] = sorted(self.announced)
        data["progress"] = self.progress
        return data


@dataclass(frozen=True)
class Chunk:
    """A piece of a job's audio, cut at a silence, addressed in work storage.

    ``index`` runs over all the job's chunks (of every channel) and ``count`` counts them
    all, so completion counts every chunk of every channel once. ``channel`` is the track's
    channel it holds (1-based), 0 for audio of every channel mixed. Its audio also holds
    ``lead_s`` seconds before ``start_s`` and ``tail_s`` after its end, which belong to its
    neighbours: the decoder hears a word at the boundary whole, and the chunk whose span
    holds the word's middle keeps it (``merge.owned``)."""

    job_id: str
    index: int
    count: int
    uri: str
    start_s: float
    duration_s: float
    channel: int = 0
    lead_s: float = 0.0
    tail_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        return cls(
            job_id=str(data["job_id"]),
            index=int(data["index"]),
            count=int(data["count"]),
            uri=str(data["uri"]),
            start_s=float(data["start_s"]),
            duration_s=float(data["duration_s"]),
            # Manifests written before channels existed hold mixed audio.
            channel=int(data.get("channel", 0)),
            # Manifests written before padding existed hold exactly the chunk's span.
            lead_s=float(data.get("lead_s", 0.0)),
            tail_s=float(data.get("tail_s", 0.0)),
        )


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float
    # Who said it ("" unknown): "channel N" for a channel-split job, "Speaker N" by voice.
    speaker: str = ""


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    speaker: str = ""
    # The language it was decoded in ("" unknown).
    language: str = ""

    @classmethod
    def from_dict(cls, s: dict[str, Any]) -> Segment:
        """A segment as stored in a chunk transcript or written in the JSON output (which
        leaves out empty speakers and adds an ``id``)."""
        return cls(
            start=s["start"],
            end=s["end"],
            text=s["text"],
            words=tuple(
                Word(w["start"], w["end"], w["word"], w.get("probability", 0.0), w.get("speaker", ""))
                for w in s.get("words", ())
            ),
            avg_logprob=s.get("avg_logprob", 0.0),
            no_speech_prob=s.get("no_speech_prob", 0.0),
            speaker=s.get("speaker", ""),
            language=s.get("language", ""),
        )

    def shifted(self, offset: float, limit: float | None = None) -> Segment:
        """This segment moved by ``offset`` seconds, its times clamped to ``limit``."""

        def move(t: float) -> float:
            t = t + offset
            return round(min(t, limit) if limit is not None else t, 3)

        words = tuple(replace(w, start=move(w.start), end=move(w.end)) for w in self.words)
        return replace(self, start=move(self.start), end=move(self.end), words=words)


@dataclass(frozen=True)
class ChunkTranscript:
    """What the model made of one chunk, times relative to the chunk's start."""

    job_id: str
    index: int
    start_s: float
    duration_s: float
    language: str
    language_probability: float
    segments: tuple[Segment, ...]
    model: str
    seconds: float = 0.0
    channel: int = 0
    # The padding its audio held (``Chunk.lead_s``): words there have times before 0 or
    # after ``duration_s``; merge keeps each once.
    lead_s: float = 0.0
    tail_s: float = 0.0
    # kscribe.asr.coverage.Coverage.to_dict() of the chunk's own span ({}: not measured).
    coverage: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> ChunkTranscript:
        data = json.loads(raw)
        segments = tuple(Segment.from_dict(s) for s in data.pop("segments"))
        return cls(segments=segments, **data)


@dataclass(frozen=True)
class Transcript:
    """A whole video's transcript on the video's timeline."""

    job_id: str
    source_uri: str
    language: str
    duration_s: float
    model: str
    task: str
    segments: tuple[Segment, ...]
    # The source's audio track transcribed ("1 (deu)"; "" when not known).
    audio_track: str = ""
    # kscribe.asr.coverage.Coverage.to_dict() summed over the chunks ({}: not measured).
    coverage: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())
