"""Reading a source's container: duration and audio streams, through PyAV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from kscribe.errors import NoAudioTrack, NotMedia


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float
    format_name: str
    audio_streams: int
    audio_codec: str
    has_video: bool


def _is_text_or_still_image(format_name: str) -> bool:
    # libav reads a text file as "tty" (ANSI art) and a picture as a one-frame video; neither
    # is a recording, and "no audio track" would mislead.
    return format_name in ("tty", "image2") or format_name.endswith("_pipe")


def probe(path: Path) -> MediaInfo:
    """Describe the media at ``path``. Raises ``NotMedia`` or ``NoAudioTrack``."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            audio = list(container.streams.audio)
            duration = (container.duration or 0) / av.time_base
            info = MediaInfo(
                duration_s=float(duration),
                format_name=container.format.name,
                audio_streams=len(audio),
                audio_codec=audio[0].codec_context.name if audio else "",
                has_video=bool(container.streams.video),
            )
    except av.FFmpegError as exc:
        raise NotMedia(f"not a readable audio or video file ({exc.strerror or exc})") from exc
    if not info.audio_streams and _is_text_or_still_image(info.format_name):
        raise NotMedia(f"not a readable audio or video file (it reads as {info.format_name})")
    if not info.audio_streams:
        raise NoAudioTrack(f"the {info.format_name} file has no audio track to transcribe")
    return info
