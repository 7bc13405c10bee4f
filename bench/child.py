"""A benchmark's child process, measured through bench/peak.py: wall and CPU seconds, peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable


def run_child(args: list[str], env: dict[str, str]) -> dict:
    """Wall seconds, user + system CPU seconds and peak RSS (MiB) of ``python ARGS``, and the
    load average before it ran; exits with the child's error output if it fails."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, str(BENCH / "peak.py"), PYTHON, *args], capture_output=True, text=True, env=env, cwd=BENCH.parent
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    tail = dict(line.split("=", 1) for line in done.stderr.strip().splitlines()[-2:])
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(float(tail["cpu_s"]), 2),
        "peak_mib": round(int(tail["peak_rss_kib"]) / 1024, 1),
        "load_before": round(load, 2),
    }
