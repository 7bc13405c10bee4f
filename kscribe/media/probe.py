"""Reading a source's container: duration and audio tracks, through PyAV, and which track
the job transcribes (``tracks.choose``).

The file is opened with the container whitelists (``containers``), and what it declares is
checked before anything is decoded: a header is cheap to forge, and a 40 KB WAV declaring a
1 Hz sample rate would otherwise expand to 640 MB of 16 kHz audio.

Every way the container can fail to read is an ``InputError``: anything else would be taken
for a transient fault and retried (a damaged file fails the same way every time).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
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
from kscribe.media.tracks import AudioTrack, choose, clean_tag

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
    # Of the chosen audio track (``track``), the one decode reads; 0 when the container
    # does not say.
    channels: int = 0
    channel_layout: str = ""
    tracks: tuple[AudioTrack, ...] = ()
    track: AudioTrack = field(default_factory=lambda: AudioTrack(0))


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


def _track(index: int, stream: av.audio.AudioStream) -> AudioTrack:
    # A stream whose codec id is unknown (or damaged) has no codec context at all.
    codec = stream.codec_context
    return AudioTrack(
        index=index,
        codec=codec.name if codec else "",
        language=clean_tag(str(stream.metadata.get("language") or "")),
        default=bool(stream.disposition & av.stream.Disposition.default),
        channels=int(codec.channels or 0) if codec else 0,
        sample_rate=int(codec.sample_rate or 0) if codec else 0,
        channel_layout=(codec.layout.name if codec and codec.layout else ""),
    )


def _read(path: Path) -> tuple[float, str, tuple[AudioTrack, ...], bool]:
    """Duration (0.0 unknown), container format, audio tracks, whether there is video."""
    with av.open(containers.input_url(path), options=containers.input_options(), metadata_errors="ignore") as container:
        tracks = tuple(_track(i, s) for i, s in enumerate(container.streams.audio))
        duration = (container.duration or 0) / av.time_base
        return max(0.0, float(duration)), container.format.name, tracks, bool(container.streams.video)


def probe(path: Path, max_duration_s: float = float("inf"), audio_track: str = "") -> MediaInfo:
    """Describe the media at ``path``, and the audio track ``audio_track`` (a choice from
    ``tracks.parse_choice``; "" the default track) names. Raises ``NotMedia`` (a subclass
    says why), ``NoAudioTrack``, ``NoSuchAudioTrack`` or ``MediaTooLong``; never anything
    else for what the file holds."""
    try:
        duration, format_name, tracks, has_video = _read(path)
    except av.FFmpegError as exc:
        log.info("probe: libavformat refused %s: %s", path, exc)
        raise _unreadable(path, exc) from exc
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:
        # PyAV raises plain Python errors on some damaged containers (a field out of range);
        # the same bytes fail the same way on every retry, so this is the file's fault, not
        # the world's. The trace goes to the log.
        log.warning("probe: could not read the container of %s", path, exc_info=True)
        raise NotMedia("not a readable audio or video file (its container is damaged)") from exc
    if not tracks:
        raise NoAudioTrack("the file has no audio track to transcribe")
    track = choose(tracks, audio_track)
    if not track.codec:
        raise UnsupportedCodec(
            "the audio track is in a format kscribe cannot decode (or the file is damaged where it names the format)"
        )
    info = MediaInfo(
        duration_s=duration,
        format_name=format_name,
        audio_streams=len(tracks),
        audio_codec=track.codec,
        has_video=has_video,
        sample_rate=track.sample_rate,
        channels=track.channels,
        channel_layout=track.channel_layout,
        tracks=tracks,
        track=track,
    )
    check_declared(info, max_duration_s)
    return info


def audio_channels(path: Path, track: int = 0) -> int:
    """How many channels the audio track ``track`` has (0 when unknown or unreadable): what
    decode needs to mix them all, for callers that did not probe."""
    try:
        tracks = _read(path)[2]
        return tracks[track].channels if track < len(tracks) else 0
    except Exception:
        return 0
