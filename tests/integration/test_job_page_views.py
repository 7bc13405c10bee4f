"""What the page reads of a job, against real Redis, ffmpeg and the local store: progress
inside a chunk while it decodes, the text of chunks as they finish, where the job came from,
and names given to its speakers — stored with the job, kept to its tenant, used by downloads."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from kscribe.api.input import bytes_reader
from kscribe.api.router import Api, ApiRequest
from kscribe.choices import JobChoices
from kscribe.media.decode import SAMPLE_RATE
from kscribe.values import Job, JobStatus
from tests.conftest import create_through_api, run_local_job
from tests.integration.test_backpressure import tenant_source
from tests.integration.test_channels import write_wav

# The module (the package exports its function under the same name).
transcribe_stage = importlib.import_module("kscribe.pipeline.stages.transcribe")


def call(api, token, method, path, body=None):
    path, _, query = path.partition("?")
    read = bytes_reader(json.dumps(body).encode() if body is not None else b"")
    headers = {"authorization": f"Bearer {token}"}
    asked = dict(pair.split("=", 1) for pair in query.split("&") if pair)
    response = api.handle(ApiRequest(method, path, query=asked, headers=headers, read_body=read))
    return response.status, response.body


def test_decoded_seconds_count_until_their_chunk_is_stored_and_never_twice(ctx):
    jobs = ctx.jobs
    jobs.create(_job("j1"), "k1")
    jobs.advance("j1", JobStatus.TRANSCRIBING, duration_s=100.0, chunks_total=2)
    jobs.note_decoded("j1", 0, 20.0)
    jobs.note_decoded("j1", 1, 5.0)
    running = jobs.require("j1")
    assert running.decoding == {0: 20.0, 1: 5.0} and running.decoded_s == 25.0
    assert running.progress == round(10 + 85 * 0.25, 1)
    jobs.complete_chunk("j1", 0, 2, 50.0)
    stored = jobs.require("j1")
    assert stored.decoding == {1: 5.0} and stored.decoded_s == 55.0
    # A duplicate delivery decoding the stored chunk again reports nothing more.
    jobs.note_decoded("j1", 0, 30.0)
    assert jobs.require("j1").decoded_s == 55.0
    # What is not a count of seconds is not noted (a NaN would make the job's JSON invalid).
    for bad in (float("nan"), float("inf")):
        jobs.note_decoded("j1", 1, bad)
    jobs.note_decoded("j1", -1, 3.0)
    assert jobs.require("j1").decoding == {1: 5.0}
    jobs.note_decoded("j1", 1, -4.0)
    assert jobs.require("j1").decoding == {1: 0.0}
    jobs.cancel("j1")
    jobs.note_decoded("j1", 1, 40.0)
    assert jobs.require("j1").decoding == {1: 0.0}


def _job(job_id):
    return Job(job_id, "gs://in/a.mp4", "1", "gs://out/a/", "a", "tiny.en", None, "transcribe", ("json",))


def test_the_transcribe_stage_writes_its_decoders_progress_to_the_job(
    settings, redis_client, fake_transcriber, tmp_path, monkeypatch
):
    seen: list[dict[int, float]] = []
    monkeypatch.setattr(transcribe_stage, "DECODED_NOTE_EVERY_S", 0.0)
    clip = write_wav(Path(settings.input_uri) / "tone.wav", [_tone(12)])
    real = fake_transcriber.transcribe

    def watching(audio, options, on_progress=None):
        def report(done_s):
            on_progress(done_s)
            seen.append(dict(ctx_holder[0].jobs.require(job_holder[0]).decoding))

        return real(audio, options, report)

    ctx_holder, job_holder = [], []
    fake_transcriber.transcribe = watching
    from kscribe.pipeline.runner import LocalPipeline
    from kscribe.runtime import wiring

    ctx = wiring.create_context(settings, client=redis_client, transcriber=fake_transcriber)
    ctx_holder.append(ctx)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job_holder.append(pipeline.submit(clip, JobChoices()).job.id)
    pipeline.run()
    job = ctx.jobs.require(job_holder[0])
    assert job.status is JobStatus.SUCCEEDED and job.origin == "cli"
    # While it decoded, the record said how far: rising, within the chunk; once stored, gone.
    decoded = [s[0] for s in seen]
    assert decoded == sorted(decoded) and 0 < decoded[0] < decoded[-1] <= job.duration_s, seen
    assert job.decoding == {} and job.progress == 100.0


def _tone(seconds, hz=440):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (8000 * np.sin(2 * np.pi * hz * t)).astype("<i2")


@pytest.fixture
def api(ctx):
    ctx.settings = ctx.settings.replace(api_local_sources=True)
    return Api(ctx)


def test_origin_and_the_text_so_far_through_the_api(ctx, api, fake_transcriber):
    token = ctx.api_keys.create("acme")[0]
    other = ctx.api_keys.create("globex")[0]
    created = create_through_api(api, token, tenant_source(ctx, "acme"))
    assert created.status == 202, created.body
    job_id = created.body["id"]
    status, job = call(api, token, "GET", f"/api/v1/transcriptions/{job_id}")
    assert job["origin"] == "api" and job["chunks"]["decoding"] == [] and job["transcribed_s"] == 0
    assert job["speaker_names"] == {}

    from kscribe.pipeline.stages.extract import extract
    from kscribe.pipeline.stages.transcribe import transcribe

    chunks = extract(job_id, ctx)
    assert len(chunks) >= 1
    status, partial = call(api, token, "GET", f"/api/v1/transcriptions/{job_id}/chunks")
    assert status == 200 and partial == {"chunks": [], "next": 0, "total": len(chunks)}
    transcribe(job_id, 0, ctx)
    status, partial = call(api, token, "GET", f"/api/v1/transcriptions/{job_id}/chunks")
    first = partial["chunks"][0]
    assert status == 200 and partial["next"] == 1 and first["index"] == 0
    assert first["text"].startswith("second 0") and first["segments"][0]["start"] >= first["start_s"] == 0.0
    # Asked again from where it left off: only what is new.
    status, again = call(api, token, "GET", f"/api/v1/transcriptions/{job_id}/chunks?from=1")
    assert again["chunks"] == [] or again["chunks"][0]["index"] == 1
    assert call(api, other, "GET", f"/api/v1/transcriptions/{job_id}/chunks")[0] == 404
    for bad in ("x", "-1", "+1", "1_0", "\u0661", "9" * 17):
        assert call(api, token, "GET", f"/api/v1/transcriptions/{job_id}/chunks?from={bad}")[0] == 400, bad
    for bad in ("0", "101", "y"):
        assert call(api, token, "GET", f"/api/v1/transcriptions/{job_id}/chunks?limit={bad}")[0] == 400, bad


def test_named_speakers_are_kept_to_the_tenant_and_shown_in_downloads(settings, redis_client, fake_transcriber):
    # Two different signals, one per channel: the job labels them "channel 1" and "channel 2".
    clip = write_wav(Path(settings.input_uri) / "two.wav", [_tone(8), _tone(8, 900)])
    settings = settings.replace(formats=("json", "srt", "vtt", "txt"), api_local_sources=True)
    ctx, job = run_local_job(settings, redis_client, fake_transcriber, clip, JobChoices(channels="split"))
    assert job.status is JobStatus.SUCCEEDED, job.error
    # The job was made by the CLI; for its routes it is given to a tenant as an API job would be.
    ctx.jobs.update(job.id, tenant="acme")
    api = Api(ctx)
    token, other = ctx.api_keys.create("acme")[0], ctx.api_keys.create("globex")[0]
    path = f"/api/v1/transcriptions/{job.id}"

    assert call(api, other, "PUT", f"{path}/speakers", {"names": {"channel 1": "Alice"}})[0] == 404
    status, body = call(api, token, "PUT", f"{path}/speakers", {"names": {"channel 9": "Nobody"}})
    assert (
        status == 400
        and body["error"]["code"] == "invalid_names"
        and "channel 1, channel 2" in body["error"]["message"]
    )
    status, body = call(api, token, "PUT", f"{path}/speakers", {"names": {"channel 1": "A\nB"}})
    assert status == 400 and body["error"]["code"] == "invalid_names"
    status, body = call(api, token, "PUT", f"{path}/speakers", {"names": {"channel 1": "x" * 65}})
    assert status == 400 and body["error"]["code"] == "invalid_names"
    # Nothing that could break a subtitle's lines or timings, show another name, or run in a
    # spreadsheet: Unicode line breaks, bidi and invisible marks, C1 controls, timestamps, formulas.
    for bad in ("A\u2028B", "A\u202eB", "A\u200bB", "A\x85B", "00:00:09,000 00:00:10,000", "=HYPERLINK(1)", "@x"):
        status, body = call(api, token, "PUT", f"{path}/speakers", {"names": {"channel 1": bad}})
        assert status == 400 and body["error"]["code"] == "invalid_names", bad
    status, body = call(api, token, "PUT", f"{path}/speakers", {})
    assert status == 400 and body["error"]["code"] == "invalid_names"

    status, body = call(api, token, "PUT", f"{path}/speakers", {"names": {"channel 1": " Alice ", "channel 2": ""}})
    assert status == 200 and body["speaker_names"] == {"channel 1": "Alice"}
    assert ctx.jobs.require(job.id).speaker_names == {"channel 1": "Alice"}  # stored with the job

    def download(fmt, query=""):
        status, content = call(api, token, "GET", f"{path}/transcript?format={fmt}{query}")
        assert status == 200
        return content.decode()

    segments = json.loads(download("json"))["segments"]
    assert {s["speaker"] for s in segments} == {"Alice", "channel 2"}
    assert {w["speaker"] for s in segments for w in s["words"]} == {"Alice", "channel 2"}
    assert "[Alice]" in download("srt") and "[channel 1]" not in download("srt")
    assert "<v Alice>" in download("vtt") and "<v channel 2>" in download("vtt")
    assert "[Alice]" in download("txt")
    # The labels as heard are still there for whoever asks, and stored outputs are untouched.
    as_heard = json.loads(download("json", "&speaker_names=false"))
    assert {s["speaker"] for s in as_heard["segments"]} == {"channel 1", "channel 2"}
    assert as_heard == json.loads(ctx.blobs.read_bytes(job.outputs["json"]))
    # Names given again replace the earlier ones.
    status, body = call(api, token, "PUT", f"{path}/speakers", {"names": {"channel 2": "Bob"}})
    assert body["speaker_names"] == {"channel 2": "Bob"}
    assert {s["speaker"] for s in json.loads(download("json"))["segments"]} == {"channel 1", "Bob"}


@pytest.mark.model
def test_a_one_chunk_job_moves_while_tiny_en_decodes_it(settings, redis_client, tmp_path, monkeypatch):
    """The newcomer's case: the sample is one chunk, and its progress used to sit at 10 % until
    the chunk was stored. With the real model, the record moves as the decoder goes."""
    import shutil

    from kscribe.asr.whisper import WhisperTranscriber
    from kscribe.state.jobs import JobStore
    from tests.conftest import SAMPLE_VIDEO

    monkeypatch.setattr(transcribe_stage, "DECODED_NOTE_EVERY_S", 0.0)
    seen: list[float] = []
    note = JobStore.note_decoded

    def recording(self, job_id, index, seconds):
        note(self, job_id, index, seconds)
        seen.append(self.require(job_id).progress)

    monkeypatch.setattr(JobStore, "note_decoded", recording)
    clip = Path(settings.input_uri) / "meeting.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_VIDEO, clip)
    ctx, job = run_local_job(settings, redis_client, WhisperTranscriber(tmp_path / "models"), clip)
    assert job.status is JobStatus.SUCCEEDED and job.chunks_total == 1
    assert len(seen) >= 3 and seen == sorted(seen) and seen[0] > 10 and seen[-1] < 95, seen
