"""kscribe's event types and the framework-free event value the stages exchange.

Functions turn these into CloudEvents on the wire; the local runner passes them in process.
Event ids derive from what the event is about (``job/chunk``), so a redelivered or repeated
event carries the same id and consumers can dedupe on it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from kscribe.values import Job

SOURCE = "/kscribe"

# Storage notification, as Eventarc or the Pub/Sub adapter deliver it.
OBJECT_FINALIZED = "google.cloud.storage.object.v1.finalized"
# The same notification through a Pub/Sub push subscription (functions-framework turns the
# push envelope into this CloudEvent).
PUBSUB_MESSAGE = "google.cloud.pubsub.topic.v1.messagePublished"
JOB_CREATED = "dev.kscribe.job.created.v1"
CHUNK_READY = "dev.kscribe.chunk.ready.v1"
JOB_TRANSCRIBED = "dev.kscribe.job.transcribed.v1"
JOB_COMPLETED = "dev.kscribe.job.completed.v1"
JOB_FAILED = "dev.kscribe.job.failed.v1"


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    source: str = SOURCE
    subject: str = ""


def job_created(job_id: str) -> Event:
    return Event(JOB_CREATED, {"job_id": job_id}, id=f"{job_id}/created", subject=job_id)


def chunk_ready(chunk_data: dict[str, Any]) -> Event:
    job_id, index = chunk_data["job_id"], chunk_data["index"]
    return Event(CHUNK_READY, chunk_data, id=f"{job_id}/chunk/{index}", subject=job_id)


def job_transcribed(job_id: str) -> Event:
    return Event(JOB_TRANSCRIBED, {"job_id": job_id}, id=f"{job_id}/transcribed", subject=job_id)


def job_completed(data: dict[str, Any]) -> Event:
    return Event(JOB_COMPLETED, data, id=f"{data['job_id']}/completed", subject=data["job_id"])


def job_failed(job_id: str, stage: str, reason: str) -> Event:
    return Event(
        JOB_FAILED, {"job_id": job_id, "stage": stage, "reason": reason}, id=f"{job_id}/failed", subject=job_id
    )


def job_completed_for(job: Job) -> Event:
    """job.completed for a finished ``job`` (publish announces it; the reconciler repeats it)."""
    return job_completed(
        {
            "job_id": job.id,
            "source": job.source_uri,
            "outputs": job.outputs,
            "duration_s": job.duration_s,
            "language": job.detected_language,
            "model": job.model,
        }
    )
