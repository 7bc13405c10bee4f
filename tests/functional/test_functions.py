"""Every function through functions-framework, with real CloudEvent encodings."""

import base64
import importlib
import json
from pathlib import Path

from kscribe import events
from kscribe.values import Chunk, JobStatus
from kscribe_stack.triggers import load_routes
from tests.conftest import wait_for
from tests.functional.conftest import CATALOG, binary_headers, object_notification, post_cloudevent, validate


def drive(apps, sink, first_events, produced_by=None):
    """Route captured events to their consumers by the Triggers' filters, until none are
    left. Records which function produced which types."""
    produced_by = {} if produced_by is None else produced_by
    queue = list(first_events)
    routes = load_routes()
    while queue:
        event = queue.pop(0)
        consumers = [r.service for r in routes if r.matches(event.get_attributes())]
        assert set(consumers) <= set(CATALOG[event["type"]]["consumers"])
        for consumer in consumers:
            response = post_cloudevent(apps[consumer], event)
            assert response.status_code == 200, response.data
            for out in sink.take():
                validate(out["type"], out.data)
                produced_by.setdefault(consumer, set()).add(out["type"])
                queue.append(out)
    return produced_by


def test_an_upload_in_binary_mode_flows_through_every_function(apps, sink, ctx, sample_copy):
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0)
    response = apps["ingest"].post(
        "/", headers=binary_headers(events.OBJECT_FINALIZED, "n1"), data=json.dumps(object_notification(sample_copy))
    )
    assert response.status_code == 200
    created = sink.take()
    assert [e["type"] for e in created] == [events.JOB_CREATED]
    validate(events.JOB_CREATED, created[0].data)
    produced = drive(apps, sink, created, {"ingest": {events.JOB_CREATED}})
    for function, types in produced.items():
        for t in types:
            assert function in CATALOG[t]["producers"], f"{function} emits {t}, not in events/catalog.json"
    assert produced["extract"] == {events.CHUNK_READY} and produced["publish"] == {events.JOB_COMPLETED}
    job = ctx.jobs.require(created[0].data["job_id"])
    assert job.status is JobStatus.SUCCEEDED and job.chunks_total >= 3


def test_structured_mode_and_duplicates(apps, sink, sample_copy):
    body = {
        "specversion": "1.0",
        "type": events.OBJECT_FINALIZED,
        "source": "//storage.googleapis.com/x",
        "id": "n2",
        "datacontenttype": "application/json",
        "data": object_notification(sample_copy),
    }
    for _ in range(3):
        response = apps["ingest"].post(
            "/", headers={"Content-Type": "application/cloudevents+json"}, data=json.dumps(body)
        )
        assert response.status_code == 200
    assert [e["type"] for e in sink.take()] == [events.JOB_CREATED], "one job, announced once"


def test_a_pubsub_push_envelope_is_accepted(apps, sink, ctx, sample_copy):
    resource = object_notification(sample_copy)
    envelope = {
        "subscription": "projects/p/subscriptions/kscribe-ingest",
        "message": {
            "data": base64.b64encode(json.dumps(resource).encode()).decode(),
            "messageId": "77",
            "attributes": {"eventType": "OBJECT_FINALIZE", "payloadFormat": "JSON_API_V1"},
        },
    }
    assert apps["ingest"].post("/", json=envelope).status_code == 200
    created = sink.take()
    assert [e["type"] for e in created] == [events.JOB_CREATED]
    assert ctx.jobs.require(created[0].data["job_id"]).source_generation == resource["generation"]
    envelope["message"]["attributes"]["eventType"] = "OBJECT_DELETE"
    envelope["message"]["messageId"] = "78"
    assert apps["ingest"].post("/", json=envelope).status_code == 200
    assert sink.take() == [], "deletes are not jobs"


def test_bad_input_is_acknowledged_and_fails_the_job(apps, sink, ctx):
    bogus = Path(ctx.settings.input_uri) / "bogus.mp4"
    bogus.parent.mkdir(parents=True, exist_ok=True)
    bogus.write_bytes(b"\x00" * 2048)
    apps["ingest"].post(
        "/", headers=binary_headers(events.OBJECT_FINALIZED, "n3"), data=json.dumps(object_notification(bogus))
    )
    created = sink.take()
    response = post_cloudevent(apps["extract"], created[0])
    assert response.status_code == 200, "bad input must not be retried"
    failed = sink.take()
    assert [e["type"] for e in failed] == [events.JOB_FAILED]
    validate(events.JOB_FAILED, failed[0].data)
    data = failed[0].data
    assert data["failed_stage"] == "extract" and "not a readable" in data["error"]
    # The former names, deprecated, still carry the same values for one release.
    assert (data["stage"], data["reason"]) == (data["failed_stage"], data["error"])


