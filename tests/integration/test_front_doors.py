"""What the API's front doors answer before any job exists, through the in-process router
and the OpenAI routes against real Redis: refusals name what was wrong, in each door's shape;
and every door (the CLI and storage notifications too) reads and checks a job's choices once."""

from __future__ import annotations

import collections
import importlib
import json
import os
import shutil
from pathlib import Path

import pytest

from kscribe import choices as choices_module
from kscribe.api import body
from kscribe.api.input import bytes_reader
from kscribe.api.router import Api, ApiRequest
from kscribe.api.routes import openai as openai_api
from kscribe.asr.models import available_models
from kscribe.choices import JobChoices
from kscribe.cli import main as cli_main
from kscribe.pipeline import runner
from kscribe.pipeline.runner import LocalPipeline
from kscribe.pipeline.stages import layout
from kscribe.storage import LocalStore
from kscribe.storage.notices import notice_of
from kscribe.tenancy.tenants import upload_prefix
from kscribe.values import ChunkTranscript, Job, JobStatus, Segment
from tests.conftest import SAMPLE_VIDEO

# The module (``kscribe.pipeline.stages`` names its function ``ingest`` too).
ingest_stage = importlib.import_module("kscribe.pipeline.stages.ingest")


@pytest.fixture
def api(ctx):
    ctx.settings = ctx.settings.replace(api_local_sources=True)
    return Api(ctx)


@pytest.fixture
def token(ctx):
    return ctx.api_keys.create("acme")[0]


def call(api, token, method, path, body=None, query=None):
    return api.handle(
        ApiRequest(
            method,
            path,
            query=query or {},
            headers={"authorization": f"Bearer {token}"},
            read_body=bytes_reader(json.dumps(body).encode() if body is not None else b""),
        )
    )


def openai_form(api, token, path="/v1/audio/transcriptions", **fields):
    boundary = "b0undary"
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, values in fields.items()
        for value in (values if isinstance(values, list) else [values])
    )
    body = (
        parts
        + (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="talk.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        + SAMPLE_VIDEO.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = ApiRequest(
        "POST",
        path,
        headers={
            "authorization": f"Bearer {token}",
            "content-type": f"multipart/form-data; boundary={boundary}",
            "content-length": str(len(body)),
        },
    )
    published: list = []
    return openai_api.OpenAiApi(api).handle(request, lambda: iter([body]), published.extend), published


@pytest.mark.parametrize(("language", "named"), [("xx", "'xx' is not a language"), ("de", "tiny.en speaks only en")])
def test_a_language_the_model_does_not_speak_is_refused_at_every_door(api, ctx, token, language, named):
    r = call(api, token, "POST", "/api/v1/transcriptions", {"source": str(SAMPLE_VIDEO), "language": language})
    assert r.status == 400 and r.body["error"]["code"] == "invalid_language", r.body
    assert named in r.body["error"]["message"]
    r, published = openai_form(api, token, model="whisper-1", language=language)
    assert r.status == 400 and r.body["error"]["code"] == "invalid_language", r.body
    assert r.body["error"]["param"] == "language" and named in r.body["error"]["message"]
    assert not published and not ctx.jobs.in_line()


def openai_get(api, token, path):
    request = ApiRequest("GET", path, headers={"authorization": f"Bearer {token}"} if token else {})
    return openai_api.OpenAiApi(api).handle(request, lambda: iter(()), lambda _: None)


def test_the_models_installed_here_are_listed_in_openai_s_shape(api, token):
    assert openai_api.handles("/v1/models") and openai_api.handles("/v1/models/tiny.en")
    r = openai_get(api, token, "/v1/models")
    assert r.status == 200 and r.body["object"] == "list", r.body
    ids = [m["id"] for m in r.body["data"]]
    assert "tiny.en" in ids and "whisper-1" in ids
    assert set(ids) == {*available_models(), "whisper-1"}
    for model in r.body["data"]:
        assert set(model) == {"id", "object", "created", "owned_by"} and model["object"] == "model"
        assert isinstance(model["created"], int)
    tiny = next(m for m in r.body["data"] if m["id"] == "tiny.en")
    assert tiny["created"] > 1_600_000_000
    one = openai_get(api, token, "/v1/models/tiny.en")
    assert one.status == 200 and one.body == tiny
    missing = openai_get(api, token, "/v1/models/huge-v9")
    assert missing.status == 404
    assert missing.body["error"]["code"] == "model_not_found" and "huge-v9" in missing.body["error"]["message"]
    assert missing.body["error"]["type"] == "invalid_request_error"
    anonymous = openai_get(api, "", "/v1/models")
    assert anonymous.status == 401 and anonymous.body["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("fields", "code", "param"),
    [
        ({"response_format": "json", "timestamp_granularities[]": "word"}, "invalid_timestamp_granularities", None),
        ({"response_format": "text", "timestamp_granularities[]": ["segment", "word"]}, None, None),
        ({"timestamp_granularities[]": "word"}, "invalid_timestamp_granularities", None),  # json is the default
        ({"stream": "true", "response_format": "srt"}, "stream_unsupported", "stream"),
        ({"stream": "true", "response_format": "verbose_json"}, "stream_unsupported", "stream"),
    ],
)
def test_what_openai_refuses_is_a_400_never_a_quiet_success(api, ctx, token, fields, code, param):
    r, published = openai_form(api, token, model="whisper-1", **fields)
    assert r.status == 400, r.body
    assert r.body["error"]["code"] == (code or "invalid_timestamp_granularities")
    assert r.body["error"]["param"] == (param or "timestamp_granularities")
    assert not published and not ctx.jobs.in_line()


def test_the_job_view_has_iso_times_and_a_download_names_its_file(api, ctx, token, tmp_path):
    from datetime import datetime

    source = Path(upload_prefix(ctx.settings, "acme")) / "talk.mp4"
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_VIDEO, source)
    created = call(api, token, "POST", "/api/v1/transcriptions", {"source": str(source)})
    assert created.status == 202, created.body
    job_id = created.body["id"]
    view = call(api, token, "GET", f"/api/v1/transcriptions/{job_id}").body
    for name in ("created_at", "updated_at"):
        iso = view[f"{name}_iso"]
        assert iso.endswith("Z"), iso
        assert abs(datetime.fromisoformat(iso).timestamp() - view[name]) < 0.001
    # Its outputs, as publish leaves them.
    job = ctx.jobs.require(job_id)
    out = f"{job.output_uri.rstrip('/')}/{job.output_stem}.srt"
    ctx.blobs.write_bytes(out, b"1\n00:00:00,000 --> 00:00:01,000\nHi.\n")
    ctx.jobs.update(job_id, status=JobStatus.SUCCEEDED, outputs={"srt": out})
    r = call(api, token, "GET", f"/api/v1/transcriptions/{job_id}/transcript", query={"format": "srt"})
    assert r.status == 200, r.body
    assert r.headers["Content-Disposition"] == (
        f"attachment; filename=\"{job.output_stem}.srt\"; filename*=UTF-8''{job.output_stem}.srt"
    )


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELLED])
def test_an_ended_job_that_did_not_succeed_shows_how_far_it_came(status):
    from dataclasses import replace

    job = Job(
        id="a" * 32,
        source_uri="/in/talk.mp4",
        source_generation="1",
        output_uri="/out",
        output_stem="talk",
        model="tiny.en",
        language=None,
        task="transcribe",
        formats=("srt",),
    )
    assert replace(job, status=status).progress == 0
    half = replace(job, status=status, duration_s=60.0, transcribed_s=30.0)
    assert half.progress == replace(half, status=JobStatus.TRANSCRIBING).progress == 52.5
    assert replace(job, status=JobStatus.SUCCEEDED).progress == 100


