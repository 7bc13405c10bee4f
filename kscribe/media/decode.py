"""One ffmpeg pass: one of the source's audio tracks (the job's choice, ``tracks``) to 16 kHz
mono PCM on disk, with the silences found along the way.

ffmpeg writes straight to a file and we only read its stderr line by line, so memory stays
flat however long the source is. The silences come from ffmpeg's silencedetect filter in
the same pass, which spares a second read of the audio.

The input is opened with the container whitelists (``containers``), and a watchdog trusts
nothing the file says: ffmpeg is killed past its wall-time limit or once the decoded audio
on disk outgrows the longest recording allowed (``-fs`` caps the file as well, in case the
watchdog's poll comes late).

Every failure is a ``MediaError`` (an ``InputError``) whose message is a plain sentence for
the job's owner; what ffmpeg said, with the worker's paths in it, goes to the log.

A track of more than two channels is mixed down with ``pan``, every channel at equal gain:
ffmpeg's default downmix refuses a layout it does not know (a 48-channel WAV, or six channels
without a channel mask), and where it knows one it drops the LFE channel and weights the
rest, so a voice on channel 30 of a multitrack recorder, or on a mislabelled "LFE", is lost.
Summed at unit gain, a voice on one channel of many keeps its level (an average would put it
33 dB down on 48 channels, under the silence threshold); a limiter after the sum keeps
channels that carry the same signal from clipping, and is transparent below its ceiling.

A job that asks for its channels apart (``decode_channels``) gets each channel as a stream of
its own from the same single pass: ``asplit`` copies the track, ``pan`` picks one channel of
each copy (it takes any layout, known or not), and each copy has a silencedetect whose findings
``ametadata`` writes to a small file beside the channel's audio. (Not stderr: ffmpeg before 6
names every silencedetect alike in its log, so the lines could not say whose silence they
report.)

Any ffmpeg from 5 on serves: the one on PATH, or the one KSCRIBE_FFMPEG names
(``ffmpeg_bin``). Where builds differ in what they say, kscribe reads what they all say:
ffmpeg 5 exits 0 after "No space left on device" on its output, so that line alone means
the scratch disk is full.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from kscribe.errors import EmptyAudioTrack, MediaError, MediaTooLong, ScratchFull
from kscribe.media import containers
from kscribe.media.ffmpeg_bin import ffmpeg_executable
from kscribe.media.limits import limit_words, max_decoded_bytes, too_long
from kscribe.media.probe import audio_channels

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
BYTES_PER_SAMPLE = 2  # s16le mono

_SILENCE_START = re.compile(r"silence_start: (-?[\d.]+)")
_SILENCE_END = re.compile(r"silence_end: (-?[\d.]+)")
_STDERR_TAIL_LINES = 15
# How often the watchdog looks at the clock and the output's size. At a few thousand times
# real time, ffmpeg writes some 10 MB between two looks; -fs bounds the file exactly.
_WATCH_INTERVAL_S = 0.05


@dataclass(frozen=True)
class Silence:
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class DecodedAudio:
    path: Path
    samples: int
    silences: tuple[Silence, ...]

    @property
    def duration_s(self) -> float:
        return self.samples / SAMPLE_RATE


def downmix_filter(channels: int) -> str:
    """Filters that mix ``channels`` channels into one at equal gain ("" for mono and
    stereo, which ffmpeg's default downmix already averages)."""
    if channels <= 2:
        return ""
    every = "+".join(f"c{i}" for i in range(channels))
    # Float before pan so the sum cannot wrap; latency=1 keeps the limiter's look-ahead from
    # shifting the audio against the video's clock.
    return f"aformat=sample_fmts=flt,pan=mono|c0={every},alimiter=limit=0.9:level=0:latency=1"


def build_command(
    source: Path,
    dest: Path,
    threshold_db: float,
    min_silence_s: float,
    max_bytes: int | None = None,
    channels: int = 0,
    track: int = 0,
) -> list[str]:
    limit = {} if max_bytes is None else {"fs": max_bytes + BYTES_PER_SAMPLE}
    filters = [
        f for f in (downmix_filter(channels), f"silencedetect=noise={threshold_db}dB:duration={min_silence_s}") if f
    ]
    stream = ffmpeg.input(containers.input_url(source), **containers.input_options()).output(
        str(dest),
        map=f"0:a:{track}",
        vn=None,
        sn=None,
        dn=None,
        af=",".join(filters),
        ac=1,
        ar=SAMPLE_RATE,
        acodec="pcm_s16le",
        f="s16le",
        **limit,
    )
    args: list[str] = (
        stream.global_args("-hide_banner", "-nostdin", "-nostats", "-loglevel", "info")
        .overwrite_output()
        .compile(cmd=ffmpeg_executable())
    )
    return args


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class _Watchdog:
    """Kills ``process`` at ``timeout_s`` or once ``dest`` holds more than ``max_bytes``;
    ``verdict`` then says which ("timeout" or "too_long")."""

    def __init__(self, process: subprocess.Popen[str], dest: Path, timeout_s: float, max_bytes: int | None):
        self.verdict = ""
        self._process = process
        self._dest = dest
        self._deadline = time.monotonic() + timeout_s
        self._max_bytes = max_bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ffmpeg-watchdog", daemon=True)

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(max(0.0, min(_WATCH_INTERVAL_S, self._deadline - time.monotonic()))):
            if time.monotonic() >= self._deadline:
                self._kill("timeout")
            elif self._max_bytes is not None and _size(self._dest) > self._max_bytes:
                self._kill("too_long")
            if self.verdict:
                return

    def _kill(self, verdict: str) -> None:
        self.verdict = verdict
        self._process.kill()


def split_command(
    source: Path,
    dests: list[Path],
    channels: list[int],
    threshold_db: float,
    min_silence_s: float,
    max_bytes: int | None = None,
    track: int = 0,
) -> list[str]:
    """One ffmpeg pass writing channel ``channels[i]`` (1-based) of audio track ``track`` to
    ``dests[i]`` as 16 kHz mono PCM, each with its own silencedetect, whose findings go to
    ``silence_file(dests[i])``."""
    split = f"[0:a:{track}]asplit={len(channels)}" + "".join(f"[s{n}]" for n in channels)
    chains = [
        f"[s{n}]pan=mono|c0=c{n - 1},silencedetect=noise={threshold_db}dB:duration={min_silence_s},"
        f"ametadata=mode=print:file={_graph_escaped(str(silence_file(dest)))}[o{n}]"
        for n, dest in zip(channels, dests, strict=True)
    ]
    args = [ffmpeg_executable(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-y"]
    for name, value in containers.input_options().items():
        args += [f"-{name}", value]
    args += ["-i", containers.input_url(source), "-filter_complex", ";".join([split, *chains])]
    limit = [] if max_bytes is None else ["-fs", str(max_bytes + BYTES_PER_SAMPLE)]
    for n, dest in zip(channels, dests, strict=True):
        args += ["-map", f"[o{n}]", "-ac", "1", "-ar", str(SAMPLE_RATE), "-acodec", "pcm_s16le", "-f", "s16le"]
        args += [*limit, str(dest)]
    return args


def silence_file(dest: Path) -> Path:
    """Where a split decode writes the silences of the channel it decodes to ``dest``."""
    return dest.with_name(dest.name + ".silences")


def _graph_escaped(value: str) -> str:
    """``value`` as one option value inside a -filter_complex graph: escaped for the option
    (\\ ' :), then for the graph (\\ ' [ ] , ;), as ffmpeg's filter syntax reads it."""
    for level in ("\\':", "\\'[],;"):
        value = "".join("\\" + c if c in level else c for c in value)
    return value


_METADATA_START = re.compile(r"^lavfi\.silence_start=(-?[\d.]+)")
_METADATA_END = re.compile(r"^lavfi\.silence_end=(-?[\d.]+)")


def _read_silence_file(path: Path) -> tuple[list[Silence], float | None]:
    """The silences ``ametadata`` printed to ``path``, and the one still open at the end."""
    silences: list[Silence] = []
    open_start: float | None = None
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:  # no frame reached the filter: no audio, no silence
        return silences, None
    for line in lines:
        if m := _METADATA_START.match(line):
            open_start = max(0.0, float(m.group(1)))
        elif (m := _METADATA_END.match(line)) and open_start is not None:
            silences.append(Silence(open_start, float(m.group(1))))
            open_start = None
    return silences, open_start


# What ffmpeg says (strerror of ENOSPC) when its output cannot be written.
_NO_SPACE = "No space left on device"


def _disk_full(path: Path) -> bool:
    """Whether the file system ``path`` is written to has no room left (ffmpeg may exit
    without saying why, e.g. when the write error lands in a muxer's trailer)."""
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 64 * 1024


def _run(
    command: list[str], source: Path, watched: Path, timeout_s: float, max_bytes: int | None, max_duration_s: float
) -> tuple[list[Silence], float | None]:
    """Run an ffmpeg decode, watched; the silences its log reported, and the one still open
    at the end. Raises what ``decode_audio`` documents, but for an empty track."""
    tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
    silences: list[Silence] = []
    open_start: float | None = None
    no_space = False
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    ) as process:
        try:
            with _Watchdog(process, watched, timeout_s, max_bytes) as watchdog:
                assert process.stderr is not None
                for line in process.stderr:
                    if "silencedetect" in line:
                        if m := _SILENCE_START.search(line):
                            open_start = max(0.0, float(m.group(1)))
                        elif (m := _SILENCE_END.search(line)) and open_start is not None:
                            silences.append(Silence(open_start, float(m.group(1))))
                            open_start = None
                        continue
                    no_space = no_space or _NO_SPACE in line
                    tail.append(line.rstrip())
                returncode = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
    stderr_tail = "\n".join(line for line in tail if line).strip()
    size = _size(watched)
    if watchdog.verdict == "too_long" or (max_bytes is not None and size > max_bytes):
        raise too_long(max_duration_s, "decoding stopped there")
    if watchdog.verdict == "timeout":
        log.warning("ffmpeg on %s stopped at its %.0f s time limit; it said: %s", source, timeout_s, stderr_tail)
        raise MediaError(
            f"decoding the audio took longer than the {limit_words(max(1, round(timeout_s)))} limit "
            "(the file may be damaged)",
            stderr_tail,
        )
    # ffmpeg 5 exits 0 when its output could not be written: the line is what tells.
    if no_space or (returncode != 0 and _disk_full(watched)):
        log.error("ffmpeg ran out of scratch space on %s (exit %d): %s", source, returncode, stderr_tail)
        raise ScratchFull(f"the worker's scratch disk is full ({_NO_SPACE}); the decode will be retried")
    if returncode != 0:
        log.warning("ffmpeg failed on %s (exit %d): %s", source, returncode, stderr_tail)
        raise MediaError(
            "the audio could not be decoded (the file is damaged, or its audio is in a format kscribe cannot read)",
            stderr_tail,
        )
    return silences, open_start


def _decoded(dest: Path, silences: list[Silence], open_start: float | None) -> DecodedAudio:
    samples = _size(dest) // BYTES_PER_SAMPLE
    if open_start is not None:
        # Audio that ends in silence: ffmpeg may not print the closing silence_end.
        silences = [*silences, Silence(open_start, samples / SAMPLE_RATE)]
    return DecodedAudio(path=dest, samples=samples, silences=tuple(silences))


def _empty(source: Path) -> EmptyAudioTrack:
    log.warning("ffmpeg decoded no audio from %s", source)
    return EmptyAudioTrack(
        "the audio track is empty: it holds no sound (or the file is cut off before its first sound)"
    )


def decode_audio(
    source: Path,
    dest: Path,
    *,
    threshold_db: float,
    min_silence_s: float,
    timeout_s: float,
    max_duration_s: float = math.inf,
    channels: int | None = None,
    track: int = 0,
) -> DecodedAudio:
    """Decode ``source``'s audio track ``track`` (its index among the audio tracks, as
    ``probe`` chose it) into 16 kHz mono PCM at ``dest``, every channel mixed in
    (``channels``: the track's channel count from ``probe``; looked up when None).

    Raises ``MediaError`` (a plain reason; ffmpeg's stderr tail in ``stderr_tail`` and the
    log) if ffmpeg fails or runs past ``timeout_s``, ``EmptyAudioTrack`` if the track holds
    no sound, and ``MediaTooLong`` if the audio runs past ``max_duration_s`` (ffmpeg is
    stopped there, whatever the file said)."""
    if channels is None:
        channels = audio_channels(source, track)
    max_bytes = max_decoded_bytes(max_duration_s, SAMPLE_RATE, BYTES_PER_SAMPLE)
    command = build_command(source, dest, threshold_db, min_silence_s, max_bytes, channels, track)
    try:
        silences, open_start = _run(command, source, dest, timeout_s, max_bytes, max_duration_s)
    except MediaTooLong:
        dest.unlink(missing_ok=True)  # up to max_bytes of scratch disk: free it now
        raise
    audio = _decoded(dest, silences, open_start)
    if audio.samples == 0:
        raise _empty(source)
    return audio


def decode_channels(
    source: Path,
    dests: list[Path],
    channels: list[int],
    *,
    threshold_db: float,
    min_silence_s: float,
    timeout_s: float,
    max_duration_s: float = math.inf,
    track: int = 0,
) -> list[DecodedAudio]:
    """Decode channels ``channels`` (1-based) of ``source``'s audio track ``track``, each into
    16 kHz mono PCM at the matching ``dests`` path, in one ffmpeg pass (the source is read
    once, and memory stays flat as for ``decode_audio``). Raises as ``decode_audio`` does;
    the limits hold for each channel's audio."""
    max_bytes = max_decoded_bytes(max_duration_s, SAMPLE_RATE, BYTES_PER_SAMPLE)
    command = split_command(source, dests, channels, threshold_db, min_silence_s, max_bytes, track)
    try:
        # Every output grows at the same pace: watching the first watches them all.
        _run(command, source, dests[0], timeout_s, max_bytes, max_duration_s)
        decoded = [_decoded(dest, *_read_silence_file(silence_file(dest))) for dest in dests]
    except MediaTooLong:
        for dest in dests:
            dest.unlink(missing_ok=True)
        raise
    finally:
        for dest in dests:
            silence_file(dest).unlink(missing_ok=True)
    if decoded[0].samples == 0:
        raise _empty(source)
    return decoded
