"""Reading a source's container: duration and audio streams, through PyAV.

The file is opened with the container whitelists (``containers``), and what it declares is
checked before anything is decoded: a header is cheap to forge, and a 40 KB WAV declaring a
1 Hz sample rate would otherwise expand to 640 MB of 16 kHz audio.

Every way the container can fail to read is an ``InputError``: anything else would be taken
for a transient fault and retried (a damaged file fails the same way every time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av

from kscribe.errors import (
    ImplausibleAudio,
    NoAudioTrack,
    NotMedia,
    TooManyChannels,
    UnsupportedCodec,
    UnsupportedContainer,
)
from kscribe.media import containers
from kscribe.media.limits import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, duration_words, too_long

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaInfo:
    # 0.0 when the container does not say.
    duration_s: float
    format_name: str
    audio_streams: int
    audio_codec: str
    has_video: bool
    sample_rate: int = 0
    # Of the first audio track, the one decode reads; 0 when the container does not say.
    channels: int = 0
    channel_layout: str = ""


def _unreadable(path: Path, exc: av.FFmpegError) -> NotMedia:
    kind = containers.sniff(path)
    if kind:
        return UnsupportedContainer(
            f"not an audio or video file: it is {kind}, which names other files; upload the recording itself"
        )
    if isinstance(exc, av.ArgumentError):
        # EINVAL at open: the bytes read as a demuxer that is not on the whitelist.
        return UnsupportedContainer(
            "not a readable audio or video file (its format is not one of the audio or video containers kscribe reads)"
        )
    return NotMedia("not a readable audio or video file (it is damaged, or not audio or video at all)")


def check_declared(info: MediaInfo, max_duration_s: float) -> None:
    """Raise unless what the container declares is something a recording could be."""
    if not MIN_SAMPLE_RATE <= info.sample_rate <= MAX_SAMPLE_RATE:
        raise ImplausibleAudio(
            f"the audio track's sample rate says {info.sample_rate} Hz; real recordings have "
            f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, so the file is damaged or not what it claims"
        )
    if info.channels > MAX_CHANNELS:
        raise TooManyChannels(
            f"the audio track has {info.channels} channels; kscribe mixes at most {MAX_CHANNELS} down to one"
        )
    if info.duration_s > max_duration_s:
        raise too_long(max_duration_s, f"it says it lasts {duration_words(info.duration_s)}")


def _read(path: Path) -> MediaInfo:
    with av.open(containers.input_url(path), options=containers.input_options(), metadata_errors="ignore") as container:
        audio = list(container.streams.audio)
        # A stream whose codec id is unknown (or damaged) has no codec context at all.
        first = audio[0].codec_context if audio else None
        if audio and first is None:
            raise UnsupportedCodec(
                "the audio track is in a format kscribe cannot decode (or the file is damaged "
                "where it names the format)"
            )
        duration = (container.duration or 0) / av.time_base
        return MediaInfo(
            duration_s=max(0.0, float(duration)),
            format_name=container.format.name,
            audio_streams=len(audio),
            audio_codec=first.name if first else "",
            has_video=bool(container.streams.video),
            sample_rate=int(first.sample_rate or 0) if first else 0,
            channels=int(first.channels or 0) if first else 0,
            channel_layout=(first.layout.name if first and first.layout else ""),
        )


def probe(path: Path, max_duration_s: float = float("inf")) -> MediaInfo:
    """Describe the media at ``path``. Raises ``NotMedia`` (a subclass says why),
    ``NoAudioTrack`` or ``MediaTooLong``; never anything else for what the file holds."""
    try:
        info = _read(path)
    except av.FFmpegError as exc:
        log.info("probe: libavformat refused %s: %s", path, exc)
        raise _unreadable(path, exc) from exc
    except NotMedia:
        raise
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:
        # PyAV raises plain Python errors on some damaged containers (a stream without a
        # codec context, a field out of range); the same bytes fail the same way on every
        # retry, so this is the file's fault, not the world's. The trace goes to the log.
        log.warning("probe: could not read the container of %s", path, exc_info=True)
        raise NotMedia("not a readable audio or video file (its container is damaged)") from exc
    if not info.audio_streams:
        raise NoAudioTrack("the file has no audio track to transcribe")
    check_declared(info, max_duration_s)
    return info


def audio_channels(path: Path) -> int:
    """How many channels the first audio track has (0 when unknown or unreadable): what
    decode needs to mix them all, for callers that did not probe."""
    try:
        return _read(path).channels
    except Exception:
        return 0
