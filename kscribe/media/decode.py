"""One ffmpeg pass: the source's first audio track to 16 kHz mono PCM on disk, with the
silences found along the way.

ffmpeg writes straight to a file and we only read its stderr line by line, so memory stays
flat however long the source is. The silences come from ffmpeg's silencedetect filter in
the same pass, which spares a second read of the audio.
"""

from __future__ import annotations

import collections
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from kscribe.errors import MediaError
from kscribe.media.ffmpeg_bin import ffmpeg_executable

SAMPLE_RATE = 16_000
BYTES_PER_SAMPLE = 2  # s16le mono

_SILENCE_START = re.compile(r"silence_start: (-?[\d.]+)")
_SILENCE_END = re.compile(r"silence_end: (-?[\d.]+)")
_STDERR_TAIL_LINES = 15


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


def build_command(source: Path, dest: Path, threshold_db: float, min_silence_s: float) -> list[str]:
    stream = ffmpeg.input(str(source)).output(
        str(dest),
        map="0:a:0",
        vn=None, sn=None, dn=None,
        af=f"silencedetect=noise={threshold_db}dB:duration={min_silence_s}",
        ac=1, ar=SAMPLE_RATE, acodec="pcm_s16le", f="s16le",
    )
    return stream.global_args("-hide_banner", "-nostdin", "-nostats", "-loglevel", "info").overwrite_output().compile(
        cmd=ffmpeg_executable()
    )


def decode_audio(source: Path, dest: Path, *, threshold_db: float, min_silence_s: float,
                 timeout_s: float) -> DecodedAudio:
    """Decode ``source`` into raw PCM at ``dest``. Raises ``MediaError`` with the tail of
    ffmpeg's stderr if it fails or runs past ``timeout_s``."""
    command = build_command(source, dest, threshold_db, min_silence_s)
    tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
    silences: list[Silence] = []
    open_start: float | None = None
    timed_out = threading.Event()
    with subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, errors="replace") as process:

        def kill() -> None:
            timed_out.set()
            process.kill()

        watchdog = threading.Timer(timeout_s, kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            assert process.stderr is not None
            for line in process.stderr:
                if "silencedetect" in line:
                    if m := _SILENCE_START.search(line):
                        open_start = max(0.0, float(m.group(1)))
                    elif (m := _SILENCE_END.search(line)) and open_start is not None:
                        silences.append(Silence(open_start, float(m.group(1))))
                        open_start = None
                    continue
                tail.append(line.rstrip())
            returncode = process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
    stderr_tail = "\n".join(line for line in tail if line).strip()
    if timed_out.is_set():
        raise MediaError(f"ffmpeg timed out after {timeout_s:.0f} s", stderr_tail)
    if returncode != 0:
        raise MediaError(f"ffmpeg could not decode the audio (exit {returncode})", stderr_tail)
    samples = dest.stat().st_size // BYTES_PER_SAMPLE
    if samples == 0:
        raise MediaError("the audio track decoded to nothing", stderr_tail)
    if open_start is not None:
        # Audio that ends in silence: ffmpeg may not print the closing silence_end.
        silences.append(Silence(open_start, samples / SAMPLE_RATE))
    return DecodedAudio(path=dest, samples=samples, silences=tuple(silences))
