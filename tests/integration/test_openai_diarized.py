"""``response_format=diarized_json`` through the official ``openai`` client: its requests and
its parsing, against the in-process OpenAI routes and pipeline (real Redis, ffmpeg and
storage; fake transcriber and voices, two speakers)."""

from __future__ import annotations

import warnings

import httpx2 as httpx
import openai
import pytest
from openai.types.audio import TranscriptionDiarized

from kscribe.api.http import ApiRequest
from kscribe.api.router import Api
from kscribe.api.routes.openai import OpenAiApi, speaker_letters
from kscribe.pipeline.runner import LocalPipeline
from tests.conftest import SAMPLE_VIDEO
from tests.integration.test_speaker_pipeline import FakeVoices


def in_process(ctx) -> httpx.MockTransport:
    """An httpx transport that hands each request to the OpenAI routes; a job they create
    runs through the pipeline before they wait for it."""
    routes = OpenAiApi(Api(ctx))
    pipeline = LocalPipeline(ctx, backoff_s=0)

    def publish(events):
        for event in events:
            pipeline.bus.publish(event)
        pipeline.bus.drain()

    def handle(request: httpx.Request) -> httpx.Response:
        body = request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        answer = routes.handle(
            ApiRequest(request.method, request.url.path, headers=headers), lambda: iter([body]), publish
        )
        if answer.stream is not None:
            return httpx.Response(answer.status, headers=answer.headers, content=answer.stream)
        if isinstance(answer.body, dict):
            return httpx.Response(answer.status, headers=answer.headers, json=answer.body)
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body)

    return httpx.MockTransport(handle)


@pytest.fixture
def client(ctx):
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0, diarize=True, openai_wait_s=60.0, api_timeout_s=60.0)
    ctx.voices = FakeVoices()  # in each chunk, one voice in its first half and another in its second
    token = ctx.api_keys.create("acme")[0]
    http = httpx.Client(transport=in_process(ctx))
    with openai.OpenAI(api_key=token, base_url="http://kscribe.test/v1", max_retries=0, http_client=http) as c:
        yield c


def transcribe(client, **kwargs):
    with open(SAMPLE_VIDEO, "rb") as f:
        return client.audio.transcriptions.with_raw_response.create(
            file=("meeting.mp4", f), model="gpt-4o-transcribe-diarize", **kwargs
        )


def test_diarized_json_labels_the_speakers_a_and_b_in_openai_s_shape(ctx, client):
    raw = transcribe(client, response_format="diarized_json", chunking_strategy="auto")
    assert raw.status_code == 200, raw.text
    diarized = raw.parse()
    assert isinstance(diarized, TranscriptionDiarized)
    assert diarized.task == "transcribe" and diarized.duration > 25
    job = ctx.jobs.require(raw.headers["x-kscribe-job-id"])
    assert job.speakers and job.chunks_diarized == job.chunks_total >= 3, "asking for it turned speakers on"
    segments = diarized.segments
    assert segments and all(s.type == "transcript.text.segment" and s.end >= s.start for s in segments)
    assert [s.id for s in segments] == [f"seg_{i}" for i in range(len(segments))]
    assert segments[0].speaker == "A" and {s.speaker for s in segments} == {"A", "B"}
    assert " ".join(s.text for s in segments) == diarized.text.strip()
    # A plain request for the same file labels nobody.
    plain = transcribe(client, response_format="json")
    assert not ctx.jobs.require(plain.headers["x-kscribe-job-id"]).speakers


def test_a_diarized_stream_ends_with_each_segment_and_its_speaker(client):
    with open(SAMPLE_VIDEO, "rb") as f:
        stream = client.audio.transcriptions.create(
            file=("meeting.mp4", f), model="gpt-4o-transcribe-diarize", response_format="diarized_json", stream=True
        )
        events = list(stream)
    kinds = [e.type for e in events]
    deltas, segments = kinds.count("transcript.text.delta"), kinds.count("transcript.text.segment")
    # The job ended before the stream began (the pipeline runs within the request here): its
    # text comes as one delta (chunk by chunk while it runs: test_front_doors.py).
    assert deltas == 1 and segments >= 2, kinds
    assert kinds == ["transcript.text.delta"] * deltas + ["transcript.text.segment"] * segments + [
        "transcript.text.done"
    ]
    said = [e for e in events if e.type == "transcript.text.segment"]
    assert {e.speaker for e in said} == {"A", "B"} and said[0].speaker == "A"
    assert events[-1].text.strip() == " ".join(e.text for e in said)


def test_diarized_json_is_refused_where_it_cannot_be_served(ctx, client):
    with pytest.raises(openai.BadRequestError) as refused, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the client marks translations deprecated
        client.audio.translations.create(
            file=("meeting.mp4", SAMPLE_VIDEO.read_bytes()), model="whisper-1", response_format="diarized_json"
        )
    assert refused.value.code == "invalid_response_format" and "transcriptions" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        transcribe(client, response_format="diarized_json", known_speaker_names=["agent"])
    assert refused.value.code == "unsupported_parameter" and refused.value.param == "known_speaker_names"
    ctx.settings = ctx.settings.replace(diarize=False)
    with pytest.raises(openai.BadRequestError) as refused:
        transcribe(client, response_format="diarized_json")
    assert refused.value.code == "invalid_response_format" and "KSCRIBE_DIARIZE=true" in refused.value.message
    assert not ctx.jobs.in_line(), "no job was made of any"


def test_speakers_become_letters_in_order_of_first_appearance():
    labels = speaker_letters(["Speaker 2", "Speaker 1", "Speaker 2", ""] + [f"Speaker {n}" for n in range(3, 30)])
    assert labels["Speaker 2"] == "A" and labels["Speaker 1"] == "B" and labels[""] == ""
    assert labels["Speaker 26"] == "Z" and labels["Speaker 27"] == "AA"


def test_openai_model_names_mean_the_operators_model_even_when_it_is_a_path(ctx, client, tmp_path):
    model = tmp_path / "operators-model"
    model.mkdir()
    (model / "model.bin").write_bytes(b"\0")  # a model directory the operator set; the fake decodes
    ctx.settings = ctx.settings.replace(model=str(model))
    done = client.audio.transcriptions.create(
        file=("meeting.mp4", SAMPLE_VIDEO.read_bytes()), model="whisper-1", response_format="json"
    )
    assert done.text.strip()
    # A caller naming that path itself is refused: paths are the operator's to use.
    with pytest.raises(openai.BadRequestError) as refused:
        client.audio.transcriptions.create(
            file=("meeting.mp4", SAMPLE_VIDEO.read_bytes()), model=str(model), response_format="json"
        )
    assert refused.value.code == "model_not_found"
