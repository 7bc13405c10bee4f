"""Every stage of one job, each in processes of its own as in production — ingest, extract,
one transcribe process per chunk (two at a time), publish — sharing one Redis and work
directory: wall time and peak resident memory per stage, to set against video length.
Prints one JSON object.

    python bench/stages.py VIDEO

Extract's own peak and ffmpeg's (its child) are reported apart. A transcribe process holds
one chunk, as a transcribe pod does (containerConcurrency 1), with one CPU thread since two
run side by side on 2 cores.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kscribe.runtime import wiring

TRANSCRIBE_AT_ONCE = 2
_ONE_CHUNK_PER_PROCESS = {"KSCRIBE_PARALLEL_CHUNKS": "1", "KSCRIBE_CPU_THREADS": "1"}


def stage(name: str, data_dir: str, arg: str) -> None:
    """In a child process: run one stage and print its result and peak memory."""
    from kscribe.pipeline.runner import LocalPipeline
    from kscribe.pipeline.stages import extract, publish, transcribe
    from kscribe.settings import Settings
    from kscribe.state.redis import embedded
    from kscribe.values import Chunk

    settings = Settings.from_env(os.environ)
    ctx = wiring.create_context(settings, client=embedded(Path(data_dir) / "redis"))
    started = time.perf_counter()
    if name == "ingest":
        result = LocalPipeline(ctx).submit(Path(arg)).job.id
    elif name == "extract":
        result = [c.to_dict() for c in extract(arg, ctx)]
    elif name == "transcribe":
        result = transcribe(Chunk.from_dict(json.loads(arg)), ctx).last
    else:
        result = publish(arg, ctx).status.value
    print(
        json.dumps(
            {
                "result": result,
                "wall_s": round(time.perf_counter() - started, 3),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "children_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            }
        )
    )


def _run(name: str, data_dir: str, arg: str, extra_env: dict | None = None) -> dict:
    env = dict(os.environ, KSCRIBE_DATA_DIR=data_dir, **(extra_env or {}))
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, __file__, "--stage", name, data_dir, arg], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(video: Path) -> dict:
    from kscribe.state.redis import embedded

    with tempfile.TemporaryDirectory() as data_dir:
        # This process owns the Redis server, so no stage counts it among its children (it
        # is stopped at exit; its directory is gone by then, which embedded_redis handles).
        embedded(Path(data_dir) / "redis")
        ingest = _run("ingest", data_dir, str(video.absolute()))
        extract = _run("extract", data_dir, ingest["result"])
        chunks = extract["result"]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=TRANSCRIBE_AT_ONCE) as pool:
            transcribes = list(
                pool.map(lambda c: _run("transcribe", data_dir, json.dumps(c), _ONE_CHUNK_PER_PROCESS), chunks)
            )
        transcribe_wall = time.perf_counter() - started
        publish = _run("publish", data_dir, ingest["result"])
    if publish["result"] != "succeeded" or sum(t["result"] for t in transcribes) != 1:
        sys.exit(f"the job did not finish as it should: {publish['result']}")
    duration = sum(c["duration_s"] for c in chunks)
    return {
        "video": video.name,
        "duration_s": round(duration, 1),
        "chunks": len(chunks),
        "longest_chunk_s": round(max(c["duration_s"] for c in chunks), 1),
        "ingest_peak_rss_mib": ingest["peak_rss_mib"],
        "extract_wall_s": extract["wall_s"],
        "extract_x_real_time": round(duration / extract["wall_s"], 1),
        "extract_peak_rss_mib": extract["peak_rss_mib"],
        "ffmpeg_peak_rss_mib": extract["children_peak_rss_mib"],
        "transcribe_wall_s": round(transcribe_wall, 1),
        "transcribe_peak_rss_mib": max(t["peak_rss_mib"] for t in transcribes),
        "publish_wall_s": publish["wall_s"],
        "publish_peak_rss_mib": publish["peak_rss_mib"],
    }


def main() -> None:
    if sys.argv[1] == "--stage":
        stage(*sys.argv[2:5])
    else:
        print(json.dumps(measure(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
