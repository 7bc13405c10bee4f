"""ingest: storage notifications (CloudEvents from Eventarc, or Pub/Sub push) → job.created."""

import functions_framework
import runtime
from cloudevents.http import CloudEvent

from kscribe import events
from kscribe.pipeline.handlers import on_object_finalized, on_pubsub_message
from kscribe.runtime import health

runtime.install_routes(health.checks_for(lambda: runtime.context()))

ACCEPTS = {events.OBJECT_FINALIZED: on_object_finalized, events.PUBSUB_MESSAGE: on_pubsub_message}


@functions_framework.cloud_event
def ingest(cloud_event: CloudEvent) -> None:
    handler = ACCEPTS.get(cloud_event["type"])
    if handler is None:
        runtime.log.warning("ingest ignores event type %s (%s)", cloud_event["type"], cloud_event["id"])
        return
    runtime.deliver(cloud_event, handler)
