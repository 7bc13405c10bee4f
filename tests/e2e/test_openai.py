"""The OpenAI-compatible routes, signed result links and purges, through the official
``openai`` client against the local multi-process stack."""

from __future__ import annotations

import json
import time
import warnings

import openai
import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from kscribe.asr import voices
from kscribe.delivery import links
from kscribe.events import OBJECT_FINALIZED
from kscribe.state import keys
from kscribe.tenancy.apikeys import ApiKeys
from tests.conftest import SAMPLE_VIDEO, wait_for
from tests.stack import Stack

pytestmark = pytest.mark.model
LINK_SECRET = "test-link-secret"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openai")
    env = {"KSCRIBE_LINK_SECRET": LINK_SECRET, "KSCRIBE_LINK_EXPIRY_SECONDS": "600"}
    if voices.available():  # diarized_json: speakers by voice, through the diarize process
        env["KSCRIBE_DIARIZE"] = "true"
    s = Stack(tmp, env=env)
    # Links are absolute once the api knows where it is served.
    yield s
    s.stop()


@pytest.fixture(scope="module")
def tenant(stack):
    token = ApiKeys(stack.redis).create("acme")[0]
    client = openai.OpenAI(api_key=token, base_url=stack.url["api"] + "/v1", max_retries=0, timeout=180)
    yield {"token": token, "client": client, "headers": {"Authorization": f"Bearer {token}"}}
    client.close()


def jobs_of(stack, tenant_name):
    return stack.redis.zrange(keys.tenant_jobs(tenant_name), 0, -1)


def transcribe(client, **kwargs):
    with open(SAMPLE_VIDEO, "rb") as f:
        return client.audio.transcriptions.with_raw_response.create(file=("meeting.mp4", f), **kwargs)


def test_every_response_format_through_the_openai_client(stack, tenant):
    client = tenant["client"]
    started = time.monotonic()
    raw = transcribe(client, model="whisper-1", response_format="verbose_json", timestamp_granularities=["word"])
    elapsed = time.monotonic() - started
    print(f"round trip, verbose_json with words: {elapsed:.1f} s")
    assert raw.http_request.headers["authorization"] == f"Bearer {tenant['token']}"
    assert raw.status_code == 200, raw.text
    verbose = raw.parse()
    assert verbose.language == "english" and verbose.duration > 25
    assert "meeting" in verbose.text.lower() or len(verbose.text) > 100
    assert verbose.segments and verbose.segments[0].end > verbose.segments[0].start
    assert verbose.words and all(w.end >= w.start for w in verbose.words)
    job_id = raw.headers["x-kscribe-job-id"]

    # Every format of the same file: ordinary jobs through the ordinary pipeline, one each.
    before = set(jobs_of(stack, "acme"))
    plain = transcribe(client, model="whisper-1", response_format="json", language="en").parse()
    assert plain.text.strip() == verbose.text.strip()
    text = transcribe(client, model="tiny.en", response_format="text").parse()
    assert isinstance(text, str) and text.strip() == verbose.text.strip()
    srt_raw = transcribe(client, model="whisper-1", response_format="srt", temperature=0.2, prompt="a meeting")
    srt = srt_raw.parse()
    assert srt.startswith("1\n00:00:") and " --> " in srt
    # The prompt reaches the job as Whisper's initial prompt, as the kscribe API's field does.
    prompted = requests.get(
        stack.url["api"] + f"/api/v1/transcriptions/{srt_raw.headers['x-kscribe-job-id']}",
        headers=tenant["headers"],
        timeout=10,
    )
    assert prompted.json()["prompt"] == "a meeting"
    vtt = transcribe(client, model="whisper-1", response_format="vtt").parse()
    assert vtt.startswith("WEBVTT") and " --> " in vtt
    with warnings.catch_warnings():  # the client marks its translations method deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        translated = client.audio.translations.with_raw_response.create(
            file=("meeting.mp4", SAMPLE_VIDEO.read_bytes()), model="whisper-1", response_format="json"
        )
    assert translated.status_code == 200 and translated.parse().text.strip()
    assert len(set(jobs_of(stack, "acme")) - before) == 5

    # The job is an ordinary one: the kscribe API shows it, with links that need no key.
    view = requests.get(stack.url["api"] + f"/api/v1/transcriptions/{job_id}", headers=tenant["headers"], timeout=10)
    assert view.status_code == 200 and view.json()["status"] == "succeeded"
    assert "/tenants/acme/openai/" in view.json()["source"]
    srt_link = view.json()["links"]["srt"]
    assert srt_link["url"].startswith(stack.url["api"] + "/api/v1/links/")
    served = requests.get(srt_link["url"], timeout=10)
    assert served.status_code == 200 and served.text.startswith("1\n")


def test_diarized_json_and_its_stream_through_the_openai_client(stack, tenant):
    if not voices.available():
        pytest.skip(f"needs the diarize extra ({voices.INSTALL_HINT})")
    client = tenant["client"]
    raw = transcribe(client, model="gpt-4o-transcribe-diarize", response_format="diarized_json")
    assert raw.status_code == 200, raw.text
    diarized = raw.parse()
    assert diarized.task == "transcribe" and diarized.duration > 25 and "planning meeting" in diarized.text
    assert diarized.segments and all(s.type == "transcript.text.segment" and s.speaker for s in diarized.segments)
    assert diarized.segments[0].speaker == "A", "one voice in the sample: lettered from A"
    job = requests.get(
        stack.url["api"] + f"/api/v1/transcriptions/{raw.headers['x-kscribe-job-id']}",
        headers=tenant["headers"],
        timeout=10,
    ).json()
    assert job["speakers"], job
    with open(SAMPLE_VIDEO, "rb") as f:
        events = list(
            client.audio.transcriptions.create(
                file=("meeting.mp4", f), model="gpt-4o-transcribe-diarize", response_format="diarized_json", stream=True
            )
        )
    kinds = [e.type for e in events]
    assert kinds[0] == "transcript.text.delta" and kinds[-1] == "transcript.text.done", kinds
    said = [e for e in events if e.type == "transcript.text.segment"]
    assert said and [e.text for e in said] == [s.text for s in diarized.segments]


