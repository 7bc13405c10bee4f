"""The extract stage alone on one video, in its own process: wall time and peak memory of
the stage (this process) and of ffmpeg (its child). Prints one JSON object.

    python bench/extract_stage.py VIDEO
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from kscribe.context import Context
from kscribe.embedded_redis import embedded
from kscribe.runner import LocalPipeline
from kscribe.settings import Settings
from kscribe.stages import extract


def main() -> None:
    video = Path(sys.argv[1]).absolute()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"KSCRIBE_DATA_DIR": tmp})
        client = embedded(Path(tmp) / "redis")
        ctx = Context.create(settings, client=client, transcriber=object())  # extract never transcribes
        job_id = LocalPipeline(ctx).submit(video).job.id
        started = time.perf_counter()
        chunks = extract(job_id, ctx)
        wall = time.perf_counter() - started
        job = ctx.jobs.require(job_id)
    print(json.dumps({
        "video": str(video), "duration_s": job.duration_s, "chunks": len(chunks), "wall_s": round(wall, 3),
        "x_real_time": round(job.duration_s / wall, 1),
        "stage_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "ffmpeg_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
