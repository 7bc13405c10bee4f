"""Storage notifications decoded into ``ObjectNotice`` values, and the job choices they carry."""

from __future__ import annotations

import dataclasses
import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from kscribe.errors import ConfigError, InputError
from kscribe.values import CHANNEL_MODES, DEFAULT_FORMATS
from kscribe.values import FORMATS as ALL_FORMATS

# Custom object metadata an uploader may set to steer its job.
META_LANGUAGE = "kscribe-language"
META_MODEL = "kscribe-model"
META_TASK = "kscribe-task"
META_FORMATS = "kscribe-formats"
META_CALLBACK = "kscribe-callback-url"
META_PROMPT = "kscribe-prompt"
META_HOTWORDS = "kscribe-hotwords"
META_REPLACEMENTS = "kscribe-replacements"  # a JSON object, heard → written
META_CHANNELS = "kscribe-channels"  # mix or split
META_AUDIO_TRACK = "kscribe-audio-track"  # an audio track's index, or a language code
META_MULTILINGUAL = "kscribe-multilingual"  # true/false: code-switched speech
# The web page upload session an object was stored for (kscribe/api/web.py).
META_UPLOAD = "kscribe-upload"
# Subtitle shaping: kscribe-max-line-chars, kscribe-max-lines, kscribe-max-cue-seconds, …
META_SUBTITLES = {
    "kscribe-max-line-chars": "max_line_chars",
    "kscribe-max-lines": "max_lines",
    "kscribe-max-cue-seconds": "max_cue_s",
    "kscribe-min-cue-seconds": "min_cue_s",
    "kscribe-min-gap-seconds": "min_gap_s",
    "kscribe-srt-start-index": "srt_start_index",
}
# Speaker labels by voice: kscribe-speakers (true/false) and the counts, whole numbers.
META_SPEAKERS = "kscribe-speakers"
META_SPEAKER_COUNTS = {
    "kscribe-num-speakers": "num_speakers",
    "kscribe-min-speakers": "min_speakers",
    "kscribe-max-speakers": "max_speakers",
}


# What a job may carry as the owner's own metadata (API field, or custom object metadata).
MAX_METADATA_KEYS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 32, 64, 512


def check_metadata(metadata: dict[str, str]) -> None:
    """Raise ``InputError`` unless ``metadata`` is within the limits (it rides on every event,
    callback and job view)."""
    if len(metadata) > MAX_METADATA_KEYS or any(
        len(k) > MAX_METADATA_KEY or len(v) > MAX_METADATA_VALUE or k.lower().startswith("kscribe-")
        for k, v in metadata.items()
    ):
        raise InputError(
            f"metadata: at most {MAX_METADATA_KEYS} keys of ≤{MAX_METADATA_KEY} characters "
            f"(not starting kscribe-) with values of ≤{MAX_METADATA_VALUE}"
        )


