"""kscribe's event types and the framework-free event value the stages exchange.

Functions turn these into CloudEvents on the wire; the local runner passes them in process.
Event ids derive from what the event is about (``job/chunk``), so a redelivered or repeated
event carries the same id and consumers can dedupe on it.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from kscribe import events
from kscribe.values import Chunk, Job, JobStatus

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
BATCH_COMPLETED = "dev.kscribe.batch.completed.v1"

# A CloudEvents extension attribute on chunk.ready: "true" when the job asked for speaker
# labels, so diarize's Trigger can filter on it and a job without speakers never wakes the
# diarize Service from zero. Routing only, never authority: diarize reads the job record and
# ignores a job without speakers whatever the event says. (Extension names are lower-case
# letters and digits, per the CloudEvents spec.)
SPEAKERS_EXTENSION = "kscribespeakers"


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    source: str = SOURCE
    subject: str = ""
    # CloudEvents extension attributes (name → string value) a Trigger may filter on.
    extensions: Mapping[str, str] = field(default_factory=dict)


class MalformedEvent(ValueError):
    """An event's data is not what its type declares (no valid job id, a field of the wrong
    type): no retry can make it well-formed."""


_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def _job_id(data: Mapping[str, Any]) -> str:
    job_id = data.get("job_id")
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        raise MalformedEvent("no valid job_id")
    return job_id


def _int(data: Mapping[str, Any], name: str, minimum: int) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise MalformedEvent(f"no valid {name}")
    return value


def _number(data: Mapping[str, Any], name: str) -> float:
    value = data.get(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise MalformedEvent(f"no valid {name}")
    return float(value)


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise MalformedEvent(f"no valid {name}")
    return value


def _seconds_by_name(value: Any, name: str) -> dict[str, float]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
        for k, v in value.items()
    ):
        raise MalformedEvent(f"no valid {name}")
    return {k: float(v) for k, v in value.items()}


def _links(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping) or not all(
        isinstance(link, Mapping) and isinstance(link.get("url"), str) and isinstance(link.get("expires_at"), int)
        for link in value.values()
    ):
        raise MalformedEvent("no valid links")
    return {name: dict(link) for name, link in value.items()}


def _mapping(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise MalformedEvent("data is not an object")
    return data


# Each type below is one events/*.schema.json. ``from_dict`` is a tolerant reader: it checks
# what the type declares and ignores fields it does not know (a newer producer may add some).


@dataclass(frozen=True)
class _JobStep:
    """An event that names only its job (the step it reached is its type)."""

    TYPE: ClassVar[str]
    STEP: ClassVar[str]
    job_id: str

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        return cls(_job_id(_mapping(data)))

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id}

    def event(self) -> Event:
        return Event(self.TYPE, self.to_dict(), id=f"{self.job_id}/{self.STEP}", subject=self.job_id)


@dataclass(frozen=True)
class JobCreated(_JobStep):
    """dev.kscribe.job.created.v1: extraction may start."""

    TYPE: ClassVar[str] = JOB_CREATED
    STEP: ClassVar[str] = "created"


@dataclass(frozen=True)
class ChunkReady:
    """dev.kscribe.chunk.ready.v1: one chunk's audio is stored. The event names the chunk by
    job and index; the rest describes it and is only checked against the job's manifest, so
    a re-driven or dead-lettered event may leave it out (None)."""

    TYPE: ClassVar[str] = CHUNK_READY
    job_id: str
    index: int
    count: int | None = None
    uri: str | None = None
    start_s: float | None = None
    duration_s: float | None = None
    # The track's channel the chunk holds (1-based; 0: every channel mixed).
    channel: int | None = None

    @classmethod
    def from_dict(cls, data: Any) -> ChunkReady:
        data = _mapping(data)
        return cls(
            job_id=_job_id(data),
            index=_int(data, "index", 0),
            count=_int(data, "count", 1) if "count" in data else None,
            uri=_str(data, "uri") if "uri" in data else None,
            start_s=_number(data, "start_s") if "start_s" in data else None,
            duration_s=_number(data, "duration_s") if "duration_s" in data else None,
            channel=_int(data, "channel", 0) if "channel" in data else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {name: value for name, value in dataclasses.asdict(self).items() if value is not None}

    def event(self, speakers: bool = False) -> Event:
        """The event; ``speakers`` (the job asked for speaker labels) routes it to diarize too."""
        return Event(
            self.TYPE,
            self.to_dict(),
            id=f"{self.job_id}/chunk/{self.index}",
            subject=self.job_id,
            extensions={SPEAKERS_EXTENSION: "true"} if speakers else {},
        )


@dataclass(frozen=True)
class JobTranscribed(_JobStep):
    """dev.kscribe.job.transcribed.v1: every chunk is transcribed."""

    TYPE: ClassVar[str] = JOB_TRANSCRIBED
    STEP: ClassVar[str] = "transcribed"


@dataclass(frozen=True)
class JobCompleted:
    """dev.kscribe.job.completed.v1: the transcript files are written."""

    TYPE: ClassVar[str] = JOB_COMPLETED
    job_id: str
    source: str
    outputs: dict[str, str]
    duration_s: float
    language: str
    model: str
    # Time-limited links to each output (format → {"url", "expires_at"}), when made.
    links: dict[str, dict[str, Any]] | None = None
    # Seconds of transcribed speech per language, most first (absent: no speech, or an
    # event from before kscribe counted them).
    languages: dict[str, float] | None = None

    @classmethod
    def from_dict(cls, data: Any) -> JobCompleted:
        data = _mapping(data)
        outputs = data.get("outputs")
        if not isinstance(outputs, Mapping) or not all(isinstance(v, str) for v in outputs.values()):
            raise MalformedEvent("no valid outputs")
        return cls(
            job_id=_job_id(data),
            source=_str(data, "source"),
            outputs=dict(outputs),
            duration_s=_number(data, "duration_s"),
            language=_str(data, "language"),
            model=_str(data, "model"),
            links=_links(data["links"]) if "links" in data else None,
            languages=_seconds_by_name(data["languages"], "languages") if "languages" in data else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {name: value for name, value in dataclasses.asdict(self).items() if value is not None}

    def event(self) -> Event:
        return Event(self.TYPE, self.to_dict(), id=f"{self.job_id}/completed", subject=self.job_id)


@dataclass(frozen=True)
class JobFailed:
    """dev.kscribe.job.failed.v1: the job failed at ``failed_stage``; ``error`` is meant for
    the uploader. The names are the job record's, the API's and the callback's.

    ``stage`` and ``reason`` carry the same values under the names this event had before;
    they are deprecated and written for one more release so consumers can move over.
    """

    TYPE: ClassVar[str] = JOB_FAILED
    job_id: str
    failed_stage: str
    error: str

    @classmethod
    def from_dict(cls, data: Any) -> JobFailed:
        data = _mapping(data)
        # An event from a producer of the release before names them stage and reason only.
        stage = "failed_stage" if "failed_stage" in data else "stage"
        error = "error" if "error" in data else "reason"
        return cls(_job_id(data), _str(data, stage), _str(data, error))

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "failed_stage": self.failed_stage,
            "error": self.error,
            "stage": self.failed_stage,  # deprecated: failed_stage
            "reason": self.error,  # deprecated: error
        }

    def event(self) -> Event:
        return Event(self.TYPE, self.to_dict(), id=f"{self.job_id}/failed", subject=self.job_id)


def _count(data: Mapping[str, Any], name: str) -> int:
    return _int(data, name, 0)


@dataclass(frozen=True)
class BatchCompleted:
    """dev.kscribe.batch.completed.v1: every job of a batch ended (succeeded, failed or
    cancelled). Announced once, by whatever ended the batch's last job; the reconciler
    publishes it again only if it was lost, or while the batch's callback is undelivered."""

    TYPE: ClassVar[str] = BATCH_COMPLETED
    batch_id: str
    total: int
    succeeded: int
    failed: int
    cancelled: int
    job_ids: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Any) -> BatchCompleted:
        data = _mapping(data)
        batch_id = data.get("batch_id")
        if not isinstance(batch_id, str) or not _JOB_ID.match(batch_id):
            raise MalformedEvent("no valid batch_id")
        job_ids = data.get("job_ids")
        if not isinstance(job_ids, list) or not all(isinstance(j, str) and _JOB_ID.match(j) for j in job_ids):
            raise MalformedEvent("no valid job_ids")
        return cls(
            batch_id=batch_id,
            total=_count(data, "total"),
            succeeded=_count(data, "succeeded"),
            failed=_count(data, "failed"),
            cancelled=_count(data, "cancelled"),
            job_ids=tuple(job_ids),
        )

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "job_ids": list(self.job_ids)}

    def event(self) -> Event:
        return Event(self.TYPE, self.to_dict(), id=f"{self.batch_id}/completed", subject=self.batch_id)


