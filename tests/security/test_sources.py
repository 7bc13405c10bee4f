"""Finding: an API job could name any object kscribe itself can read as its source — another
tenant's upload, kscribe's work and output buckets, other buckets of the project — and tricks
in the object name (``..``, ``.``, ``//``, backslashes, percent-encoding, control characters)
were not refused. Each such source must answer exactly like a missing object: 400
``source_not_found``, never a 500 and never a job."""

from __future__ import annotations

import pytest

from tests.security.conftest import INPUT, OUTPUT, WORK

OWN = f"{INPUT}/tenants/acme"
FOREIGN = [
    f"{INPUT}/tenants/globex/secret.wav",  # another tenant's upload
    f"{INPUT}/tenants/globex/meeting.mkv",
    f"{INPUT}/shared/tiny.wav",  # the input bucket, outside every tenant prefix
    f"{INPUT}/tenants/acmeco/../acme/tiny.wav",  # a prefix that merely starts like acme's
    f"{WORK}/planted/chunks/00000.wav",  # kscribe's own work bucket
    f"{OUTPUT}/planted/meeting.wav",  # kscribe's own output bucket
    "gs://kscribe-private/payroll.wav",  # another bucket of the project
    f"{OWN}/missing.mp4",  # a missing object, the shape all others copy
]
TRICKS = [
    "gs:///b",
    "gs:///kscribe-input/tenants/acme/tiny.wav",
    f"{OWN}/../globex/secret.wav",
    f"{OWN}/./tiny.wav",
    f"{OWN}/sub/../tiny.wav",
    f"{OWN}//tiny.wav",
    f"{INPUT}//tenants/acme/tiny.wav",
    f"{OWN}\\..\\globex\\secret.wav",
    f"{OWN}/..\\globex/secret.wav",
    f"{OWN}/%2e%2e/globex/secret.wav",
    f"{OWN}/%2E%2E/globex/secret.wav",
    f"{OWN}/%2e/tiny.wav",
    f"{OWN}/tiny.wav\n",
    f"{OWN}/tiny.wav\x00",
    f"{OWN}/ti\rny.wav",
    f"{OWN}/tiny\x1b.wav",
]

pytestmark = pytest.mark.model


def _assert_not_found(env, source):
    r = env.create(env.acme, source=source)
    if r.status_code == 202:
        env.cancel(env.acme, r.json()["id"])  # keep a reproduced finding from running the model
    assert r.status_code == 400, f"{source!r}: {r.status_code} {r.text}"
    error = r.json()["error"]
    assert error["code"] == "source_not_found", f"{source!r}: {error}"
    assert error["message"].startswith("source: ") and error["message"].endswith(
        " does not exist (or is not readable)"
    ), error["message"]


@pytest.mark.parametrize("source", FOREIGN)
def test_a_source_outside_the_tenants_prefix_is_not_found(env, source):
    _assert_not_found(env, source)


@pytest.mark.parametrize("source", TRICKS, ids=repr)
def test_a_tricky_object_name_is_not_found(env, source):
    _assert_not_found(env, source)


def test_the_same_message_for_a_foreign_and_a_missing_source(env):
    foreign = env.create(env.acme, source=f"{INPUT}/tenants/globex/secret.wav")
    if foreign.status_code == 202:
        env.cancel(env.acme, foreign.json()["id"])
    assert foreign.status_code == 400, foreign.text
    missing = env.create(env.acme, source=f"{INPUT}/tenants/globex/no-such.wav")
    assert foreign.json()["error"]["message"].replace("secret", "no-such") == missing.json()["error"]["message"]


def test_the_tenants_own_upload_is_accepted(env):
    r = env.create(env.acme, source=f"{OWN}/tiny.wav")
    assert r.status_code == 202, r.text
    assert env.cancel(env.acme, r.json()["id"]).status_code == 200