@dataclass(frozen=True)
class JobChoices:
    """Per-job options; None falls back to the settings."""

    model: str | None = None
    language: str | None = None
    task: str | None = None
    # Checked output formats (``parse_formats``), in the order asked for.
    formats: tuple[str, ...] | None = None
    callback_url: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    prompt: str | None = None
    hotwords: str | None = None
    replacements: dict[str, str] = field(default_factory=dict)
    subtitles: dict[str, float] = field(default_factory=dict)
    # values.CHANNEL_MODES, checked (parse_channels) where the choices are read.
    channels: str | None = None
    # An audio track's index among the audio tracks, or a language code (media/tracks.py).
    audio_track: str | None = None
    # Decode each 30 s window in its own language (code-switched speech).
    multilingual: bool | None = None
    # Label speakers by voice; how many there are, or may be (kscribe/transcript/speakers.py checks).
    speakers: bool = False
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    # What was wrong with the options as sent (upload metadata): the job fails with it.
    invalid: str = ""

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> JobChoices:
        base = cls(
            model=metadata.get(META_MODEL) or None,
            language=metadata.get(META_LANGUAGE) or None,
            task=metadata.get(META_TASK) or None,
            callback_url=metadata.get(META_CALLBACK) or None,
            metadata={k: v for k, v in metadata.items() if not k.startswith("kscribe-")},
        )
        try:
            return dataclasses.replace(
                base,
                formats=parse_formats(metadata[META_FORMATS]) if metadata.get(META_FORMATS, "").strip() else None,
                prompt=check_text(META_PROMPT, metadata.get(META_PROMPT, ""), MAX_PROMPT_CHARS) or None,
                hotwords=check_text(META_HOTWORDS, metadata.get(META_HOTWORDS, ""), MAX_HOTWORDS_CHARS) or None,
                replacements=parse_replacements(metadata.get(META_REPLACEMENTS, "")),
                subtitles=parse_subtitles({META_SUBTITLES[k]: v for k, v in metadata.items() if k in META_SUBTITLES}),
                channels=parse_channels(META_CHANNELS, metadata[META_CHANNELS])
                if metadata.get(META_CHANNELS)
                else None,
                audio_track=parse_choice(metadata.get(META_AUDIO_TRACK, ""), META_AUDIO_TRACK) or None,
                multilingual=parse_flag(META_MULTILINGUAL, metadata.get(META_MULTILINGUAL, "")),
                speakers=bool(parse_flag(META_SPEAKERS, metadata.get(META_SPEAKERS, ""))),
                num_speakers=_whole(metadata, "kscribe-num-speakers"),
                min_speakers=_whole(metadata, "kscribe-min-speakers"),
                max_speakers=_whole(metadata, "kscribe-max-speakers"),
            )
        except (InputError, ConfigError) as exc:
            return dataclasses.replace(base, invalid=str(exc))

    def to_metadata(self) -> dict[str, str]:
        """These choices as the object metadata ``from_metadata`` reads back (`kscribe
        submit` steers its uploads' jobs with it)."""
        by_option = {option: key for key, option in META_SUBTITLES.items()}
        pairs = {
            META_MODEL: self.model,
            META_LANGUAGE: self.language,
            META_TASK: self.task,
            META_FORMATS: ",".join(self.formats) if self.formats else None,
            META_CALLBACK: self.callback_url,
            META_PROMPT: self.prompt,
            META_HOTWORDS: self.hotwords,
            META_REPLACEMENTS: json.dumps(self.replacements, ensure_ascii=False) if self.replacements else None,
            META_CHANNELS: self.channels,
            META_AUDIO_TRACK: self.audio_track,
            **{by_option[name]: f"{value:g}" for name, value in self.subtitles.items()},
            META_MULTILINGUAL: None if self.multilingual is None else str(self.multilingual).lower(),
            META_SPEAKERS: "true" if self.speakers else None,
            **{key: str(getattr(self, name) or "") for key, name in META_SPEAKER_COUNTS.items()},
        }
        return {**self.metadata, **{k: v for k, v in pairs.items() if v}}


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


def _whole(metadata: dict[str, str], name: str) -> int | None:
    raw = metadata.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InputError(f"{name} must be a whole number, not {raw[:40]!r}") from None


def parse_channels(name: str, raw: object) -> str:
    """``mix`` or ``split`` (any case, spaces around ignored); ``InputError`` naming ``name``
    otherwise."""
    value = raw.strip().lower() if isinstance(raw, str) else raw
    if value not in CHANNEL_MODES:
        raise InputError(f"{name} must be {' or '.join(CHANNEL_MODES)}, not {raw!r}")
    return str(value)


def parse_flag(name: str, raw: str) -> bool | None:
    """``true``/``false`` (also 1/0, yes/no, on/off) as sent in metadata; None when empty."""
    value = raw.strip().lower()
    if not value:
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise InputError(f"{name} must be true or false, not {raw[:40]!r}")


def parse_subtitles(options: dict[str, object]) -> dict[str, float]:
    """Shaping overrides (``subtitles.OPTIONS`` names), each checked, and checked together
    against the defaults; ``InputError`` names the bad one."""
    parsed = {name: parse_option(name, value) for name, value in options.items()}
    Shaping().replace(parsed)  # min_cue_s ≤ max_cue_s when both are given
    return {k: float(v) for k, v in parsed.items()}


