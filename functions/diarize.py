"""diarize: chunk.ready of a job with speakers → the chunk's voice turns; the last part of the
last chunk → job.transcribed. Needs the diarize extra (torch), loaded on the first probe."""

import functions_framework
import runtime
from cloudevents.http import CloudEvent

from kscribe.context import Context
from kscribe.pipeline.handlers import on_chunk_voices
from kscribe.runtime import health


def _load(ctx: Context) -> None:
    # With diarization off (KSCRIBE_DIARIZE) no job has speakers: ready without torch.
    if ctx.settings.diarize:
        ctx.voices.load()


warmup = runtime.ModelWarmup(load=_load)
runtime.install_routes({**health.checks_for(lambda: runtime.context(), disk=True), "model": warmup.check})


@functions_framework.cloud_event
def diarize(cloud_event: CloudEvent) -> None:
    runtime.deliver(cloud_event, on_chunk_voices)