def test_a_broker_outage_fails_the_request_and_the_redelivery_finishes(apps, sink, ctx, sample_copy):
    apps["ingest"].post(
        "/", headers=binary_headers(events.OBJECT_FINALIZED, "n4"), data=json.dumps(object_notification(sample_copy))
    )
    assert post_cloudevent(apps["extract"], sink.take()[0]).status_code == 200
    chunk = sink.take()[0]
    sink.status = 503
    assert post_cloudevent(apps["transcribe"], chunk).status_code == 500, "transient: let the broker retry"
    sink.take()
    sink.status = 202
    assert post_cloudevent(apps["transcribe"], chunk).status_code == 200
    assert [e["type"] for e in sink.take()] == [events.JOB_TRANSCRIBED], "the released claim is taken again"


def test_a_full_scratch_disk_answers_503_and_blames_nothing_on_the_file(apps, sink, ctx, sample_copy, monkeypatch):
    from kscribe.errors import ScratchFull

    extract = importlib.import_module("kscribe.pipeline.stages.extract")
    original = extract.decode_audio

    def full(*args, **kwargs):
        raise ScratchFull("the worker's scratch disk is full (No space left on device)")

    apps["ingest"].post(
        "/", headers=binary_headers(events.OBJECT_FINALIZED, "n9"), data=json.dumps(object_notification(sample_copy))
    )
    created = sink.take()[0]
    monkeypatch.setattr(extract, "decode_audio", full)
    # 503, as a pod without capacity answers: retried, and queued again if retries run out.
    assert post_cloudevent(apps["extract"], created).status_code == 503
    job = ctx.jobs.require(created.data["job_id"])
    assert job.status is not JobStatus.FAILED and not job.error
    monkeypatch.setattr(extract, "decode_audio", original)  # room again: the redelivery works
    assert post_cloudevent(apps["extract"], created).status_code == 200


def test_dead_lettered_events_fail_their_job_in_plain_words(apps, sink, ctx, sample_copy):
    apps["ingest"].post(
        "/", headers=binary_headers(events.OBJECT_FINALIZED, "n5"), data=json.dumps(object_notification(sample_copy))
    )
    job_id = sink.take()[0].data["job_id"]
    headers = binary_headers(
        events.JOB_CREATED,
        f"{job_id}/created",
        knativeerrorcode="500",
        knativeerrordest="http://extract.kscribe.svc.cluster.local",
        knativeerrordata=base64.b64encode(b"redis timeout").decode(),
    )
    assert apps["dead-letter"].post("/", headers=headers, data=json.dumps({"job_id": job_id})).status_code == 200
    job = ctx.jobs.require(job_id)
    assert job.status is JobStatus.FAILED and job.failed_stage == "extract"
    # Knative's detail (a cluster address, the subscriber's answer) is the operator's, in the log.
    assert job.error == "the extract step kept failing and was given up after its retries"
    assert [e["type"] for e in sink.take()] == [events.JOB_FAILED]


