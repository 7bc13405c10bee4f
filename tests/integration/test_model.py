"""The real tiny.en model on the committed sample.

WER threshold: tiny.en int8 scores about 1.3 % on this espeak-ng voice (one substitution in
76 words). 8 % leaves room for CPU and CTranslate2 differences, while a pipeline fault —
a lost or repeated chunk, a cut through a word, a wrong timeline — costs one of the three
passages (≥ 30 %) or several words at the cut.

Start threshold: Whisper alone puts the first word after a pause up to ~0.4 s early here;
with word edges moved out of silence (kscribe.transcript.alignment) passages start within ~0.02 s.
0.2 s fails if that alignment step is lost or a chunk lands at the wrong offset.
"""

import json
from pathlib import Path

import pytest

from kscribe.asr.whisper import WhisperTranscriber
from kscribe.pipeline.runner import LocalPipeline
from kscribe.runtime import wiring
from kscribe.transcript.quality import normalize, word_error_rate
from kscribe.values import JobStatus
from tests.conftest import SAMPLE_INFO, SAMPLE_TEXT

pytestmark = pytest.mark.model
MAX_WER = 0.08
MAX_START_ERROR_S = 0.2


@pytest.fixture(scope="module")
def transcriber(tmp_path_factory):
    return WhisperTranscriber(tmp_path_factory.mktemp("models"))


def transcribe_sample(settings, redis_client, transcriber, sample_copy):
    ctx = wiring.create_context(settings, client=redis_client, transcriber=transcriber)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job_id = pipeline.submit(sample_copy).job.id
    pipeline.run()
    return ctx, ctx.jobs.require(job_id)


def passage_start_errors(segments):
    """For each reference passage, how far the start of its first word is off. (Words, not
    segments: the batched pipeline may make one segment of several passages.)"""
    words = [w for s in segments for w in s["words"]]
    errors = []
    for passage in SAMPLE_INFO["passages"]:
        first = normalize(passage["text"])[0]
        candidates = [w for w in words if normalize(w["word"])[:1] == [first]]
        assert candidates, f"no word {first!r} in the transcript"
        errors.append(min(abs(w["start"] - passage["start_s"]) for w in candidates))
    return errors


@pytest.mark.parametrize("chunk_target_s", [600.0, 10.0], ids=["one-chunk", "three-chunks"])
def test_the_sample_is_transcribed_accurately_with_timings(
    settings, redis_client, transcriber, sample_copy, chunk_target_s
):
    _, job = transcribe_sample(settings.replace(chunk_target_s=chunk_target_s), redis_client, transcriber, sample_copy)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.chunks_total == (1 if chunk_target_s > 60 else 3)
    body = json.loads(Path(job.outputs["json"]).read_text())
    assert body["language"] == "en" and body["model"] == "tiny.en"
    wer = word_error_rate(SAMPLE_TEXT, Path(job.outputs["txt"]).read_text())
    assert wer <= MAX_WER, f"WER {wer:.3f}"
    assert max(passage_start_errors(body["segments"])) <= MAX_START_ERROR_S
    words = [w for s in body["segments"] for w in s["words"]]
    assert len(words) >= 70 and all(a["start"] <= b["start"] for a, b in zip(words, words[1:]))


def test_sequential_decoding_also_transcribes_accurately(settings, redis_client, transcriber, sample_copy):
    """KSCRIBE_BATCH_SIZE=0 keeps faster-whisper's sequential decoding (and its 2000 ms VAD
    pause) whatever the automatic rule would pick for this chunk."""
    _, job = transcribe_sample(settings.replace(batch_size=0), redis_client, transcriber, sample_copy)
    assert job.status is JobStatus.SUCCEEDED, job.error
    wer = word_error_rate(SAMPLE_TEXT, Path(job.outputs["txt"]).read_text())
    assert wer <= MAX_WER, f"WER {wer:.3f}"
    body = json.loads(Path(job.outputs["json"]).read_text())
    assert max(passage_start_errors(body["segments"])) <= MAX_START_ERROR_S


def test_the_batched_pipeline_used_on_gpus_also_transcribes_accurately(
    settings, redis_client, transcriber, sample_copy
):
    """KSCRIBE_BATCH_SIZE > 0 switches to faster-whisper's BatchedInferencePipeline (the gke
    overlay's setting); it runs on CPU too, so its path is checked here without a GPU."""
    _, job = transcribe_sample(settings.replace(batch_size=4), redis_client, transcriber, sample_copy)
    assert job.status is JobStatus.SUCCEEDED, job.error
    wer = word_error_rate(SAMPLE_TEXT, Path(job.outputs["txt"]).read_text())
    assert wer <= MAX_WER, f"WER {wer:.3f}"
    body = json.loads(Path(job.outputs["json"]).read_text())
    assert max(passage_start_errors(body["segments"])) <= MAX_START_ERROR_S
    assert sum(len(s["words"]) for s in body["segments"]) >= 70, "word timestamps in batched mode too"
