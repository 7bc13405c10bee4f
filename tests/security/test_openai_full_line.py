"""Review of issue 22's backpressure on the OpenAI route: with the line full, the route read
the whole upload (up to 512 MiB onto the api's scratch, within the pod's upload budget) and only
then met QueueFull at the job's creation — 429 queue_full after the upload, every retry
uploading again. Exactly when the pipeline is overloaded, refused clients filled the api's
disk budget (other tenants' uploads then 503). A full line is now refused before a byte of
the body is read, as a tenant at its quota is."""

from __future__ import annotations

import uuid

from kscribe.api.router import Api, ApiRequest
from kscribe.api.routes import openai as openai_api
from kscribe.values import Job
from tests.conftest import SAMPLE_VIDEO


def test_a_full_line_refuses_an_openai_upload_before_reading_it(ctx):
    ctx.settings = ctx.settings.replace(queue_max_jobs=1, tenant_max_active_jobs=0)
    token = ctx.api_keys.create("acme")[0]
    # One bucket upload waits in line: the line is full for API jobs.
    job = Job(
        id=uuid.uuid4().hex,
        source_uri="gs://in/tenants/globex/talk.mp4",
        source_generation="1",
        output_uri="gs://out/x",
        output_stem="talk",
        model="tiny.en",
        language=None,
        task="transcribe",
        formats=("txt",),
        tenant="globex",
    )
    ctx.jobs.create(job, f"bucket:{job.id}", max_active=-1)
    assert ctx.jobs.in_line() == 1
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="talk.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        + SAMPLE_VIDEO.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    read: list[int] = []

    def chunks():
        read.append(len(body))
        yield body

    request = ApiRequest(
        "POST",
        "/v1/audio/transcriptions",
        headers={
            "authorization": f"Bearer {token}",
            "content-type": f"multipart/form-data; boundary={boundary}",
            "content-length": str(len(body)),
        },
    )
    response = openai_api.OpenAiApi(Api(ctx)).handle(request, chunks, lambda produced: None)
    assert response.status == 429 and response.body["error"]["code"] == "queue_full", response.body
    assert int(response.headers["Retry-After"]) >= 5
    assert read == [], "the body was read before the full line refused it"