def test_unknown_model_and_bad_key_answer_in_openai_error_shape(stack, tenant):
    with pytest.raises(openai.BadRequestError) as bad:
        transcribe(tenant["client"], model="whisper-9000")
    error = bad.value.body
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == "model" and error["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as long_prompt:
        transcribe(tenant["client"], model="whisper-1", prompt="word " * 1000)
    assert long_prompt.value.body["param"] == "prompt"
    with (
        openai.OpenAI(api_key="ksk_nope", base_url=stack.url["api"] + "/v1", max_retries=0) as nobody,
        pytest.raises(openai.AuthenticationError) as unauthorized,
    ):
        transcribe(nobody, model="whisper-1")
    assert unauthorized.value.body["code"] == "invalid_api_key"


def test_a_long_wait_answers_202_with_the_status_url(stack, tenant):
    raw = transcribe(tenant["client"], model="whisper-1", response_format="json", extra_headers={"Prefer": "wait=0"})
    assert raw.status_code == 202
    body = json.loads(raw.text)
    assert body["status_url"] == f"/api/v1/transcriptions/{body['id']}" == raw.headers["location"]
    url = stack.url["api"] + body["status_url"]

    def finished():
        job = requests.get(url, headers=tenant["headers"], timeout=10).json()
        return job if job["status"] in ("succeeded", "failed") else None

    job = wait_for(finished, timeout_s=180, interval_s=0.5)
    assert job["status"] == "succeeded"


def _notify(stack, uri, generation):
    bucket, name = uri[len("gs://") :].split("/", 1)
    event = CloudEvent(
        {
            "type": OBJECT_FINALIZED,
            "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            "id": f"{uri}#{generation}",
            "datacontenttype": "application/json",
        },
        {"bucket": bucket, "name": name, "generation": generation, "size": "1"},
    )
    headers, body = to_binary(event)
    return requests.post(stack.url["ingest"], data=body, headers=headers, timeout=30)


def test_the_uploads_notification_makes_no_second_job_and_a_purge_leaves_nothing(stack, tenant):
    raw = transcribe(tenant["client"], model="whisper-1", response_format="json", extra_headers={"Prefer": "wait=0"})
    job_id = json.loads(raw.text)["id"]
    job = stack.redis.hgetall(keys.job(job_id))
    before = set(jobs_of(stack, "acme"))
    # The bucket's notification for that very upload, as Eventarc would deliver it.
    assert _notify(stack, job["source_uri"], job["source_generation"]).status_code < 300
    assert set(jobs_of(stack, "acme")) == before
    assert stack.redis.get(keys.object_job(f"{job['source_uri']}#{job['source_generation']}")) == job_id

    url = stack.url["api"] + f"/api/v1/transcriptions/{job_id}"
    wait_for(
        lambda: requests.get(url, headers=tenant["headers"], timeout=10).json()["status"] == "succeeded",
        timeout_s=180,
        interval_s=0.5,
    )
    link = requests.get(url, headers=tenant["headers"], timeout=10).json()["links"]["json"]["url"]
    assert requests.get(link, timeout=10).status_code == 200

    # Another tenant cannot purge it: the same 204 as for a missing id, and the job stays.
    other = {"Authorization": f"Bearer {ApiKeys(stack.redis).create('other')[0]}"}
    assert requests.delete(url + "?purge=true", headers=other, timeout=10).status_code == 204
    assert stack.redis.exists(keys.job(job_id))

    for _ in range(2):  # idempotent
        assert requests.delete(url + "?purge=true", headers=tenant["headers"], timeout=10).status_code == 204
    assert requests.get(url, headers=tenant["headers"], timeout=10).status_code == 404
    assert requests.get(link, timeout=10).status_code == 404
    assert [k for k in stack.redis.scan_iter("*") if job_id in k] == []
    assert all(job_id not in stack.redis.zrange(k, 0, -1) for k in stack.redis.scan_iter("*", _type="zset"))
    gcs = stack.storage()
    left = [
        b.name
        for bucket in ("kscribe-input", "kscribe-work", "kscribe-output")
        for b in gcs.list_blobs(bucket)
        if job_id in b.name or job["source_uri"].endswith(b.name)
    ]
    assert left == []
    assert '"action": "purge"' in stack.log_path.read_text()


def test_a_link_stops_working_after_expiry_and_with_another_signature(stack, tenant):
    [job_id] = [j for j in jobs_of(stack, "acme") if stack.redis.hget(keys.job(j), "status") == "succeeded"][:1]
    fmt = "srt"
    base = stack.url["api"] + links.PREFIX
    secret = LINK_SECRET.encode()
    past = int(time.time()) - 1
    expired = f"{job_id}.{fmt}.{past}.{links._signature(secret, job_id, fmt, past)}"
    assert requests.get(base + expired, timeout=10).status_code == 403
    future = int(time.time()) + 60
    good = f"{job_id}.{fmt}.{future}.{links._signature(secret, job_id, fmt, future)}"
    assert requests.get(base + good, timeout=10).status_code == 200
    # The same token for another output, or a later expiry, does not verify.
    assert requests.get(base + good.replace(".srt.", ".vtt."), timeout=10).status_code == 403
    forged = f"{job_id}.{fmt}.{future + 999}.{good.rsplit('.', 1)[1]}"
    assert requests.get(base + forged, timeout=10).status_code == 403