def test_a_chunk_ready_dead_lettered_by_diarize_fails_the_job_at_diarize(apps, sink, ctx, sample_copy):
    """Both chunk.ready subscribers dead-letter the same event; the sink address says whose
    retries ran out."""
    ctx.settings = ctx.settings.replace(diarize=True, chunk_target_s=8.0)
    apps["ingest"].post(
        "/", headers=binary_headers(events.OBJECT_FINALIZED, "n6"), data=json.dumps(object_notification(sample_copy))
    )
    [created] = sink.take()
    ctx.jobs.update(created.data["job_id"], speakers=1)  # as an upload asking for speakers makes it
    assert post_cloudevent(apps["extract"], created).status_code == 200
    chunk = sink.take()[0]
    assert chunk[events.SPEAKERS_EXTENSION] == "true"
    assert post_cloudevent(apps["transcribe"], chunk).status_code == 200  # its transcript is stored
    job_id = chunk.data["job_id"]
    gave_up = binary_headers(
        events.CHUNK_READY,
        chunk["id"],
        knativeerrorcode="500",
        knativeerrordest="http://diarize.kscribe.svc.cluster.local",
        knativeerrordata=base64.b64encode(b"out of memory").decode(),
    )
    body = json.dumps(chunk.data)
    # Dead-lettered at transcribe's address: its part is stored, so that is no failure.
    assert apps["dead-letter"].post("/transcribe", headers=gave_up, data=body).status_code == 200
    assert ctx.jobs.require(job_id).status is JobStatus.TRANSCRIBING and sink.take() == []
    assert apps["dead-letter"].post("/diarize", headers=gave_up, data=body).status_code == 200
    job = ctx.jobs.require(job_id)
    assert job.status is JobStatus.FAILED and job.failed_stage == "diarize"
    assert job.error == "the diarize step kept failing and was given up after its retries"
    [failed] = sink.take()
    assert failed.data["failed_stage"] == "diarize"


def test_chunk_ready_reaches_diarize_only_when_its_job_asked_for_speakers(apps, sink):
    """The kscribespeakers extension goes out on the wire, and diarize's Trigger filters on it."""
    import runtime

    chunk = Chunk(job_id="a" * 32, index=0, count=1, uri="gs://work/a/0.flac", start_s=0.0, duration_s=8.0)
    runtime.HttpSink(sink.url, 5.0).publish([events.chunk_ready(chunk, speakers=True), events.chunk_ready(chunk)])
    flagged, plain = sink.take()
    assert flagged[events.SPEAKERS_EXTENSION] == "true" and events.SPEAKERS_EXTENSION not in plain.get_attributes()
    routes = load_routes()
    assert {r.service for r in routes if r.matches(flagged.get_attributes())} == {"transcribe", "diarize"}
    assert {r.service for r in routes if r.matches(plain.get_attributes())} == {"transcribe"}


def test_health_routes(apps):
    assert apps["publish"].get("/health/live").json == {"status": "ok"}
    assert apps["publish"].get("/health/ready").status_code == 200


def test_transcribe_is_ready_only_once_its_model_is_loaded(ctx, monkeypatch, tmp_path):
    import functions_framework

    from kscribe.asr.whisper import WhisperTranscriber
    from tests.functional.conftest import FUNCTIONS

    client = functions_framework.create_app("transcribe", str(FUNCTIONS / "transcribe.py")).test_client()
    import runtime

    ctx.transcriber = WhisperTranscriber(tmp_path / "models")
    monkeypatch.setattr(runtime, "context", lambda: ctx)
    first = client.get("/health/ready")
    assert first.status_code == 503 and first.json["checks"]["model"]["error"] == "model is loading"
    wait_for(lambda: client.get("/health/ready").status_code == 200, timeout_s=60)


def test_the_reconciler_answers_the_ping_with_the_events_a_lost_one_stranded(apps, sink, ctx, sample_copy):
    """A job created while the broker lost its job.created: the PingSource's event (as
    Knative sends it, JSON `{}`) makes the reconcile function publish it again."""
    ctx.settings = ctx.settings.replace(redrive_after_s=1)
    response = apps["ingest"].post(
        "/", headers=binary_headers(events.OBJECT_FINALIZED, "n9"), data=json.dumps(object_notification(sample_copy))
    )
    assert response.status_code == 200
    [created] = sink.take()  # ...and the broker lost it
    job_id = created.data["job_id"]
    ctx.jobs.redis.hset(f"kscribe:job:{job_id}", "updated_at", "1")  # quiet for long
    ctx.jobs.redis.zadd("kscribe:jobs:active", {job_id: 1})
    ping = binary_headers("dev.knative.sources.ping", "p1")
    assert apps["reconcile"].post("/", headers=ping, data="{}").status_code == 200
    assert [e["id"] for e in sink.take()] == [f"{job_id}/created"]
    assert ctx.jobs.require(job_id).redrives == 1
    other = binary_headers(events.JOB_CREATED, "x1")
    assert apps["reconcile"].post("/", headers=other, data=json.dumps({"job_id": job_id})).status_code == 200
    assert sink.take() == [], "only the ping drives it"
