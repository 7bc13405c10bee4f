"""A job with speakers through the handlers: real Redis and ffmpeg, fake transcriber and
fake voices (kscribe/voices.py's real models are in test_diarize.py)."""

import dataclasses
import json
from pathlib import Path

import jsonschema
import numpy as np

from kscribe import events
from kscribe.handlers import ROUTES, on_chunk_voices
from kscribe.notices import JobChoices
from kscribe.reconcile import reconcile
from kscribe.runner import LocalPipeline
from kscribe.speakers import Turns
from kscribe.stages.announce import record_announced
from kscribe.values import JobStatus
from tests.conftest import ROOT


class FakeVoices:
    """Turns every 1.5 s of a chunk; a voice by where it is in the chunk (first half,
    second half), so each chunk has two speakers and every chunk the same two."""

    def __init__(self):
        self.calls = 0

    def load(self):
        pass

    def turns(self, audio):
        self.calls += 1
        seconds = len(audio) / 16000
        starts = np.arange(0.0, max(seconds - 1.5, 0.0) + 1e-9, 1.5)
        spans = np.stack([starts, np.minimum(starts + 1.5, seconds)], axis=1)
        voices = np.eye(192, dtype=np.float32)[[0 if s < seconds / 2 else 1 for s in starts]]
        return Turns(spans=spans, embeddings=voices + 0.01)


def speaker_ctx(ctx):
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0, diarize=True)
    ctx.voices = FakeVoices()
    return ctx


def test_duplicate_and_reordered_parts_finish_a_job_with_speakers_once(ctx, sample_copy, fake_transcriber):
    ctx = speaker_ctx(ctx)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job_id = pipeline.submit(sample_copy, JobChoices(speakers=True, num_speakers=2)).job.id
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    assert len(chunk_events) >= 3
    produced = []
    # Every transcript first, twice, newest first: the job waits for its voices.
    for event in list(reversed(chunk_events)) * 2:
        produced += ROUTES[events.CHUNK_READY](event, ctx)
    assert produced == [] and ctx.jobs.require(job_id).chunks_done == len(chunk_events)
    assert ROUTES[events.JOB_TRANSCRIBED](events.job_transcribed(job_id), ctx) == [], "too early: refused"
    for event in chunk_events + chunk_events[:1]:
        out = on_chunk_voices(event, ctx)
        record_announced(out, ctx)
        produced += out
    assert [e.type for e in produced] == [events.JOB_TRANSCRIBED], "announced once, by the last part"
    assert ctx.voices.calls == len(chunk_events), "a redelivered chunk reuses its stored voices"
    completed = ROUTES[events.JOB_TRANSCRIBED](produced[0], ctx) + ROUTES[events.JOB_TRANSCRIBED](produced[0], ctx)
    assert [e.id for e in completed] == [f"{job_id}/completed"] * 2
    job = ctx.jobs.require(job_id)
    assert job.status is JobStatus.SUCCEEDED and "speakers" in job.timings and "diarize" in job.timings
    segments = json.loads(Path(job.outputs["json"]).read_text())["segments"]
    assert {s["speaker"] for s in segments} == {"Speaker 1", "Speaker 2"}
    assert segments[0]["speaker"] == "Speaker 1", "numbered by first appearance"


def test_a_job_without_speakers_is_left_alone_by_diarize(ctx, sample_copy):
    ctx = speaker_ctx(ctx)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job_id = pipeline.submit(sample_copy).job.id
    pipeline.run()
    job = ctx.jobs.require(job_id)
    assert job.status is JobStatus.SUCCEEDED and ctx.voices.calls == 0 and "diarize" not in job.timings
    segments = json.loads(Path(job.outputs["json"]).read_text())["segments"]
    assert not any("speaker" in s for s in segments)


def test_chunk_ready_is_marked_for_diarize_by_extract_and_the_reconciler_and_a_forged_mark_is_ignored(ctx, sample_copy):
    ctx = speaker_ctx(ctx)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    with_speakers = pipeline.submit(sample_copy, JobChoices(speakers=True)).job.id
    without = pipeline.submit(sample_copy).job.id
    flagged = ROUTES[events.JOB_CREATED](events.job_created(with_speakers), ctx)
    plain = ROUTES[events.JOB_CREATED](events.job_created(without), ctx)
    mark = {events.SPEAKERS_EXTENSION: "true"}
    assert flagged and all(e.extensions == mark for e in flagged)
    assert plain and all(e.extensions == {} for e in plain)
    # Every chunk.ready lost: the reconciler sends them again, marked as extract marked them.
    redriven = reconcile(ctx, only=[with_speakers, without]).events
    assert sorted(e.id for e in redriven) == sorted(e.id for e in flagged + plain)
    assert all(e.extensions == (mark if e.subject == with_speakers else {}) for e in redriven)
    # The mark only routes: on a job without speakers diarize does nothing whatever it says.
    forged = dataclasses.replace(plain[0], extensions=mark)
    assert on_chunk_voices(forged, ctx) == [] and ctx.voices.calls == 0
    assert ctx.jobs.diarized_chunks(without) == set()


