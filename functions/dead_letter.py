"""dead-letter: an event whose deliveries ran out of retries → the job fails → job.failed."""

import functions_framework
import runtime
from cloudevents.http import CloudEvent

from kscribe import health
from kscribe.handlers import on_dead_letter

runtime.install_routes(health.checks_for(lambda: runtime.context(), buckets=False))


@functions_framework.cloud_event
def dead_letter(cloud_event: CloudEvent) -> None:
    reason = runtime.dead_letter_reason(cloud_event)
    subscriber = runtime.dead_letter_subscriber(cloud_event)
    runtime.deliver(cloud_event, lambda event, ctx: on_dead_letter(event, ctx, reason, subscriber))