KscribeEvent = JobCreated | ChunkReady | JobTranscribed | JobCompleted | JobFailed | BatchCompleted

TYPES: dict[str, type[KscribeEvent]] = {
    t.TYPE: t for t in (JobCreated, ChunkReady, JobTranscribed, JobCompleted, JobFailed, BatchCompleted)
}


def job_id_of(data: Any) -> str:
    """The job a kscribe event names, whatever its type (notify and the dead-letter sink
    read everything else from the job record); ``MalformedEvent`` if none."""
    return _job_id(_mapping(data))


def job_created(job_id: str) -> Event:
    return JobCreated(job_id).event()


def chunk_ready(chunk: Chunk, speakers: bool = False) -> Event:
    """chunk.ready for ``chunk``; ``speakers``: its job asked for speaker labels."""
    return ChunkReady(
        chunk.job_id, chunk.index, chunk.count, chunk.uri, chunk.start_s, chunk.duration_s, chunk.channel
    ).event(speakers)


def job_transcribed(job_id: str) -> Event:
    return JobTranscribed(job_id).event()


def job_failed(job_id: str, failed_stage: str, error: str) -> Event:
    return JobFailed(job_id, failed_stage, error).event()


def job_completed_for(job: Job) -> Event:
    """job.completed for a finished ``job`` (publish announces it; the reconciler repeats it)."""
    return JobCompleted(
        job_id=job.id,
        source=job.source_uri,
        outputs=dict(job.outputs),
        duration_s=job.duration_s,
        language=job.detected_language,
        model=job.model,
        languages=dict(job.languages) or None,
    ).event()


FINISHED_STATUS = {events.JOB_COMPLETED: JobStatus.SUCCEEDED, events.JOB_FAILED: JobStatus.FAILED}
