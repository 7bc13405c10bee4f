"""notify: job.completed / job.failed → the job's signed callback, outcome on the job;
batch.completed → the batch's one signed callback, outcome on the batch."""

import functions_framework
import runtime
from cloudevents.http import CloudEvent

from kscribe import events
from kscribe.pipeline.handlers import on_batch_completed, on_job_finished
from kscribe.runtime import health

runtime.install_routes(health.checks_for(lambda: runtime.context(), buckets=False))


@functions_framework.cloud_event
def notify(cloud_event: CloudEvent) -> None:
    batch = cloud_event["type"] == events.BATCH_COMPLETED
    runtime.deliver(cloud_event, on_batch_completed if batch else on_job_finished)
