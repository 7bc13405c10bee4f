"""extract: job.created → the job's audio in chunks → chunk.ready × N."""

import functions_framework
import runtime
from cloudevents.http import CloudEvent

from kscribe.pipeline.handlers import on_job_created
from kscribe.runtime import health

runtime.install_routes(health.checks_for(lambda: runtime.context(), ffmpeg=True, disk=True))


@functions_framework.cloud_event
def extract(cloud_event: CloudEvent) -> None:
    runtime.deliver(cloud_event, on_job_created)
