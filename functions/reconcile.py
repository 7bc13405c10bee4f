"""reconcile: every minute (a PingSource) → the events that move jobs a lost event stranded,
and callbacks re-sent (kscribe/pipeline/reconcile.py)."""

import functions_framework
import runtime
from cloudevents.http import CloudEvent

from kscribe.events import Event
from kscribe.pipeline.reconcile import reconcile as reconcile_pass
from kscribe.runtime import health

runtime.install_routes(health.checks_for(lambda: runtime.context()))
runtime.register_stuck_gauge()

PING = "dev.knative.sources.ping"


def _pass(event: Event, ctx) -> list[Event]:
    done = reconcile_pass(ctx)
    if done.redriven or done.failed or done.callbacks or done.purged:
        runtime.log.info(
            "reconciled: %d job(s) re-driven, %d failed, %d callback(s) re-sent, %d purged",
            len(done.redriven),
            len(done.failed),
            len(done.callbacks),
            len(done.purged),
        )
    return done.events


@functions_framework.cloud_event
def reconcile(cloud_event: CloudEvent) -> None:
    if cloud_event["type"] != PING:
        runtime.log.warning("reconcile ignores event type %s (%s)", cloud_event["type"], cloud_event["id"])
        return
    runtime.deliver(cloud_event, _pass)
