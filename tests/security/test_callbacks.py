"""Findings: callback URLs were checked on a parse that differs from the one that sends
(``http://127.0.0.1:PORT\\@8.8.8.8/`` passed as 8.8.8.8, and CR/LF went through); a
receiver's response body was copied into the job's ``callback.error`` for the tenant to read;
every tenant's callbacks were signed with one shared secret, so any tenant could forge
callbacks to any other's receiver."""

from __future__ import annotations

import pytest

from kscribe.delivery.signing import verify
from tests.security.conftest import INPUT, RECEIVER_SECRET_BODY

pytestmark = pytest.mark.model


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9\\@8.8.8.8/",
        "http://127.0.0.1:9\\@8.8.8.8/hook",
        "http://8.8.8.8/hook\r\nX-Injected: 1",
        "http://8.8.8.8/hook\nX-Injected: 1",
        "http://8.8.8.8\r\n/hook",
        "http://8.8.8.8/ho\rok",
    ],
)
def test_a_confusing_callback_url_is_refused(env, url):
    r = env.create(env.acme, source=f"{INPUT}/tenants/acme/tiny.wav", callback_url=url)
    if r.status_code == 202:
        env.cancel(env.acme, r.json()["id"])
    assert r.status_code == 400, f"{url!r}: {r.status_code} {r.text}"
    assert r.json()["error"]["code"] == "invalid_callback_url", r.text


def test_a_receivers_response_body_is_not_shown_to_the_tenant(globex_job):
    callback = globex_job.job["callback"]
    assert callback["status"] == "failed" and callback["attempts"] == 2, callback
    assert callback["error"] and "500" in callback["error"], callback
    for fragment in ("hunter2", "receiver-internal-detail", RECEIVER_SECRET_BODY.decode()):
        assert fragment not in callback["error"], callback


def test_each_tenants_callbacks_are_signed_with_its_own_secret(env, acme_job, globex_job):
    assert env.acme.callback_secret and env.globex.callback_secret, (
        "keys create prints the tenant's callback secret once on stderr"
    )
    assert env.acme.callback_secret != env.globex.callback_secret
    for done, own, other in ((acme_job, env.acme, env.globex), (globex_job, env.globex, env.acme)):
        assert done.callbacks.received, "the receiver got the callback"
        for headers, body in done.callbacks.received:
            assert verify(own.callback_secret, headers["Kscribe-Signature"], body)
            assert not verify(other.callback_secret, headers["Kscribe-Signature"], body)


def test_a_second_key_does_not_reveal_the_secret_and_rotation_gives_a_new_one(env):
    first = env.tenant("hooli")
    assert first.callback_secret, "the tenant's first key shows its callback secret"
    again = env.stack.kscribe("keys", "create", "--tenant", "hooli", timeout=60)
    assert again.returncode == 0 and first.callback_secret not in again.stdout + again.stderr
    rotated = env.stack.kscribe("tenants", "rotate-secret", "hooli", timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    secret = rotated.stdout.strip().splitlines()[-1].split()[-1]
    assert secret and secret != first.callback_secret
