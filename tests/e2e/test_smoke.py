"""scripts/smoke.py, the deploy's smoke test, against the local multi-process stack: every
function's /health/ready, the sample through the input bucket to its transcript, one API job."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.stack import Stack

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One stack for both: the passing run cleans up after itself, the failing one only
    reads the stack's env file."""
    started = Stack(tmp_path_factory.mktemp("smoke"))
    yield started
    started.stop()


def test_smoke_script_passes_against_the_local_stack(stack):
    made = stack.kscribe(
        "keys", "create", "--tenant", "smoke", "--name", "smoke", "--source", "gs://kscribe-input/smoke/"
    )
    assert made.returncode == 0, made.stderr
    env = {**stack.process_env, "KSCRIBE_SMOKE_API_KEY": made.stdout.strip()}
    smoke = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "smoke.py"),
            "--stack-env",
            str(stack.env_file),
            "--deadline",
            "240",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(smoke.stdout)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr + stack.log_path.read_text()[-3000:]
    out = smoke.stdout
    for fn in ("ingest", "extract", "transcribe", "publish", "notify", "dead-letter", "api", "reconcile"):
        assert f"ready: {fn} " in out
    assert "transcript after" in out and "api job" in out and "succeeded after" in out
    assert out.rstrip().splitlines()[-1].startswith("smoke: passed in")
    # It cleans up after itself: nothing of the run is left in the buckets.
    assert not list(stack.storage().bucket("kscribe-input").list_blobs(prefix="smoke/"))
    assert not list(stack.storage().bucket("kscribe-output").list_blobs(prefix="uploads/kscribe-input/smoke/"))


def test_smoke_script_fails_loudly_when_a_function_is_not_ready(stack):
    smoke = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "smoke.py"),
            "--stack-env",
            str(stack.env_file),
            "--health",
            "canary=http://127.0.0.1:9",
            "--deadline",
            "3",
        ],
        env=stack.process_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert smoke.returncode == 1
    assert "smoke: FAILED: canary: GET http://127.0.0.1:9/health/ready did not answer 200" in smoke.stdout
