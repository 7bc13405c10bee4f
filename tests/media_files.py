"""ffmpeg as the tests run it to make media: the bundled binary, quiet, overwriting, never
reading the terminal, and raising when it fails."""

from __future__ import annotations

import subprocess
from typing import Any

from kscribe.media.ffmpeg_bin import ffmpeg_executable


def ffmpeg(*args: str, timeout: float = 120, **run: Any) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=timeout,
        **run,
    )