@dataclass(frozen=True)
class Shaping:
    """How cues are shaped; per job overridable (see ``OPTIONS``)."""

    max_line_chars: int = 42
    max_lines: int = 2
    max_cue_s: float = 7.0
    min_cue_s: float = 1.0
    min_gap_s: float = 0.08
    srt_start_index: int = 1

    def replace(self, overrides: Mapping[str, float]) -> Shaping:
        """These options with ``overrides`` (names as in ``OPTIONS``), checked together."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in overrides.items():
            kind, _, _ = OPTIONS[name]
            values[name] = kind(value)
        shaping = Shaping(**values)
        if shaping.min_cue_s > shaping.max_cue_s:
            raise InputError(f"min_cue_s ({shaping.min_cue_s:g}) is over max_cue_s ({shaping.max_cue_s:g})")
        return shaping


# Each option: its type and allowed range. Settings, job choices, the API, upload metadata
# and the CLI all check against this table.
OPTIONS: dict[str, tuple[type[int] | type[float], float, float]] = {
    "max_line_chars": (int, 10, 200),
    "max_lines": (int, 1, 4),
    "max_cue_s": (float, 1.0, 60.0),
    "min_cue_s": (float, 0.0, 10.0),
    "min_gap_s": (float, 0.0, 2.0),
    "srt_start_index": (int, 0, 1_000_000),
}


def parse_option(name: str, raw: object) -> int | float:
    """One shaping option from a string or number, within its range; ``InputError`` otherwise."""
    if name not in OPTIONS:
        raise InputError(f"unknown subtitle option {name!r}; choose from {', '.join(OPTIONS)}")
    kind, low, high = OPTIONS[name]
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise InputError(f"{name} must be a number from {low:g} to {high:g}")
    try:
        value: int | float = kind(raw.strip()) if isinstance(raw, str) else kind(raw)
    except (ValueError, OverflowError):
        raise InputError(f"{name} must be {'an integer' if kind is int else 'a number'}, not {raw!r}") from None
    if kind is int and isinstance(raw, float) and raw != value:
        raise InputError(f"{name} must be an integer, not {raw!r}")
    if not low <= value <= high:
        raise InputError(f"{name} must be from {low:g} to {high:g}, not {value:g}")
    return value


# Whisper keeps at most 223 tokens of a prompt (half its 448-token context); 800 characters
# of English is about 180 tokens. Hotwords share that budget.
MAX_PROMPT_CHARS = 800


MAX_HOTWORDS_CHARS = 400


MAX_REPLACEMENTS, MAX_REPLACEMENT_CHARS = 100, 100


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


_PUNCTUATION = string.punctuation + "“”‘’«»¿¡…。、，？！：；"


def check_text(name: str, value: object, limit: int) -> str:
    """``value`` as a prompt or hotwords string: at most ``limit`` characters, no control characters."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ", ".join(v.strip() for v in value if v.strip())
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise InputError(f"{name} is {len(value)} characters, over the limit of {limit}")
    if _CONTROL.search(value):
        raise InputError(f"{name} contains control characters")
    return value


def parse_replacements(raw: object) -> dict[str, str]:
    """Custom spellings ``{"heard as": "written as"}``, from an object or its JSON text."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise InputError('replacements must be a JSON object such as {"cube control": "kubectl"}') from None
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise InputError("replacements must be an object of strings")
    if len(raw) > MAX_REPLACEMENTS:
        raise InputError(f"replacements has {len(raw)} entries, over the limit of {MAX_REPLACEMENTS}")
    out: dict[str, str] = {}
    for heard, written in raw.items():
        if not _tokens(heard) or not written.strip():
            raise InputError("replacements: every entry needs words on both sides")
        if max(len(heard), len(written)) > MAX_REPLACEMENT_CHARS or _CONTROL.search(heard + written):
            raise InputError(f"replacements: entries are at most {MAX_REPLACEMENT_CHARS} characters of plain text")
        out[heard.strip()] = written.strip()
    return out


def _norm(word: str) -> str:
    return word.strip().strip(_PUNCTUATION).casefold()


def _tokens(phrase: str) -> tuple[str, ...]:
    return tuple(t for t in (_norm(p) for p in phrase.split()) if t)


MAX_EXPIRY_S = 7 * 24 * 3600


# An index (0–999) or a 2- or 3-letter language code: both fit in three characters ("":
# automatic; the OpenAPI document holds API bodies to the same pattern).
MAX_CHOICE_CHARS = 3


CHOICE_PATTERN = "^([0-9]{1,3}|[A-Za-z]{2,3})?$"


_CHOICE = re.compile(CHOICE_PATTERN)


CHOICE_WORDS = "an audio track's index among the audio tracks (0, 1, …) or a language code such as en, deu or ger"


def parse_choice(value: object, name: str = "audio_track") -> str:
    """A track choice as sent (a string, or a whole number from JSON) → its canonical form
    ("" for automatic). Raises ``InputError`` naming ``name`` unless it is an index or a
    language code."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InputError(f"{name}: {CHOICE_WORDS}")
    choice = value.strip().lower()
    if choice and (len(choice) > MAX_CHOICE_CHARS or not _CHOICE.match(choice)):
        shown = value if len(value) <= 20 else value[:20] + "…"
        raise InputError(f"{name}: {shown!r} is not {CHOICE_WORDS}")
    return str(int(choice)) if choice.isdigit() else choice
