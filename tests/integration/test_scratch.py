"""Per-process scratch directories, with real processes sharing one scratch dir."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from kscribe.settings import Settings
from kscribe.storage import scratch

_WORKER = """
import sys
from pathlib import Path
from kscribe.storage import scratch
own = scratch.process_dir(Path(sys.argv[1]))
(own / "audio.pcm").write_bytes(b"x" * 1000)
print(own, flush=True)
sys.stdin.read()  # hold on until the test closes stdin (or kills us)
"""


def _start_worker(root: Path) -> tuple[subprocess.Popen, Path]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    return process, Path(process.stdout.readline().strip())  # printed once its lock is held


def test_a_sweep_keeps_live_processes_files_and_removes_dead_ones(tmp_path):
    root = tmp_path / "scratch"
    alive, alive_dir = _start_worker(root)
    killed, killed_dir = _start_worker(root)
    try:
        own = scratch.process_dir(root)
        assert len({alive_dir, killed_dir, own}) == 3 and all(d.parent == root for d in (alive_dir, killed_dir, own))
        assert scratch.sweep(root) == [], "every directory has a live owner"
        assert (alive_dir / "audio.pcm").is_file() and own.is_dir()

        killed.send_signal(signal.SIGKILL)  # no cleanup runs: the case this module exists for
        killed.wait()
        assert scratch.sweep(root) == [killed_dir]
        assert not killed_dir.exists() and (alive_dir / "audio.pcm").is_file() and own.is_dir()
    finally:
        for process in (alive, killed):
            process.stdin.close()
            process.wait()
            process.stdout.close()
    assert scratch.sweep(root) == [alive_dir]
    assert scratch.process_dir(root) == own, "a process keeps its directory"


def test_legacy_temp_dirs_go_once_nothing_touched_them_for_an_hour(tmp_path):
    root = tmp_path / "scratch"
    old, fresh, other = root / "extract-abc-123", root / "chunk-xyz", root / "keep-me"
    for d in (old, fresh, other):
        d.mkdir(parents=True)
        (d / "f").write_bytes(b"x")
    hour_ago = old.stat().st_mtime - scratch.LEGACY_IDLE_S - 5
    for path in (old / "f", old, other):
        os.utime(path, (hour_ago, hour_ago))
    assert scratch.sweep(root) == [old]
    assert fresh.is_dir() and other.is_dir()


def test_prepare_sweeps_and_stages_work_inside_the_process_dir(tmp_path):
    settings = Settings.from_env({"KSCRIBE_DATA_DIR": str(tmp_path / "data")})
    dead = settings.scratch_dir / "proc-1-deadbeef"
    dead.mkdir(parents=True)
    (dead / scratch.LOCK_NAME).touch()
    half_made = settings.scratch_dir / "proc-2-deadbeef"  # died between mkdir and lock
    half_made.mkdir()
    own = scratch.prepare(settings)
    assert own.parent == settings.scratch_dir.absolute() and own.name.startswith(f"proc-{os.getpid()}-")
    assert not dead.exists() and not half_made.exists() and own.is_dir()


def test_extract_leaves_nothing_in_the_process_dir(ctx, sample_copy):
    from tests.integration.test_pipeline import run_file

    job, _ = run_file(ctx, sample_copy)
    own = scratch.process_dir(ctx.settings.scratch_dir)
    assert job.status.name == "SUCCEEDED"
    assert [p.name for p in own.iterdir()] == [scratch.LOCK_NAME]
    assert [p.name for p in ctx.settings.scratch_dir.iterdir() if p.is_dir()] == [own.name]
