"""scripts/smoke.py, the deploy's smoke test, against the local multi-process stack: every
function's /health/ready, the sample through the input bucket to its transcript, one API job."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.stack import stack_factory  # noqa: F401 - a fixture

pytestmark = pytest.mark.model


def test_smoke_script_passes_against_the_local_stack(stack_factory, tmp_path):
    stack = stack_factory()
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
            str(tmp_path / "stack.env"),
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


def test_smoke_script_fails_loudly_when_a_function_is_not_ready(stack_factory, tmp_path):
    stack = stack_factory()
    smoke = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "smoke.py"),
            "--stack-env",
            str(tmp_path / "stack.env"),
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
