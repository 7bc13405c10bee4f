"""How many duplicate storage notifications per second ingest absorbs, with a real Redis.
One notification creates the job; N more of the same object generation must create nothing.

    python bench/ingest_rate.py [N]
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from kscribe import events
from kscribe.pipeline.handlers import on_object_finalized
from kscribe.runtime import wiring
from kscribe.settings import Settings
from kscribe.state.redis import embedded

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "meeting.mp4"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "in" / "meeting.mp4"
        video.parent.mkdir()
        shutil.copyfile(SAMPLE, video)
        settings = Settings.from_env({"KSCRIBE_DATA_DIR": tmp})
        ctx = wiring.create_context(settings, client=embedded(Path(tmp) / "redis"), transcriber=object())
        data = {
            "bucket": str(video.parent),
            "name": video.name,
            "generation": str(video.stat().st_mtime_ns),
            "size": str(video.stat().st_size),
            "contentType": "video/mp4",
        }
        event = events.Event(events.OBJECT_FINALIZED, data, id="n")
        assert [e.type for e in on_object_finalized(event, ctx)] == [events.JOB_CREATED]
        started = time.perf_counter()
        produced = sum(len(on_object_finalized(event, ctx)) for _ in range(count))
        wall = time.perf_counter() - started
        jobs = sum(1 for _ in ctx.jobs.redis.scan_iter("kscribe:job:*"))
    print(
        json.dumps(
            {
                "duplicates": count,
                "wall_s": round(wall, 3),
                "per_second": round(count / wall),
                "events_produced": produced,
                "jobs": jobs,
            }
        )
    )


if __name__ == "__main__":
    main()
