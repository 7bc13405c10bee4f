"""transcribe: chunk.ready → the chunk's transcript; the last chunk → job.transcribed."""

import functions_framework
import runtime
from cloudevents.http import CloudEvent

from kscribe.pipeline.handlers import on_chunk_ready
from kscribe.runtime import health

warmup = runtime.ModelWarmup()
runtime.install_routes({**health.checks_for(lambda: runtime.context(), disk=True), "model": warmup.check})


@functions_framework.cloud_event
def transcribe(cloud_event: CloudEvent) -> None:
    runtime.deliver(cloud_event, on_chunk_ready)
