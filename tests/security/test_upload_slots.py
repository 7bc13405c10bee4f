"""Review of N1 (page uploads take job slots): a session holds one of its tenant's
unfinished-job slots from its creation until ingest makes its job, or for a day. A session
whose bytes never arrive (the tab closed, the network dropped, a short body) kept its slot for
that whole day, and nothing gave it back: two failed uploads locked a tenant capped at two out
of every job, API ones included, for 24 hours. Now ``DELETE /api/v1/uploads/{id}`` gives an
upload whose bytes have not arrived up, slot and session; the page does so when its upload
through the api fails."""

from __future__ import annotations

import io
import json

from kscribe.api.input import bytes_reader
from kscribe.api.router import Api, ApiRequest

UPLOADS = "/api/v1/uploads"


def _call(api, token, method, path, body=None, stream=None, length=None):
    data = json.dumps(body).encode() if body is not None else b""
    return api.handle(
        ApiRequest(
            method,
            path,
            headers={"authorization": f"Bearer {token}"},
            read_body=bytes_reader(data),
            body_stream=stream,
            content_length=length,
        )
    )


def _session(api, token):
    return _call(api, token, "POST", UPLOADS, {"filename": "talk.wav", "size": 1000})


def test_a_failed_page_upload_gives_its_job_slot_back(ctx):
    ctx.settings = ctx.settings.replace(web_uploads="api")
    api = Api(ctx)
    api.notify_upload = lambda info: None
    hooli = ctx.api_keys.create("hooli")[0]
    other = ctx.api_keys.create("globex")[0]
    ctx.tenants.set_limits("hooli", 2, None)
    made = [_session(api, hooli) for _ in range(2)]
    assert [r.status for r in made] == [201, 201], [r.body for r in made]
    # Both uploads end short (the connection dropped): nothing is stored.
    for r in made:
        sent = _call(api, hooli, "PUT", r.body["upload_url"], stream=io.BytesIO(b"x" * 10), length=1000)
        assert sent.status == 400 and sent.body["error"]["code"] == "upload_incomplete", sent.body
    assert _session(api, hooli).status == 429, "the two slots are held"
    # Another tenant cannot give hooli's uploads up (it sees none).
    assert _call(api, other, "DELETE", f"{UPLOADS}/{made[0].body['id']}").status == 404
    for r in made:
        gone = _call(api, hooli, "DELETE", f"{UPLOADS}/{r.body['id']}")
        assert gone.status == 204, gone.body
        assert _call(api, hooli, "GET", f"{UPLOADS}/{r.body['id']}").status == 404
    assert ctx.jobs.tenant_active_count("hooli") == 0
    again = _session(api, hooli)
    assert again.status == 201, again.body


def test_an_upload_whose_bytes_arrived_is_not_given_up(ctx):
    ctx.settings = ctx.settings.replace(web_uploads="api")
    api = Api(ctx)
    api.notify_upload = lambda info: None
    hooli = ctx.api_keys.create("hooli")[0]
    session = _session(api, hooli).body
    sent = _call(api, hooli, "PUT", session["upload_url"], stream=io.BytesIO(b"x" * 1000), length=1000)
    assert sent.status == 200, sent.body
    refused = _call(api, hooli, "DELETE", f"{UPLOADS}/{session['id']}")
    assert refused.status == 409, refused.body
    assert ctx.jobs.tenant_active_count("hooli") == 1, "its slot stays, for the job ingest makes"


class _Dropped:
    """A body whose connection drops (a reset, a read timeout) after ``size`` bytes."""

    def __init__(self, size: int):
        self.left = size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError(104, "Connection reset by peer")
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return b"x" * n


def test_an_upload_whose_connection_drops_can_be_sent_again(ctx):
    """A connection that dropped mid-body (an OSError, not a short read) left a half-written
    object behind (local stores): every later PUT of the session failed on it with a 500."""
    ctx.settings = ctx.settings.replace(web_uploads="api")
    api = Api(ctx)
    api.notify_upload = lambda info: None
    hooli = ctx.api_keys.create("hooli")[0]
    session = _session(api, hooli).body
    try:
        dropped = _call(api, hooli, "PUT", session["upload_url"], stream=_Dropped(300), length=1000)
        assert dropped.status == 400, dropped.body
    except OSError:
        pass  # the dropped connection's own error reaching the server is fine; what follows matters
    again = _call(api, hooli, "PUT", session["upload_url"], stream=io.BytesIO(b"x" * 1000), length=1000)
    assert again.status == 200, again.body
