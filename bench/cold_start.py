"""Cold start of a transcribe worker: process start → model ready → first segment.
Pass the parent's launch time (time.time()) so interpreter start-up is counted. Prints JSON.

    python bench/cold_start.py LAUNCHED_AT SAMPLE
"""

from __future__ import annotations

import json
import sys
import time

from kscribe.asr.whisper import options_from_settings


def main() -> None:
    launched = float(sys.argv[1])
    imported_at = time.time()
    from pathlib import Path

    from kscribe.asr.whisper import WhisperTranscriber
    from kscribe.media.wav import read_wav  # noqa: F401 - part of a worker's start
    from kscribe.settings import Settings

    settings = Settings.from_env({"KSCRIBE_DATA_DIR": "/tmp/kscribe-bench"})
    transcriber = WhisperTranscriber(settings.model_cache_dir)
    options = options_from_settings(settings)
    transcriber.load(options)
    ready_at = time.time()
    import subprocess

    import numpy as np

    from kscribe.media.ffmpeg_bin import ffmpeg_executable

    pcm = subprocess.run(
        [ffmpeg_executable(), "-v", "error", "-i", sys.argv[2], "-f", "s16le", "-ac", "1", "-ar", "16000", "-"],
        capture_output=True,
        check=True,
    ).stdout
    audio = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    first = []

    class FirstSegment(Exception):
        pass

    def stop(_done_s: float, _segment: object = None) -> None:
        raise FirstSegment  # the lazy generator yielded its first segment: stop there

    try:
        transcriber.transcribe(audio, options, on_progress=stop)
    except FirstSegment:
        pass
    first.append(time.time())
    print(
        json.dumps(
            {
                "interpreter_s": round(imported_at - launched, 3),
                "model_ready_s": round(ready_at - launched, 3),
                "first_segment_s": round(first[0] - launched, 3),
                "sample": Path(sys.argv[2]).name,
            }
        )
    )


if __name__ == "__main__":
    main()
