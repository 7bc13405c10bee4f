"""Reading a source's container: duration and audio streams, through PyAV.

The file is opened with the container whitelists (``containers``), and what it declares is
checked before anything is decoded: a header is cheap to forge, and a 40 KB WAV declaring a
1 Hz sample rate would otherwise expand to 640 MB of 16 kHz audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from kscribe.errors import ImplausibleAudio, NoAudioTrack, NotMedia, UnsupportedContainer
from kscribe.media import containers
from kscribe.media.limits import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, duration_words, too_long


@dataclass(frozen=True)
class MediaInfo:
    # 0.0 when the container does not say.
    duration_s: float
    format_name: str
    audio_streams: int
    audio_codec: str
    has_video: bool
    sample_rate: int = 0


def _unreadable(path: Path, exc: av.FFmpegError) -> NotMedia:
    kind = containers.sniff(path)
    if kind:
        return UnsupportedContainer(
            f"not an audio or video file: it is {kind}, which names other files; upload the recording itself"
        )
    if isinstance(exc, av.ArgumentError):
        # EINVAL at open: the bytes read as a demuxer that is not on the whitelist.
        return UnsupportedContainer(
            "not a readable audio or video file (its format is not one of the audio or video containers "
            "kscribe reads)"
        )
    return NotMedia(f"not a readable audio or video file ({exc.strerror or exc})")


def check_declared(info: MediaInfo, max_duration_s: float) -> None:
    """Raise unless what the container declares is something a recording could be."""
    if not MIN_SAMPLE_RATE <= info.sample_rate <= MAX_SAMPLE_RATE:
        raise ImplausibleAudio(
            f"the audio track's sample rate says {info.sample_rate} Hz; real recordings have "
            f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, so the file is damaged or not what it claims"
        )
    if info.duration_s > max_duration_s:
        raise too_long(max_duration_s, f"it says it lasts {duration_words(info.duration_s)}")


def probe(path: Path, max_duration_s: float = float("inf")) -> MediaInfo:
    """Describe the media at ``path``. Raises ``NotMedia`` (a subclass says why),
    ``NoAudioTrack`` or ``MediaTooLong``."""
    try:
        with av.open(containers.input_url(path), options=containers.input_options(),
                     metadata_errors="ignore") as container:
            audio = list(container.streams.audio)
            duration = (container.duration or 0) / av.time_base
            info = MediaInfo(
                duration_s=max(0.0, float(duration)),
                format_name=container.format.name,
                audio_streams=len(audio),
                audio_codec=audio[0].codec_context.name if audio else "",
                has_video=bool(container.streams.video),
                sample_rate=int(audio[0].codec_context.sample_rate or 0) if audio else 0,
            )
    except av.FFmpegError as exc:
        raise _unreadable(path, exc) from exc
    if not info.audio_streams:
        raise NoAudioTrack(f"the {info.format_name} file has no audio track to transcribe")
    check_declared(info, max_duration_s)
    return info