def test_the_local_runner_labels_speakers_and_the_reconciler_drives_missing_voices(ctx, sample_copy):
    ctx = speaker_ctx(ctx)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    (real,) = pipeline.bus.routes[events.CHUNK_READY][1:]
    dropped = []

    def drop_first(event, c):
        if not dropped:
            dropped.append(event)
            return []
        return real(event, c)

    pipeline.bus.routes[events.CHUNK_READY] = (pipeline.bus.routes[events.CHUNK_READY][0], drop_first)
    job_id = pipeline.submit(sample_copy, JobChoices(speakers=True)).job.id
    pipeline.run()
    job = ctx.jobs.require(job_id)
    assert (
        dropped and job.status is JobStatus.SUCCEEDED and job.redrives == 0 and job.redriven_at > 0
    )  # re-driven once; progress restarts the count
    assert job.chunks_diarized == job.chunks_total


def test_a_chunk_whose_voices_keep_failing_fails_the_job_at_diarize(ctx, sample_copy):
    ctx = speaker_ctx(ctx)
    pipeline = LocalPipeline(ctx, backoff_s=0)

    def broken(audio):
        raise RuntimeError("out of memory")

    ctx.voices.turns = broken
    job_id = pipeline.submit(sample_copy, JobChoices(speakers=True)).job.id
    pipeline.run()
    job = ctx.jobs.require(job_id)
    assert job.status is JobStatus.FAILED and job.failed_stage == "diarize", (job.failed_stage, job.error)
    assert ctx.jobs.chunk_done(job_id, 0), "the first chunk's transcript was stored: transcribe did not fail"


def test_speakers_are_refused_where_diarization_is_off(ctx, sample_copy):
    ctx.settings = dataclasses.replace(ctx.settings, diarize=False)
    result = LocalPipeline(ctx, backoff_s=0).submit(sample_copy, JobChoices(speakers=True))
    assert result.job.status is JobStatus.FAILED and "KSCRIBE_DIARIZE" in result.job.error


def test_diarize_dead_lettered_before_the_transcript_fails_the_job_at_diarize(ctx, sample_copy, fake_transcriber):
    """Diarize gives up (five quick retries) while transcribe still waits for a GPU node:
    the transcript is not stored and nobody holds its claim, yet the step that failed is
    diarize's. A dead-lettered transcribe of a chunk whose voices are stored is transcribe's."""
    from kscribe.handlers import on_dead_letter

    ctx = speaker_ctx(ctx)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job_id = pipeline.submit(sample_copy, JobChoices(speakers=True)).job.id
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    produced = on_dead_letter(chunk_events[0], ctx, "HTTP 500 from http://diarize.kscribe.svc.cluster.local", "diarize")
    job = ctx.jobs.require(job_id)
    assert job.status is JobStatus.FAILED and job.failed_stage == "diarize"
    assert [e.type for e in produced] == [events.JOB_FAILED] and produced[0].data["failed_stage"] == "diarize"
    schema = json.loads((ROOT / "events" / "job.failed.v1.schema.json").read_text())
    jsonschema.validate(produced[0].data, schema)

    other = LocalPipeline(ctx, backoff_s=0).submit(sample_copy, JobChoices(speakers=True)).job.id
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(other), ctx)
    on_chunk_voices(chunk_events[0], ctx)
    on_dead_letter(chunk_events[0], ctx, "HTTP 500 from http://transcribe.kscribe.svc.cluster.local", "transcribe")
    assert ctx.jobs.require(other).failed_stage == "transcribe"


def test_a_dead_lettered_diarize_ignores_transcribe_still_working_on_the_chunk(ctx, sample_copy):
    """Only the voices claim says diarize's work is in progress: transcribe holding the
    chunk's transcript claim does not make diarize's giving up harmless."""
    from kscribe import claims
    from kscribe.handlers import on_dead_letter

    ctx = speaker_ctx(ctx)
    job_id = LocalPipeline(ctx, backoff_s=0).submit(sample_copy, JobChoices(speakers=True)).job.id
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    with claims.claim(ctx.kv, claims.chunk_work(job_id, 0), 60, "transcribe"):
        on_dead_letter(chunk_events[0], ctx, "HTTP 500", "diarize")
    assert ctx.jobs.require(job_id).failed_stage == "diarize"


