"""KSCRIBE_EVENT_AUTH=oidc through functions-framework: a delivery without the broker's token
is answered 401 and counted, before any handler runs."""

import json

import pytest
from cloudevents.conversion import to_binary
from prometheus_client import REGISTRY

from kscribe import events
from tests.functional.conftest import binary_headers, object_notification, post_cloudevent
from tests.oidc_issuer import AUDIENCE, ISSUER, SENDER, Issuer


@pytest.fixture
def issuer():
    issuer = Issuer()
    yield issuer
    issuer.close()


def rejected(event_type: str) -> float:
    return (
        REGISTRY.get_sample_value("kscribe_events_rejected_total", {"type": event_type, "reason": "unauthenticated"})
        or 0.0
    )


def test_only_the_broker_token_gets_an_event_handled(apps, sink, ctx, sample_copy, issuer):
    ctx.settings = ctx.settings.replace(
        event_auth="oidc",
        event_jwks_url=issuer.jwks_url,
        event_issuer=ISSUER,
        event_audience=AUDIENCE,
        event_senders=(SENDER,),
    )
    notification = json.dumps(object_notification(sample_copy))
    bearer = {"Authorization": f"Bearer {issuer.token()}"}
    r = apps["ingest"].post("/", headers={**binary_headers(events.OBJECT_FINALIZED, "a1"), **bearer}, data=notification)
    assert r.status_code == 200
    [created] = sink.take()

    before = rejected(events.JOB_CREATED)
    ce_headers, body = to_binary(created)
    for headers in (
        {},
        {"Authorization": f"Bearer {issuer.token(sub='system:serviceaccount:x:y')}"},
        {"Authorization": f"Bearer {issuer.token(aud='kscribe/publish')}"},
    ):
        r = apps["extract"].post("/", headers={**ce_headers, **headers}, data=body)
        assert r.status_code == 401 and r.json["error"]["code"] == "unauthenticated"
    assert sink.take() == [], "no handler ran"
    r = apps["extract"].post("/", headers={**ce_headers, **bearer}, data=body)
    assert r.status_code == 200 and {e["type"] for e in sink.take()} == {events.CHUNK_READY}
    assert rejected(events.JOB_CREATED) == before + 3
    r = apps["dead-letter"].post(
        "/",
        headers=binary_headers(events.JOB_CREATED, "d1", knativeerrorcode="500"),
        data=json.dumps({"job_id": created.data["job_id"]}),
    )
    assert r.status_code == 401, "the dead-letter sink checks too"
    before_other = rejected("other")
    r = apps["extract"].post("/", headers=binary_headers("com.example.anything", "x1"), data="{}")
    assert r.status_code == 401 and rejected("other") == before_other + 1, "made-up types share one label"


def test_without_the_setting_nothing_changes(apps, sink, ctx, sample_copy):
    r = apps["ingest"].post(
        "/", headers=binary_headers(events.OBJECT_FINALIZED, "a2"), data=json.dumps(object_notification(sample_copy))
    )
    [created] = sink.take()
    assert r.status_code == 200 and created["type"] == events.JOB_CREATED
    assert post_cloudevent(apps["extract"], created).status_code == 200
    assert {e["type"] for e in sink.take()} == {events.CHUNK_READY}


def test_publishes_carry_the_token_the_sink_binding_mounts(apps, sink, tmp_path):
    import runtime

    from kscribe.events import job_created

    token_file = tmp_path / "oidc-token"
    token_file.write_text("first-token\n")
    publisher = runtime.HttpSink(sink.url, 5.0, str(token_file))
    publisher.publish([job_created("a" * 32)])
    token_file.write_text("rotated-token")  # the kubelet rewrites it in place
    publisher.publish([job_created("b" * 32)])
    assert [h.get("Authorization") for h in sink.headers] == ["Bearer first-token", "Bearer rotated-token"]
    runtime.HttpSink(sink.url, 5.0).publish([job_created("c" * 32)])
    assert "Authorization" not in sink.headers[-1], "no token configured, none sent"
