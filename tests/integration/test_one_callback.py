"""One callback per terminal state, however often job.completed is delivered at once (a
re-drive of a slow job, a broker retry): the deliveries race for one claim, as batch
callbacks do, against a real receiver on 127.0.0.1 and real Redis."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kscribe import events
from kscribe.errors import WorkClaimed
from kscribe.stages.notify import notify
from kscribe.values import Job, JobStatus


@pytest.fixture
def receiver():
    received: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(time.monotonic())
            time.sleep(0.3)  # a slow receiver: the duplicates arrive while it answers
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_duplicate_completions_send_one_callback(ctx, receiver):
    url, received = receiver
    ctx.settings = ctx.settings.replace(callback_secret="s3cret", callback_allow=("127.0.0.1",))
    job = Job(
        "j-one-callback", "/in/a.mp4", "1", "/out", "a", "tiny.en", "en", "transcribe", ("txt",), callback_url=url
    )
    job, _ = ctx.jobs.create(job, "a.mp4#1")
    assert ctx.jobs.advance(job.id, JobStatus.SUCCEEDED)

    def deliver(_):
        try:
            notify(events.JOB_COMPLETED, job.id, ctx)
            return "sent or found delivered"
        except WorkClaimed:
            return "claimed"  # the function answers 5xx; the broker retries later

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(deliver, range(6)))
    assert outcomes.count("claimed") >= 1
    # The broker's retries of the claimed ones, later: the callback is delivered, none is sent.
    for _ in range(6):
        notify(events.JOB_COMPLETED, job.id, ctx)
    assert len(received) == 1
    assert ctx.jobs.require(job.id).callback_status == "delivered"
