"""Review of issue 22's line (KSCRIBE_QUEUE_MAX_JOBS): a job waits in line from its creation
until its first chunk reaches a worker, and leaves it when it ends. A job whose creation is
undone (``JobStore.discard``: its announcement failed, or its batch was refused part-way)
left its place behind: a ghost that counts against the line for the whole retention (7 days).
Ghosts pile up exactly when things go wrong — a broker outage with clients retrying, batches
that meet a nearly full line — until the line is "full" of nothing and the API refuses every
tenant's jobs with 429 queue_full for a week."""

from __future__ import annotations

import shutil
from pathlib import Path

from kscribe.api.router import Api
from kscribe.tenancy.tenants import upload_prefix
from tests.conftest import SAMPLE_VIDEO, create_through_api


def test_a_job_whose_creation_is_undone_leaves_no_place_in_line(ctx):
    ctx.settings = ctx.settings.replace(api_local_sources=True, queue_max_jobs=3)
    api = Api(ctx)
    acme, globex = (ctx.api_keys.create(t)[0] for t in ("acme", "globex"))
    sources = {}
    for tenant in ("acme", "globex"):
        sources[tenant] = Path(upload_prefix(ctx.settings, tenant)) / "talk.mp4"
        sources[tenant].parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE_VIDEO, sources[tenant])
    # The broker is down: each creation is undone (functions/api.py calls the rollback) and the
    # client retries, as clients do after a 503.
    for _ in range(3):
        answer = create_through_api(api, acme, sources["acme"])
        assert answer.status == 202 and answer.rollback is not None, answer.body
        answer.rollback()
    # The broker is back: another tenant's job is taken (not 429 queue_full), first in line.
    answer = create_through_api(api, globex, sources["globex"])
    assert answer.status == 202, answer.body
    assert ctx.jobs.place_in_line(answer.body["id"]) == 1
    assert ctx.jobs.in_line() == 1, "undone jobs wait in no line"
