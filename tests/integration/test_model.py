"""The real tiny.en model on the committed sample.

WER threshold: tiny.en int8 scores about 1.3 % on this espeak-ng voice (one substitution in
76 words). 8 % leaves room for CPU and CTranslate2 differences, while a pipeline fault —
a lost or repeated chunk, a cut through a word, a wrong timeline — costs one of the three
passages (≥ 30 %) or several words at the cut.
"""

import json
from pathlib import Path

import pytest

from kscribe.context import Context
from kscribe.quality import word_error_rate
from kscribe.runner import LocalPipeline
from kscribe.transcriber import WhisperTranscriber
from kscribe.values import JobStatus
from tests.conftest import SAMPLE_INFO, SAMPLE_TEXT

pytestmark = pytest.mark.model
MAX_WER = 0.08
MAX_START_ERROR_S = 0.5


@pytest.fixture(scope="module")
def transcriber(tmp_path_factory):
    return WhisperTranscriber(tmp_path_factory.mktemp("models"))


def transcribe_sample(settings, redis_client, transcriber, sample_copy):
    ctx = Context.create(settings, client=redis_client, transcriber=transcriber)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job_id = pipeline.submit(sample_copy).job.id
    pipeline.run()
    return ctx, ctx.jobs.require(job_id)


def passage_start_errors(segments):
    """For each reference passage, how far the first segment starting near it is off."""
    errors = []
    for passage in SAMPLE_INFO["passages"]:
        nearest = min(segments, key=lambda s: abs(s["start"] - passage["start_s"]))
        errors.append(abs(nearest["start"] - passage["start_s"]))
    return errors


@pytest.mark.parametrize("chunk_target_s", [600.0, 10.0], ids=["one-chunk", "three-chunks"])
def test_the_sample_is_transcribed_accurately_with_timings(settings, redis_client, transcriber, sample_copy,
                                                         chunk_target_s):
    _, job = transcribe_sample(settings.replace(chunk_target_s=chunk_target_s), redis_client, transcriber,
                                 sample_copy)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.chunks_total == (1 if chunk_target_s > 60 else 3)
    body = json.loads(Path(job.outputs["json"]).read_text())
    assert body["language"] == "en" and body["model"] == "tiny.en"
    wer = word_error_rate(SAMPLE_TEXT, Path(job.outputs["txt"]).read_text())
    assert wer <= MAX_WER, f"WER {wer:.3f}"
    assert max(passage_start_errors(body["segments"])) <= MAX_START_ERROR_S
    words = [w for s in body["segments"] for w in s["words"]]
    assert len(words) >= 70 and all(a["start"] <= b["start"] for a, b in zip(words, words[1:]))
