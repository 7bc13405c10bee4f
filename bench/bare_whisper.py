"""faster-whisper by hand, the way a user would call it: one model, one call on the whole
file, the same options kscribe uses by default. Writes a transcript JSON like kscribe's.

    python bench/bare_whisper.py VIDEO OUT.json [--model tiny.en]
"""

from __future__ import annotations

import argparse
import json
import time

from kscribe.asr.models import resolve_model
from kscribe.settings import Settings


def main() -> None:
    started = time.time()
    parser = argparse.ArgumentParser()
    parser.add_argument("video")
    parser.add_argument("out")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--batch-size", type=int, default=0)
    args = parser.parse_args()
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    defaults = Settings.from_env({"KSCRIBE_DATA_DIR": "/tmp/kscribe-bench"})
    model = WhisperModel(
        str(resolve_model(args.model, defaults.model_cache_dir)), device=args.device, compute_type=args.compute_type
    )
    options = dict(
        language=defaults.language,
        task=defaults.task,
        beam_size=defaults.beam_size,
        vad_filter=defaults.vad_filter,
        word_timestamps=defaults.word_timestamps,
        condition_on_previous_text=defaults.condition_on_previous_text,
    )
    if args.batch_size:
        segments, info = BatchedInferencePipeline(model=model).transcribe(
            args.video, batch_size=args.batch_size, **options
        )
    else:
        segments, info = model.transcribe(args.video, **options)
    out = [
        {
            "start": s.start,
            "end": s.end,
            "text": s.text,
            "words": [{"start": w.start, "end": w.end, "word": w.word} for w in s.words or ()],
        }
        for s in segments
    ]
    json.dump(
        {
            "language": info.language,
            "duration": info.duration,
            "segments": out,
            "text": " ".join(s["text"].strip() for s in out),
            "started_at": started,
            "wall_s": time.time() - started,
        },
        open(args.out, "w"),
    )


if __name__ == "__main__":
    main()
