"""Storage notifications decoded into ``ObjectNotice`` values, and the job choices they carry."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from kscribe.errors import InputError
from kscribe.media.tracks import parse_choice
from kscribe.storage import BlobInfo, join
from kscribe.transcript.subtitles import Shaping, parse_option
from kscribe.transcript.vocabulary import MAX_HOTWORDS_CHARS, MAX_PROMPT_CHARS, check_text, parse_replacements
from kscribe.values import CHANNEL_MODES, ObjectNotice

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
# Set by kscribe on everything it writes, so its own objects never become jobs.
META_ROLE = "kscribe-role"


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
    formats: str | None = None
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
            formats=metadata.get(META_FORMATS) or None,
            callback_url=metadata.get(META_CALLBACK) or None,
            metadata={k: v for k, v in metadata.items() if not k.startswith("kscribe-")},
        )
        try:
            return dataclasses.replace(
                base,
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
        except InputError as exc:
            return dataclasses.replace(base, invalid=str(exc))

    def to_metadata(self) -> dict[str, str]:
        """These choices as the object metadata ``from_metadata`` reads back (`kscribe
        submit` steers its uploads' jobs with it)."""
        by_option = {option: key for key, option in META_SUBTITLES.items()}
        pairs = {
            META_MODEL: self.model,
            META_LANGUAGE: self.language,
            META_TASK: self.task,
            META_FORMATS: self.formats,
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


def notice_from_storage_object(data: dict[str, Any]) -> ObjectNotice:
    """Decode GCS's object resource (the data of an ``object.v1.finalized`` event).

    For the local backend a ``bucket`` that is an absolute directory path plays the bucket.
    """
    try:
        bucket, name = str(data["bucket"]), str(data["name"])
    except KeyError as exc:
        raise ValueError(f"storage notification without {exc.args[0]!r}") from None
    uri = join(bucket, name) if bucket.startswith("/") else f"gs://{bucket}/{name}"
    return ObjectNotice(
        uri=uri,
        generation=str(data.get("generation") or "0"),
        size=int(data.get("size") or 0),
        content_type=str(data.get("contentType") or ""),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


def notice_of(info: BlobInfo) -> ObjectNotice:
    """The object as storage describes it now."""
    return ObjectNotice(
        uri=info.uri,
        generation=info.generation,
        size=info.size,
        content_type=info.content_type,
        metadata=info.metadata,
    )


def storage_object(bucket: str, name: str, info: BlobInfo) -> dict[str, Any]:
    """GCS's object resource for ``info``, as an ``object.v1.finalized`` event carries it
    (what ``notice_from_storage_object`` reads)."""
    return {
        "bucket": bucket,
        "name": name,
        "generation": info.generation,
        "size": str(info.size),
        "contentType": info.content_type,
        "metadata": info.metadata,
    }


def notice_from_pubsub_message(message: dict[str, Any]) -> ObjectNotice | None:
    """Decode a GCS notification delivered through Pub/Sub (a push envelope's ``message``).

    Returns None for notifications other than OBJECT_FINALIZE (deletes, metadata updates).
    """
    attributes = message.get("attributes") or {}
    if attributes.get("eventType", "OBJECT_FINALIZE") != "OBJECT_FINALIZE":
        return None
    try:
        payload = json.loads(base64.b64decode(message.get("data") or ""))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"Pub/Sub message data is not a JSON object resource: {exc}") from None
    if not isinstance(payload, dict):
        raise ValueError("Pub/Sub message data is not a JSON object resource")
    payload.setdefault("bucket", attributes.get("bucketId"))
    payload.setdefault("name", attributes.get("objectId"))
    payload.setdefault("generation", attributes.get("objectGeneration"))
    return notice_from_storage_object(payload)
