"""``kscribe`` as a user runs it: the sample end to end, and every kind of bad input."""

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from kscribe.cli.main import main
from tests.conftest import SAMPLE_VIDEO, make_truncated_video, make_video_without_audio


@pytest.fixture
def env(tmp_path, monkeypatch, redis_server):
    # The CLI reads its settings from the environment; share the session's Redis server.
    monkeypatch.setenv("KSCRIBE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REDIS_URL", f"unix://{redis_server.socket_file}")
    return tmp_path


def run_cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.model
def test_run_prints_the_transcript_and_writes_every_format(env, capsys):
    code, out, err = run_cli(capsys, "run", str(SAMPLE_VIDEO), "--out", str(env / "out"))
    assert code == 0, err
    assert "Welcome to the weekly planning meeting." in out
    assert sorted(p.name for p in (env / "out").iterdir()) == [
        f"meeting.{x}" for x in ("json", "srt", "tsv", "txt", "vtt")
    ]
    assert "transcribe chunk 1/1" in err and "[" in err
    # Not a terminal: the written TXT whole, then the summary, as scripts read it.
    assert out.startswith((env / "out" / "meeting.txt").read_text() + "job ")
    job_id = out.split("job ", 1)[1].split(":", 1)[0]
    code, out, _ = run_cli(capsys, "status", job_id)
    assert code == 0 and "succeeded (100%)" in out and "meeting.srt" in out


def kscribe_process(env_dir, redis_server, *args, **popen):
    """``python -m kscribe`` in a child process, as a user's shell starts it (its own logging
    set-up, its own stdout and stderr), sharing the session's Redis server."""
    environ = {
        **os.environ,
        "KSCRIBE_DATA_DIR": str(env_dir / "data"),
        "REDIS_URL": f"unix://{redis_server.socket_file}",
    }
    environ.update(popen.pop("env", {}))
    return subprocess.Popen([sys.executable, "-m", "kscribe", *args], env=environ, **popen)


def test_a_failure_is_told_once_with_its_job_and_quiet_tells_it_in_one_line(env, redis_server):
    notes = env / "notes.txt"
    notes.write_text("meeting notes\n" * 100)
    reason = "not a readable audio or video file"
    done = kscribe_process(
        env, redis_server, "run", str(notes), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = done.communicate(timeout=120)
    assert done.returncode == 1 and out == ""
    assert err.count(reason) == 1, err
    assert "error (extract): " + reason in err and "WARNING" not in err
    done = kscribe_process(
        env, redis_server, "run", "-q", str(notes), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = done.communicate(timeout=120)
    assert done.returncode == 1 and out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"kscribe: {notes}: {reason}"), err


@pytest.mark.model
def test_quiet_prints_only_the_output_paths(env, capsys):
    code, out, err = run_cli(capsys, "run", "-q", str(SAMPLE_VIDEO), "--formats", "srt,txt", "--out", str(env / "out"))
    assert code == 0, err
    assert out.splitlines() == [str(env / "out" / "meeting.srt"), str(env / "out" / "meeting.txt")]
    assert err == ""


def read_terminal(master: int, process: subprocess.Popen, timeout_s: float = 300.0) -> str:
    """All a process wrote to its terminal until it exited (or the deadline)."""
    deadline = time.monotonic() + timeout_s
    chunks = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=max(1.0, deadline - time.monotonic()))
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.mark.model
def test_on_a_terminal_each_chunk_is_shown_as_soon_as_it_is_transcribed(env, redis_server):
    # Three chunks of about 10 s, decoded one after the other; stdout and stderr share the
    # terminal, so what was written when shows in the order it reached it.
    master, terminal = pty.openpty()
    # A terminal of 24 rows of 100 columns (a new pty has none, and tqdm draws nothing in 0).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        process = kscribe_process(
            env,
            redis_server,
            "run",
            str(SAMPLE_VIDEO),
            "--out",
            str(env / "out"),
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
            env={"KSCRIBE_CHUNK_SECONDS": "10"},
        )
        os.close(terminal)
        shown = read_terminal(master, process)
    finally:
        os.close(master)
    assert process.returncode == 0, shown
    at = {
        text: shown.find(text)
        for text in (
            "Welcome to the weekly",
            "chunk 2/3",
            "The tomatoes",
            "chunk 3/3",
            "Thank you all",
            "publish",
            "succeeded (100%)",
        )
    }
    assert all(place >= 0 for place in at.values()), shown
    assert list(at.values()) == sorted(at.values()), shown
    assert shown.count("Welcome to the weekly") == 1, "the whole transcript is not printed again at the end"


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("empty.mp4", lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
        ("notes.txt", lambda p: p.write_text("meeting notes\n" * 100), "not a readable audio or video file"),
        ("silent.mp4", make_video_without_audio, "has no audio track"),
        ("cut.mp4", make_truncated_video, "not a readable audio or video file"),
    ],
)
def test_bad_files_give_a_clear_message_and_a_failed_job(env, capsys, name, make, message):
    path = env / name
    make(path)
    code, out, err = run_cli(capsys, "run", str(path))
    assert code == 1 and message in err and "failed" in err and "Traceback" not in err + out


