"""publish: job.transcribed → transcript files in the output bucket → job.completed."""

import functions_framework
import runtime
from cloudevents.http import CloudEvent

from kscribe.pipeline.handlers import on_job_transcribed
from kscribe.runtime import health

runtime.install_routes(health.checks_for(lambda: runtime.context()))


@functions_framework.cloud_event
def publish(cloud_event: CloudEvent) -> None:
    runtime.deliver(cloud_event, on_job_transcribed)
