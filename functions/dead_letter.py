"""dead-letter: an event whose deliveries ran out of retries → the job fails at the stage
that gave up → job.failed."""

import flask
import functions_framework
import runtime
from cloudevents.http import CloudEvent

from kscribe.pipeline.handlers import on_dead_letter
from kscribe.runtime import health

runtime.install_routes(health.checks_for(lambda: runtime.context(), buckets=False))


@functions_framework.cloud_event
def dead_letter(cloud_event: CloudEvent) -> None:
    reason = runtime.dead_letter_reason(cloud_event)
    # Each Trigger's dead-letter address ends in its subscriber's name (/diarize): whose
    # retries ran out, which chunk.ready's type alone cannot tell.
    subscriber = flask.request.path.strip("/")
    runtime.deliver(cloud_event, lambda event, ctx: on_dead_letter(event, ctx, reason, subscriber))
