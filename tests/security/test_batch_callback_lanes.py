"""Review of N12 (callback lanes): job callbacks got per-tenant lanes and a receiver hold, but
a batch's callback is sent by the same notify threads without either. One tenant's batches
with a black-hole receiver (it accepts the connection and never answers) still held notify
for a whole send each, and another tenant's batch callback waited behind all of them.

Re-run in process on one thread, as a notify pod with one thread would: three black-hole
batches of one tenant, then another tenant's batch with a receiver that answers."""

from __future__ import annotations

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kscribe.pipeline import batches
from kscribe.state.batches import Batch
from tests.security.conftest import BlackHole


def _receiver():
    got: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook", got


def _finished_batch(ctx, tenant: str, url: str) -> str:
    store = ctx.batches
    batch_id = uuid.uuid4().hex
    assert store.open(Batch(id=batch_id, tenant=tenant, callback_url=url, job_callbacks=False))
    store.seal(batch_id, [])
    assert store.get(batch_id).done
    return batch_id


def test_one_tenants_black_hole_batches_do_not_delay_anothers_batch_callback(ctx):
    ctx.settings = ctx.settings.replace(
        callback_allow=("127.0.0.1",), callback_attempts=1, callback_backoff_s=0.05, callback_lanes=1
    )
    for name in ("initrode", "vandelay"):
        ctx.tenants.ensure(name)
        ctx.tenants.rotate_secret(name)
    hole = BlackHole()
    server, url, got = _receiver()
    try:
        holes = [_finished_batch(ctx, "initrode", hole.url) for _ in range(3)]
        theirs = _finished_batch(ctx, "vandelay", url)
        started = time.monotonic()
        for batch_id in [*holes, theirs]:  # notify's one thread, in the order they came
            batches.notify(batch_id, ctx)
        waited = time.monotonic() - started
        assert got, "vandelay's batch callback was sent"
        assert ctx.batches.get(theirs).callback_status == "delivered"
        # Each black-hole send takes its 10 s timeout: behind three, vandelay waited 30 s.
        assert waited < 20, f"vandelay's batch callback went out {waited:.0f} s after the first black hole's"
        # initrode's callbacks put off are not lost: they stay owed to the reconciler.
        store = ctx.batches
        assert all(store.get(b).callback_status != "delivered" for b in holes)
        assert set(holes) <= set(store.due(time.time() + 10**6))
    finally:
        hole.close()
        server.shutdown()
        server.server_close()
