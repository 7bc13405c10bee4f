"""Review of N4 (purge of a running job): "a stage still at work sees it cancelled and stores
nothing more" held for every stage but the last. publish moves the job to publishing, renders
and writes its outputs, then marks it succeeded; a purge that came while it wrote deleted the
output folder (still empty, or half written) and forgot the job and its plan, and publish then
finished writing: the transcripts of a purged job stayed in the output bucket (kept a year in
production), with nothing left that knew of them."""

from __future__ import annotations

import shutil
from pathlib import Path

from kscribe.api.router import Api
from kscribe.pipeline import retention
from kscribe.pipeline.bus import InProcessBus
from kscribe.pipeline.handlers import SUBSCRIBERS
from kscribe.storage.notices import META_ROLE
from kscribe.tenancy.tenants import upload_prefix
from tests.conftest import SAMPLE_VIDEO, create_through_api


def test_a_purge_while_publish_writes_leaves_no_outputs(ctx):
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0, api_local_sources=True)
    api = Api(ctx)
    token = ctx.api_keys.create("acme")[0]
    source = Path(upload_prefix(ctx.settings, "acme")) / "talk.mp4"
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_VIDEO, source)
    created = create_through_api(api, token, source)
    assert created.status == 202, created.body
    job_id = created.body["id"]
    write = ctx.blobs.write_bytes
    purged: list[bool] = []

    def write_racing_a_purge(uri, data, *args, **kwargs):
        metadata = args[1] if len(args) > 1 else kwargs.get("metadata") or {}
        if metadata.get(META_ROLE) == "output" and not purged:
            # The owner purges the job while publish is writing its first output.
            purged.append(retention.purge(ctx, job_id, tenant="acme", reason="test"))
        return write(uri, data, *args, **kwargs)

    ctx.blobs.write_bytes = write_racing_a_purge
    bus = InProcessBus(ctx, SUBSCRIBERS, backoff_s=0)
    for event in created.events:
        bus.publish(event)
    bus.drain()
    assert purged == [True], "the purge ran while publish wrote"
    assert ctx.jobs.get(job_id) is None
    outputs = Path(ctx.settings.output_uri)
    left = [p for p in outputs.rglob("*") if p.is_file()] if outputs.exists() else []
    assert left == [], f"outputs of the purged job are left: {left}"
