"""ffmpeg as the tests run it to make media: the binary the imageio-ffmpeg package ships (one
locked build, whatever ffmpeg is on PATH: the files under test are the same everywhere, and
encoders a distribution leaves out, such as libopencore_amrnb, are there), quiet, overwriting,
never reading the terminal, and raising when it fails. kscribe itself still decodes them with
the ffmpeg it finds (kscribe/media/ffmpeg_bin.py)."""

from __future__ import annotations

import functools
import subprocess
from typing import Any

import imageio_ffmpeg


@functools.lru_cache(maxsize=1)
def media_ffmpeg() -> str:
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffmpeg(*args: str, timeout: float = 120, **run: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
        [media_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=timeout,
        **run,
    )