def test_a_missing_file_is_a_clear_message(env, capsys):
    code, out, err = run_cli(capsys, "run", str(env / "nope.mp4"))
    assert code == 1 and "no such file" in err and "Traceback" not in err


def test_an_unknown_model_fails_the_job_listing_the_models(env, capsys):
    code, _, err = run_cli(capsys, "run", str(SAMPLE_VIDEO), "--model", "huge-v9")
    assert code == 1 and "model 'huge-v9'" in err and "Installed: " in err and "tiny.en" in err


def test_an_unwritable_output_directory_fails_the_job(env, capsys):
    blocker = env / "a-file"
    blocker.write_text("")
    code, _, err = run_cli(capsys, "run", str(SAMPLE_VIDEO), "--out", str(blocker / "out"))
    assert code == 1 and "cannot write to" in err and "failed" in err


def test_bad_settings_are_reported_not_raised(env, capsys, monkeypatch):
    monkeypatch.setenv("KSCRIBE_CHUNK_SECONDS", "soon")
    code, _, err = run_cli(capsys, "run", str(SAMPLE_VIDEO))
    assert code == 2 and "KSCRIBE_CHUNK_SECONDS must be a number" in err


def test_the_console_script_runs_with_embedded_redis(tmp_path):
    """A fresh data directory and no REDIS_URL: kscribe starts its own redis-server."""
    environ = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    environ["KSCRIBE_DATA_DIR"] = str(tmp_path / "data")
    kscribe = shutil.which("kscribe", path=str(Path(sys.executable).parent)) or "kscribe"
    done = subprocess.run([kscribe, "status", "0" * 32], env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no job" in done.stderr
    assert (tmp_path / "data" / "redis" / "kscribe.rdb").parent.is_dir()


def test_a_redis_outage_is_a_clear_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KSCRIBE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    code, out, err = run_cli(capsys, "status", "0" * 32)
    assert code == 1 and "lost the connection to Redis" in err and "Traceback" not in err


def test_keys_beside_a_stack_env_are_refused_unless_meant(tmp_path, monkeypatch):
    """`kscribe keys create` without the stack's REDIS_URL would write into the private
    embedded Redis, and the stack would answer 401: it says so instead."""
    from kscribe.cli.main import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("KSCRIBE_DATA_DIR=.kscribe/stack\nREDIS_URL=redis://127.0.0.1:6390/0\n")
    monkeypatch.setenv("KSCRIBE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["keys", "create", "--tenant", "acme"]) == 2
    assert not (tmp_path / "data" / "redis").exists(), "nothing written anywhere"
    assert main(["keys", "--embedded", "create", "--tenant", "acme"]) == 0


def test_a_directory_is_a_clear_message(env, capsys):
    code, out, err = run_cli(capsys, "run", str(env))
    assert code == 1 and f"{env} is a directory" in err and "no such file" not in err, err


def test_status_takes_the_short_ids_kscribe_prints_and_refuses_ambiguous_ones(env, capsys, redis_client):
    from kscribe.runtime import wiring
    from kscribe.settings import Settings
    from kscribe.values import Job

    jobs = wiring.create_context(Settings.from_env()).jobs
    base = dict(source_generation="1", output_uri="/out", output_stem="talk", model="tiny.en", language=None)
    ids = ["abcdef01" + "0" * 24, "abcdef02" + "0" * 24, "abcdef02" + "1" * 24]
    for n, job_id in enumerate(ids):
        jobs.create(Job(id=job_id, source_uri=f"/in/talk{n}.mp4", task="transcribe", formats=("txt",), **base), f"k{n}")
    code, out, err = run_cli(capsys, "status", "abcdef01")
    assert code == 0 and out.startswith(f"job {ids[0]}: queued") and "/in/talk0.mp4" in out, err
    code, out, err = run_cli(capsys, "status", "ABCDEF01")
    assert code == 0 and out.startswith(f"job {ids[0]}:"), err
    code, out, err = run_cli(capsys, "status", "abcdef02")
    assert code == 1 and "more than one job" in err and not out
    code, out, err = run_cli(capsys, "status", "abcdef021")
    assert code == 0 and out.startswith(f"job {ids[2]}:"), err
    code, out, err = run_cli(capsys, "status", "abcdef03")
    assert code == 1 and "no job abcdef03" in err
