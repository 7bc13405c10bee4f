"""The real tiny.en model: a prompt or hotwords fix a name the default run gets wrong, custom
spellings reach the outputs, subtitles come out shaped, and silence, tone and noise give no
words. The speech is made at test time with espeak-ng, the noise with ffmpeg's lavfi."""

import json
import shutil
import subprocess
from pathlib import Path

import pysubs2
import pytest

from kscribe.asr.whisper import WhisperTranscriber
from kscribe.choices import JobChoices
from kscribe.transcript.subtitles import display_width
from kscribe.values import JobStatus
from tests.conftest import run_local_job
from tests.media_files import ffmpeg

pytestmark = pytest.mark.model

NAME = "Zorblax"
# tiny.en hears espeak-ng's "Zorblax" as "more blacks" without help.
SPEECH = f"Next quarter we will ship {NAME} to every customer. {NAME} is faster than before."


@pytest.fixture(scope="module")
def transcriber(tmp_path_factory):
    return WhisperTranscriber(tmp_path_factory.mktemp("models"))


@pytest.fixture
def speech(settings):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: apt-get install -y espeak-ng")
    path = Path(settings.input_uri) / "launch.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), SPEECH], check=True, timeout=60)
    return path


def run(settings, redis_client, transcriber, path, choices=None):
    ctx, job = run_local_job(settings, redis_client, transcriber, path, choices)
    assert job.status is JobStatus.SUCCEEDED, job.error
    return ctx, job


def words(ctx, job):
    body = json.loads(ctx.blobs.read_bytes(job.outputs["json"]))
    return [w["word"].strip(" .,") for s in body["segments"] for w in s["words"]]


def test_a_prompt_or_hotwords_fix_a_name_the_default_gets_wrong(settings, redis_client, transcriber, speech):
    ctx, job = run(settings, redis_client, transcriber, speech)
    assert NAME not in words(ctx, job)
    for choices in (JobChoices(prompt=f"{NAME} release notes."), JobChoices(hotwords=NAME)):
        ctx, job = run(settings, redis_client, transcriber, speech, choices)
        assert job.prompt == (choices.prompt or "") and job.hotwords == (choices.hotwords or "")
        assert words(ctx, job).count(NAME) == 2, words(ctx, job)


def test_custom_spellings_and_shaping_reach_the_outputs(settings, redis_client, transcriber, speech):
    choices = JobChoices(replacements={"more blacks": NAME}, subtitles={"max_line_chars": 20.0, "srt_start_index": 0})
    ctx, job = run(
        settings.replace(formats=("json", "srt", "vtt", "ass", "txt")), redis_client, transcriber, speech, choices
    )
    assert words(ctx, job).count(NAME) == 2
    srt = ctx.blobs.read_bytes(job.outputs["srt"]).decode()
    assert srt.startswith("0\n") and NAME in srt
    for fmt in ("srt", "vtt", "ass"):
        subs = pysubs2.SSAFile.from_string(ctx.blobs.read_bytes(job.outputs[fmt]).decode(), format_=fmt)
        assert len(subs) >= 2
        for event in subs:
            assert all(display_width(line) <= 20 for line in event.plaintext.splitlines())
            assert len(event.plaintext.splitlines()) <= 2 and event.end - event.start <= 7000


@pytest.mark.parametrize(
    "source",
    [
        "anullsrc=r=16000:cl=mono",
        "sine=f=440:r=16000",
        "anoisesrc=r=16000:c=pink:a=0.3",
        "anoisesrc=r=16000:c=white:a=0.2",
    ],
    ids=["silence", "tone", "pink-noise", "white-noise"],
)
@pytest.mark.parametrize("vad", [True, False], ids=["vad", "no-vad"])
def test_silence_tone_and_noise_give_no_words(settings, redis_client, transcriber, source, vad):
    path = Path(settings.input_uri) / "noise.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-f", "lavfi", "-i", f"{source}:d=30", "-ac", "1", str(path))
    ctx, job = run(settings.replace(vad_filter=vad), redis_client, transcriber, path)
    assert words(ctx, job) == []
    assert ctx.blobs.read_bytes(job.outputs["srt"]) == b""
