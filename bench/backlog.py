"""A backlog through the local stack's API: N jobs on the 31 s sample (three 10-second
chunks each) created within W seconds by several tenants (each within the default quota of
20 unfinished jobs), re-drives after 15 s, every other setting default. Every job must
succeed; prints the time to drain, the wait in line (creation → first chunk on a worker),
broker deliveries of chunk.ready per chunk, re-drives, and Redis memory per job.

    python bench/backlog.py [JOBS=60] [WINDOW_S=40] [FIRST_PORT=19100]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import stack as stack_module  # noqa: E402

SAMPLE = ROOT / "samples" / "meeting.mp4"
TERMINAL = ("succeeded", "failed", "cancelled")


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    window_s = float(sys.argv[2]) if len(sys.argv) > 2 else 40.0
    first_port = int(sys.argv[3]) if len(sys.argv) > 3 else 19100
    stack_module._next_port = first_port  # this run's range of ports
    tenants = [f"bench{i}" for i in range(max(1, -(-jobs // 15)))]
    with tempfile.TemporaryDirectory(prefix="kscribe-backlog-") as tmp:
        stack = stack_module.Stack(Path(tmp), env={"KSCRIBE_REDRIVE_AFTER_SECONDS": "15"})
        try:
            auth = {}
            for tenant in tenants:
                made = stack.kscribe("keys", "create", "--tenant", tenant, timeout=60)
                assert made.returncode == 0, made.stderr
                auth[tenant] = {"Authorization": f"Bearer {made.stdout.splitlines()[0].strip()}"}
                blob = stack.storage().bucket("kscribe-input").blob(f"tenants/{tenant}/meeting.mp4")
                blob.upload_from_filename(str(SAMPLE), content_type="video/mp4")
            log_offset = stack.log_path.stat().st_size
            memory_before = stack.redis.info("memory")["used_memory"]
            started = time.monotonic()

            def create(i: int) -> tuple[str, float]:
                delay = started + i * window_s / jobs - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # pacing the client
                tenant = tenants[i % len(tenants)]
                began = time.monotonic()
                r = requests.post(
                    stack.url["api"] + "/api/v1/transcriptions",
                    headers=auth[tenant],
                    json={"source": f"gs://kscribe-input/tenants/{tenant}/meeting.mp4"},
                    timeout=60,
                )
                assert r.status_code == 202, (r.status_code, r.text)
                return r.json()["id"], time.monotonic() - began

            with ThreadPoolExecutor(8) as pool:
                created = list(pool.map(create, range(jobs)))
            created_in = time.monotonic() - started
            memory_queued = stack.redis.info("memory")["used_memory"]
            ids = [job_id for job_id, _ in created]
            ended: dict[str, float] = {}
            deadline = started + 3600
            while len(ended) < len(ids) and time.monotonic() < deadline:
                for job_id in ids:
                    if job_id not in ended and stack.redis.hget(f"kscribe:job:{job_id}", "status") in TERMINAL:
                        ended[job_id] = time.monotonic() - started
                time.sleep(0.5)
            records = [stack.redis.hgetall(f"kscribe:job:{job_id}") for job_id in ids]
            log = stack.log_path.read_text(errors="replace")[log_offset:]
            chunks = sum(int(r.get("chunks_total") or 0) for r in records)
            deliveries = log.count("delivered dev.kscribe.chunk.ready.v1 ")
            waits = sorted(
                float(r["transcription_started_at"]) - float(r["created_at"])
                for r in records
                if r.get("transcription_started_at")
            )
            statuses: dict[str, int] = {}
            for r in records:
                statuses[r.get("status", "?")] = statuses.get(r.get("status", "?"), 0) + 1
            report = {
                "jobs": jobs,
                "tenants": len(tenants),
                "created_in_s": round(created_in, 1),
                "create_latency_p95_s": round(statistics.quantiles([t for _, t in created], n=20)[18], 3),
                "statuses": statuses,
                "errors": sorted({r.get("error", "") for r in records if r.get("status") != "succeeded"}),
                "drain_s": round(max(ended.values(), default=0.0), 1),
                "wait_p50_s": round(statistics.median(waits), 1) if waits else None,
                "wait_p95_s": round(statistics.quantiles(waits, n=20)[18], 1) if len(waits) > 1 else None,
                "chunks": chunks,
                "chunk_ready_deliveries": deliveries,
                "deliveries_per_chunk": round(deliveries / max(1, chunks), 3),
                "redrives_recorded": sum(int(r.get("redrives") or 0) for r in records),
                "redrive_log_lines": log.count("with its work lost: re-driving"),
                "redis_bytes_per_job": round((memory_queued - memory_before) / jobs),
            }
            print(json.dumps(report, indent=2))
            if statuses.get("succeeded") != jobs:
                raise SystemExit("not every job succeeded")
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
