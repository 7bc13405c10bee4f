"""Finding N12: one tenant's black-hole callback receivers (they accept the connection and
never answer) occupied notify: 16 such jobs delayed another tenant's callback by 109 s. Now a
tenant has at most ``KSCRIBE_CALLBACK_LANES`` deliveries under way (1 in this stack, whose
notify has one thread); one more is put off to the re-send, and notify serves other tenants.

Re-run at this stack's scale: four black-hole jobs of one tenant (each delivery would hold
notify for two attempts of 10 s), then another tenant's job with a receiver that answers."""

from __future__ import annotations

import time

import pytest

from tests.conftest import wait_for
from tests.security.conftest import INPUT, MAX_ACTIVE_JOBS, BlackHole, CallbackReceiver

pytestmark = pytest.mark.model
BLACK_HOLE_JOBS = 4


def test_one_tenants_black_holes_do_not_delay_anothers_callback(env):
    initrode, vandelay = env.tenant("initrode"), env.tenant("vandelay")
    bucket = env.storage().bucket("kscribe-input")
    for name in ("initrode", "vandelay"):
        bucket.blob(f"tenants/{name}/tiny.wav").upload_from_filename(str(env.media / "tiny.wav"))
    hole, receiver = BlackHole(), CallbackReceiver(204)
    try:
        made: list[str] = []
        while len(made) < BLACK_HOLE_JOBS:
            r = env.create(initrode, source=f"{INPUT}/tenants/initrode/tiny.wav", callback_url=hole.url)
            if r.status_code == 429:  # at its quota of unfinished jobs: the next when one ends
                wait_for(
                    lambda: (
                        sum(env.job(initrode, j).json()["status"] not in ("succeeded", "failed") for j in made)
                        < MAX_ACTIVE_JOBS
                    ),
                    timeout_s=240,
                    interval_s=0.5,
                )
                continue
            assert r.status_code == 202, r.text
            made.append(r.json()["id"])
        for job_id in made:
            assert env.wait_finished(initrode, job_id)["status"] == "succeeded"
        r = env.create(vandelay, source=f"{INPUT}/tenants/vandelay/tiny.wav", callback_url=receiver.url)
        assert r.status_code == 202, r.text
        job = env.wait_finished(vandelay, r.json()["id"])
        finished = time.monotonic()
        assert job["status"] == "succeeded", job
        wait_for(lambda: receiver.received, timeout_s=120, interval_s=0.2)
        delay = time.monotonic() - finished
        # Without lanes it waited for every black-hole delivery queued before it (about 20 s
        # each); with them, for the one under way at most.
        assert delay < 30, f"vandelay's callback came {delay:.0f} s after its job finished"
        assert env.job(vandelay, job["id"]).json()["callback"]["status"] == "delivered"
    finally:
        hole.close()
        receiver.close()
