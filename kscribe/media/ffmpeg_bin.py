"""Which ffmpeg to run: the one KSCRIBE_FFMPEG names (a path, or a command on PATH; settings
hands it in through ``use``), else ``ffmpeg`` on PATH, else the binary the imageio-ffmpeg
package ships. Any ffmpeg from 5 on serves: kscribe/media/decode.py reads only what every
build says."""

from __future__ import annotations

import functools
import shutil

from kscribe.errors import ConfigError

_named = ""


def use(name: str) -> None:
    """Run ``name`` from now on ("": find one as above). Raises ``ConfigError`` when ``name``
    is no executable, so a wrong KSCRIBE_FFMPEG stops the process at start, not a job."""
    global _named
    if name and shutil.which(name) is None:
        raise ConfigError(f"KSCRIBE_FFMPEG: {name!r} is not an executable (give a path, or a command on PATH)")
    if name != _named:
        _named = name
        ffmpeg_executable.cache_clear()


@functools.lru_cache(maxsize=1)
def ffmpeg_executable() -> str:
    found = shutil.which(_named or "ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())
