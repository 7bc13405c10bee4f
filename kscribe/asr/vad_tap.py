"""The speech pieces faster-whisper's own Silero VAD found, kept for the coverage check.

faster-whisper runs VAD inside ``transcribe`` and does not return what it found. Running VAD
again to learn it cost as much as the first run (4.8 CPU s per 35 minutes of audio, 7 % of a
job's time, ``bench/lossless.py``); instead faster-whisper's ``get_speech_timestamps`` is
wrapped, once per process, to note each call's result in the calling thread. The pieces
checked are then exactly the ones decoded. Where the wrapping cannot be installed (another
faster-whisper), ``heard`` says so and the caller runs VAD itself.
"""

from __future__ import annotations

import threading
from typing import Any

_local = threading.local()
_lock = threading.Lock()


def install() -> bool:
    """Wrap faster-whisper's VAD entry point (idempotent); False where it is not there."""
    import faster_whisper.transcribe as fw

    with _lock:
        original = getattr(fw, "get_speech_timestamps", None)
        if original is None:
            return False
        if getattr(original, "kscribe_notes", False):
            return True

        def noted(audio: Any, *args: Any, **kwargs: Any) -> Any:
            found = original(audio, *args, **kwargs)
            if getattr(_local, "listening", False):
                _local.found = [dict(p) for p in found]
            return found

        noted.kscribe_notes = True  # type: ignore[attr-defined]
        fw.get_speech_timestamps = noted
        return True


def listen() -> bool:
    """Forget what this thread heard; note the next VAD run. False if it cannot be noted."""
    _local.found = None
    _local.listening = install()
    return bool(_local.listening)


def heard(sample_rate: int) -> list[tuple[float, float]] | None:
    """The speech pieces (seconds) of this thread's last VAD run since ``listen``, or None
    when VAD did not run (or could not be noted)."""
    _local.listening = False
    found = getattr(_local, "found", None)
    if found is None:
        return None
    return [(round(p["start"] / sample_rate, 3), round(p["end"] / sample_rate, 3)) for p in found]
