"""What libavformat may open for us: the one uploaded file, read by a real media demuxer.

An upload is hostile until proven otherwise. Left to itself libavformat picks a demuxer by
sniffing the bytes, and some demuxers read *other* files: an HLS playlist (``#EXTM3U``) or
a concat script (``ffconcat``) names local paths or URLs and libavformat opens them, so an
upload — even one named ``.mp4`` — could make us transcribe a file on the worker's disk.
Both ffmpeg (decode) and PyAV (probe) open inputs with these two whitelists; nested opens
inherit the protocol whitelist, and a demuxer not listed fails at open with EINVAL.
"""

from __future__ import annotations

from pathlib import Path

# Only local files: no http, data:, concat:, subfile, pipe... URL protocols.
PROTOCOLS = ("file",)

# The containers behind settings.MEDIA_EXTENSIONS, plus the audio files phones and recorders
# write. libavformat matches each name against the comma-separated parts of a demuxer's
# name, so "mov" admits "mov,mp4,m4a,3gp,3g2,mj2" and "matroska" admits "matroska,webm".
# Left out on purpose: hls, dash, concat (read other files), image2/tty/data and raw video
# (read any bytes as "media"), and every niche game or tracker format nobody uploads.
DEMUXERS = (
    "mov",  # mp4 m4a m4v mov 3gp (external data references stay off: enable_drefs=0)
    "matroska",  # mkv webm
    "avi",
    "flv",
    "mpegts",  # ts m2ts mts
    "mpeg",  # mpeg mpg (program stream)
    "mxf",
    "asf",  # wma wmv
    "ogg",  # ogg oga ogv opus
    "mp3",
    "aac",  # raw ADTS
    "wav",
    "w64",
    "flac",
    "aiff",
    "caf",
    "amr",
)

PROTOCOL_WHITELIST = ",".join(PROTOCOLS)
FORMAT_WHITELIST = ",".join(DEMUXERS)

# First bytes of the inputs the whitelist exists for, to say what was refused.
_SIGNATURES = {
    b"#EXTM3U": "an HLS playlist (m3u8)",
    b"ffconcat": "an ffmpeg concat script",
}


def input_options() -> dict[str, str]:
    """libavformat options for opening an upload (ffmpeg ``-opt value`` before ``-i``, or
    PyAV's ``av.open(..., options=...)``)."""
    return {"protocol_whitelist": PROTOCOL_WHITELIST, "format_whitelist": FORMAT_WHITELIST}


def input_url(path: Path) -> str:
    """``path`` as a ``file:`` URL: a name like ``concat:a|b`` or ``http:x`` stays a file name."""
    return "file:" + str(Path(path).absolute())


def sniff(path: Path) -> str:
    """What the file looks like when it is one of the refused kinds, else ""; only to word
    an error (the whitelist, not this, is what keeps such files out)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return ""
    for signature, kind in _SIGNATURES.items():
        if head.startswith(signature):
            return kind
    return ""


# What a browser is told a source is, from the container libavformat read it as (the first
# name of the demuxer's list) and whether it holds video: a fixed list of media types, never
# the type an uploader declared. Whatever is not listed is served as a download.
_AUDIO_TYPES = {
    "mov": "audio/mp4",
    "matroska": "audio/webm",
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "wav": "audio/wav",
    "flac": "audio/flac",
}
_VIDEO_TYPES = {"mov": "video/mp4", "matroska": "video/webm", "ogg": "video/ogg"}
# The same for a source not probed yet, by the extension of its object's name.
_BY_EXTENSION = {
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "mov": "video/mp4",
    "m4a": "audio/mp4",
    "webm": "video/webm",
    "mkv": "video/webm",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "ogv": "video/ogg",
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "wav": "audio/wav",
    "flac": "audio/flac",
}
SAFE_FALLBACK = "application/octet-stream"


def media_type(format_name: str, has_video: bool) -> str:
    """The media type of a probed container (``format_name`` as libavformat names it)."""
    first = format_name.split(",", 1)[0].strip()
    found = (_VIDEO_TYPES if has_video else _AUDIO_TYPES).get(first)
    return found or SAFE_FALLBACK


def media_type_of_name(name: str) -> str:
    """The media type for an object not probed yet, by its name's extension."""
    ext = name.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    return _BY_EXTENSION.get(ext, SAFE_FALLBACK)