class _CancelOnWrite:
    """Blob storage whose write of a chunk's part lets a cancel land right after it: the
    cancel arrives between the part's write and its record in Redis."""

    def __init__(self, blobs, ctx, job_id, suffix):
        self._blobs, self._ctx, self._job_id, self._suffix = blobs, ctx, job_id, suffix

    def __getattr__(self, name):
        return getattr(self._blobs, name)

    def write_bytes(self, uri, data, *args, **kwargs):
        self._blobs.write_bytes(uri, data, *args, **kwargs)
        if uri.endswith(self._suffix):
            self._ctx.jobs.cancel(self._job_id)


def test_a_part_stored_as_the_job_is_cancelled_neither_counts_nor_announces(ctx, sample_copy):
    ctx = speaker_ctx(ctx)
    job_id = LocalPipeline(ctx, backoff_s=0).submit(sample_copy, JobChoices(speakers=True)).job.id
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    for event in chunk_events:
        ROUTES[events.CHUNK_READY](event, ctx)
    for event in chunk_events[:-1]:
        on_chunk_voices(event, ctx)
    before = ctx.jobs.require(job_id)
    last = chunk_events[-1]
    ctx.blobs = _CancelOnWrite(ctx.blobs, ctx, job_id, f"/voices/{last.data['index']:05d}.npz")
    produced = on_chunk_voices(last, ctx)
    job = ctx.jobs.require(job_id)
    assert job.status is JobStatus.CANCELLED
    assert produced == [], "a cancelled job is never announced as transcribed"
    assert job.chunks_diarized == before.chunks_diarized
    # Its redelivery, and the transcript's, find the job ended and change nothing.
    assert on_chunk_voices(last, ctx) == [] and ROUTES[events.CHUNK_READY](last, ctx) == []
    assert ctx.jobs.require(job_id).chunks_diarized == before.chunks_diarized


def test_a_job_purged_while_its_language_is_detected_stays_purged(ctx, sample_copy, tmp_path, fake_transcriber):
    """The purge lands during the language vote that the first chunk runs: the vote's timing
    must not bring the job's record back as a hash of one field that never expires."""
    from kscribe import keys, retention

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.bin").write_bytes(b"")
    ctx.settings = ctx.settings.replace(chunk_target_s=8.0, model=str(tmp_path / "model"), language_windows=3)
    job_id = LocalPipeline(ctx, backoff_s=0).submit(sample_copy).job.id
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    detect = fake_transcriber.detect_language

    def purged_meanwhile(windows, options):
        retention.purge(ctx, job_id, reason="api")
        return detect(windows, options)

    fake_transcriber.detect_language = purged_meanwhile
    assert ROUTES[events.CHUNK_READY](chunk_events[0], ctx) == []
    assert not ctx.kv.exists(keys.job(job_id)), ctx.kv.hgetall(keys.job(job_id))


def test_a_job_missing_only_voices_is_redriven_for_them_then_fails_at_diarize(ctx, sample_copy, fake_transcriber):
    """Every transcript stored, the voices lost: the reconciler re-drives only the chunks
    without voices (transcribe finds its part stored and runs no model), and a job that
    still does not move fails at diarize, the step it waits on."""
    import time

    ctx = speaker_ctx(ctx)
    ctx.settings = ctx.settings.replace(redrive_after_s=60.0, max_redrives=1)
    job_id = LocalPipeline(ctx, backoff_s=0).submit(sample_copy, JobChoices(speakers=True)).job.id
    chunk_events = ROUTES[events.JOB_CREATED](events.job_created(job_id), ctx)
    for event in chunk_events:
        ROUTES[events.CHUNK_READY](event, ctx)
    on_chunk_voices(chunk_events[0], ctx)
    calls = fake_transcriber.calls
    driving = reconcile(ctx, now=time.time() + 61).events
    assert [e.id for e in driving] == [e.id for e in chunk_events[1:]]
    assert all(ROUTES[events.CHUNK_READY](e, ctx) == [] for e in driving) and fake_transcriber.calls == calls
    failed = reconcile(ctx, now=time.time() + 200)
    job = ctx.jobs.require(job_id)
    assert failed.failed == [job_id] and job.failed_stage == "diarize", job.failed_stage