def test_docs_serves_swagger_ui_from_its_package_reading_the_api_s_document(api):
    page = api.handle(ApiRequest("GET", "/docs"))
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html"), page.body
    html = page.body.decode()
    # Every script and style is the api's own: nothing from a CDN, nothing inline.
    assert 'src="/docs/swagger-ui-bundle.js"' in html and 'href="/docs/swagger-ui.css"' in html
    assert "http://" not in html and "https://" not in html and "<script>" not in html
    init = api.handle(ApiRequest("GET", "/web/docs.js"))
    assert init.status == 200 and b'url: "/openapi.json"' in init.body
    bundle = api.handle(ApiRequest("GET", "/docs/swagger-ui-bundle.js"))
    assert bundle.status == 200 and bundle.headers["Content-Type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in bundle.body and len(bundle.body) > 500_000
    css = api.handle(ApiRequest("GET", "/docs/swagger-ui.css"))
    assert css.status == 200 and b".swagger-ui" in css.body
    for name in ("../web/app.js", "VERSION", "index.css", "swagger-ui.js"):
        assert api.handle(ApiRequest("GET", f"/docs/{name}")).status == 404, name


def _events(stream):
    from openai._streaming import SSEDecoder  # what the official SDK reads the answer with

    return [(e.event, e.json()) for e in SSEDecoder().iter_bytes(stream)]


def test_stream_true_sends_openai_s_events_as_the_chunks_finish(api, ctx, token):
    ctx.settings = ctx.settings.replace(api_timeout_s=60.0, openai_wait_s=60.0)
    r, published = openai_form(api, token, model="whisper-1", stream="true")
    assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream" and r.stream is not None, r.body
    assert published, "the job is announced before the stream starts"
    job_id = r.headers["X-Kscribe-Job-Id"]
    job = ctx.jobs.require(job_id)
    # The first of two chunks is done: its text goes out, the second's is not there yet.
    first = ChunkTranscript(job_id, 0, 0.0, 30.0, "en", 1.0, (Segment(0.0, 1.0, " Hello there."),), "tiny.en")
    ctx.blobs.write_bytes(layout.chunk_transcript(ctx.settings.work_uri, job_id, 0), first.to_json().encode())
    ctx.jobs.update(job_id, chunks_total=2)
    assert _events([next(r.stream)]) == [
        ("transcript.text.delta", {"type": "transcript.text.delta", "delta": "Hello there."})
    ]
    # The second chunk and the job end: its delta, then the job's whole text.
    second = ChunkTranscript(job_id, 1, 30.0, 30.0, "en", 1.0, (Segment(0.0, 1.0, " And more."),), "tiny.en")
    ctx.blobs.write_bytes(layout.chunk_transcript(ctx.settings.work_uri, job_id, 1), second.to_json().encode())
    out = f"{job.output_uri.rstrip('/')}/{job.output_stem}.json"
    ctx.blobs.write_bytes(out, json.dumps({"text": "Hello there. And more."}).encode())
    ctx.jobs.update(job_id, status=JobStatus.SUCCEEDED, outputs={"json": out})
    assert _events(list(r.stream)) == [
        ("transcript.text.delta", {"type": "transcript.text.delta", "delta": " And more."}),
        ("transcript.text.done", {"type": "transcript.text.done", "text": "Hello there. And more."}),
    ]


def test_a_stream_whose_job_fails_ends_with_an_error_event(api, ctx, token):
    ctx.settings = ctx.settings.replace(api_timeout_s=60.0, openai_wait_s=60.0)
    r, _ = openai_form(api, token, model="whisper-1", stream="true", response_format="text")
    job_id = r.headers["X-Kscribe-Job-Id"]
    ctx.jobs.fail(job_id, "not a readable audio or video file", "extract")
    [(event, data)] = _events(list(r.stream))
    assert event == "error" and data["error"]["code"] == "transcription_failed"
    assert "not a readable audio" in data["error"]["message"]


@pytest.fixture
def checked_where(monkeypatch):
    """How often a job's choices are read from metadata, have their formats parsed and are
    checked (``check_choices``), whichever module does it."""
    calls: collections.Counter[str] = collections.Counter()

    def counted(name, real):
        def counting(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return counting

    check = counted("check_choices", ingest_stage.check_choices)
    for module in (ingest_stage, body, openai_api, runner):
        monkeypatch.setattr(module, "check_choices", check)
    parse = counted("parse_formats", choices_module.parse_formats)
    for module in (choices_module, body, cli_main):
        monkeypatch.setattr(module, "parse_formats", parse)
    read = counted("from_metadata", JobChoices.from_metadata)
    monkeypatch.setattr(JobChoices, "from_metadata", classmethod(lambda cls, metadata: read(metadata)))
    return calls


def test_each_door_reads_and_checks_a_job_s_choices_once(api, ctx, token, sample_copy, checked_where):
    # The API: its body is read and checked at the door; ingest takes the checked choices.
    source = Path(upload_prefix(ctx.settings, "acme")) / "talk.mp4"
    source.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_VIDEO, source)
    r = call(api, token, "POST", "/api/v1/transcriptions", {"source": str(source), "formats": "srt,vtt"})
    assert r.status == 202, r.body
    assert ctx.jobs.require(r.body["id"]).formats == ("srt", "vtt")
    assert checked_where == {"check_choices": 1, "parse_formats": 1}
    checked_where.clear()

    # The OpenAI form: the same, its formats fixed.
    ctx.settings = ctx.settings.replace(api_timeout_s=60.0, openai_wait_s=60.0)
    r, _ = openai_form(api, token, model="whisper-1", stream="true", response_format="text")
    assert r.status == 200, r.body
    job_id = r.headers["X-Kscribe-Job-Id"]
    assert ctx.jobs.require(job_id).formats == openai_api.JOB_FORMATS
    assert checked_where == {"check_choices": 1}
    ctx.jobs.fail(job_id, "stopped by the test", "extract")
    list(r.stream)
    checked_where.clear()

    # A storage notification: ingest is the door, reading the object's metadata.
    os.setxattr(sample_copy, "user.kscribe-formats", b"txt")
    result = ingest_stage.ingest(notice_of(LocalStore().stat(str(sample_copy))), ctx)
    assert result.created and result.job.formats == ("txt",)
    assert checked_where == {"from_metadata": 1, "parse_formats": 1, "check_choices": 1}
    checked_where.clear()

    # The CLI: its flags are read and checked before anything starts (a refusal shows it) …
    assert cli_main.main(["run", str(sample_copy), "--formats", "srt", "--language", "de"]) == 2
    assert checked_where == {"parse_formats": 1, "check_choices": 1}
    checked_where.clear()
    # … and the pipeline it runs takes them as they are.
    checked = ingest_stage.check_choices(JobChoices(formats=("srt",)), ctx.settings, trusted=True)
    job = LocalPipeline(ctx, backoff_s=0).submit(sample_copy, checked).job
    assert job is not None and job.formats == ("srt",)
    assert checked_where == {"check_choices": 1}, "the one call above: submit checked nothing again"
