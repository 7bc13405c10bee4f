"""notify: job.completed / job.failed → the job's signed callback, outcome on the job."""

import functions_framework
import runtime
from cloudevents.http import CloudEvent

from kscribe import health
from kscribe.handlers import on_job_finished

runtime.install_routes(health.checks_for(lambda: runtime.context(), buckets=False))


@functions_framework.cloud_event
def notify(cloud_event: CloudEvent) -> None:
    runtime.deliver(cloud_event, on_job_finished)
