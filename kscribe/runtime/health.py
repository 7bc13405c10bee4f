"""Readiness checks: one per dependency, each with its status and latency."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from kscribe.context import Context
from kscribe.media.ffmpeg_bin import ffmpeg_executable

Check = Callable[[], None]


def run_checks(checks: dict[str, Check]) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Run every check; a check passes by returning and fails by raising."""
    results: dict[str, dict[str, Any]] = {}
    ok = True
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            check()
            result: dict[str, Any] = {"status": "ok"}
        except Exception as exc:
            ok = False
            result = {"status": "fail", "error": str(exc)[:300] or type(exc).__name__}
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
        results[name] = result
    return ok, results


def cached(check: Check, ttl_s: float) -> Check:
    """``check``'s last success stands for ``ttl_s``: probes every few seconds must not
    turn into a storage API call each. A failure is never cached."""
    lock = threading.Lock()
    passed_at = [float("-inf")]

    def run() -> None:
        with lock:
            if time.monotonic() - passed_at[0] < ttl_s:
                return
        check()
        with lock:
            passed_at[0] = time.monotonic()

    return run


def checks_for(
    ctx_factory: Callable[[], Context], *, buckets: bool = True, ffmpeg: bool = False, disk: bool = False
) -> dict[str, Check]:
    """The standard checks a function needs. ``ctx_factory`` is called per check, so a
    context that fails to build (Redis down at start) fails the check instead of the import."""

    def redis_check() -> None:
        ctx_factory().jobs.ping()

    def buckets_check() -> None:
        ctx = ctx_factory()
        for uri in (ctx.settings.input_uri, ctx.settings.work_uri, ctx.settings.output_uri):
            ctx.blobs.ensure_writable(uri)

    def ffmpeg_check() -> None:
        subprocess.run([ffmpeg_executable(), "-hide_banner", "-version"], check=True, capture_output=True, timeout=10)

    def disk_check() -> None:
        settings = ctx_factory().settings
        settings.scratch_dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(settings.scratch_dir).free
        if free < settings.min_free_disk_bytes:
            raise RuntimeError(f"{free} bytes free in {settings.scratch_dir}, under {settings.min_free_disk_bytes}")

    checks: dict[str, Check] = {"redis": redis_check}
    if buckets:
        checks["buckets"] = cached(buckets_check, 30)
    if ffmpeg:
        checks["ffmpeg"] = cached(ffmpeg_check, 300)
    if disk:
        checks["disk"] = disk_check
    return checks
