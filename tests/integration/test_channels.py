"""Channel-split jobs: each channel of a stereo interview transcribed apart and labelled,
a mono recording stored as stereo transcribed once, a mono file under ``split`` as it is.
The speech is made at test time with espeak-ng (one voice per channel), through the real
extract, tiny.en and publish; the chunk bookkeeping is checked with the fast fake model."""

import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from kscribe.asr.whisper import WhisperTranscriber
from kscribe.choices import JobChoices
from kscribe.cli.main import main
from kscribe.media.decode import SAMPLE_RATE
from kscribe.pipeline.stages import manifest
from kscribe.runtime import wiring
from kscribe.values import JobStatus
from tests.conftest import run_local_job
from tests.conversation import say_pcm
from tests.media_files import ffmpeg

# An interview: the host (en-us, left channel) and the guest (en-gb, right), taking turns;
# each turn has a word of its own to find it by.
TURNS = [
    ("en-us", "Good morning, and welcome to the program.", "welcome"),
    ("en-gb", "Thank you, it is a real pleasure to be here.", "pleasure"),
    ("en-us", "Tell me about your garden.", "garden"),
    ("en-gb", "I grow tomatoes and beans every summer.", "tomatoes"),
]
GAP_S = 1.0


def voice(text: str, lang: str) -> np.ndarray:
    """espeak-ng saying ``text``, as 16 kHz mono int16."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: apt-get install -y espeak-ng")
    return say_pcm(lang, text, speed=150)


def write_wav(path: Path, channels: list[np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.stack(channels, axis=1).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(frames.tobytes())
    return path


def interview(path: Path) -> tuple[Path, list[float]]:
    """The stereo interview at ``path`` and when each turn starts (seconds)."""
    left, right, starts = [], [], []
    at = int(0.5 * SAMPLE_RATE)
    left.append(np.zeros(at, "<i2"))
    right.append(np.zeros(at, "<i2"))
    for lang, text, _ in TURNS:
        speech = voice(text, lang)
        quiet = np.zeros(len(speech), "<i2")
        starts.append(at / SAMPLE_RATE)
        left.append(speech if lang == "en-us" else quiet)
        right.append(quiet if lang == "en-us" else speech)
        gap = np.zeros(int(GAP_S * SAMPLE_RATE), "<i2")
        left.append(gap)
        right.append(gap)
        at += len(speech) + len(gap)
    return write_wav(path, [np.concatenate(left), np.concatenate(right)]), starts


@pytest.fixture(scope="module")
def transcriber(tmp_path_factory):
    return WhisperTranscriber(tmp_path_factory.mktemp("models"))


def segments_of(ctx_or_dir, job_or_name):
    if isinstance(ctx_or_dir, Path):
        return json.loads((ctx_or_dir / f"{job_or_name}.json").read_text())["segments"]
    return json.loads(ctx_or_dir.blobs.read_bytes(job_or_name.outputs["json"]))["segments"]


@pytest.mark.model
def test_run_split_labels_each_turn_with_its_channel_in_time_order(tmp_path, monkeypatch, redis_server, capsys):
    monkeypatch.setenv("KSCRIBE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REDIS_URL", f"unix://{redis_server.socket_file}")
    clip, starts = interview(tmp_path / "interview.wav")
    out = tmp_path / "out"
    code = main(["run", str(clip), "--channels", "split", "--formats", "json,srt,vtt,tsv,txt", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    segments = segments_of(out, "interview")
    words = [(w["word"].strip(" .,!?").lower(), w["speaker"], w["start"]) for s in segments for w in s["words"]]
    found = []
    for (lang, _, key), start in zip(TURNS, starts, strict=True):
        hits = [(speaker, t) for word, speaker, t in words if word == key]
        assert len(hits) == 1, (key, words)  # heard once: on its own channel only
        speaker, t = hits[0]
        assert speaker == ("channel 1" if lang == "en-us" else "channel 2"), (key, speaker)
        assert start - 0.5 <= t, (key, t, start)
        found.append(t)
    assert found == sorted(found)
    # Every word of a segment is its segment's speaker's, and segments run in time order.
    assert all(w["speaker"] == s["speaker"] for s in segments for w in s["words"])
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    srt = (out / "interview.srt").read_text()
    assert srt.count("[channel 1]") == 2 and srt.count("[channel 2]") == 2, srt
    vtt = (out / "interview.vtt").read_text()
    assert "<v channel 1>" in vtt and "<v channel 2>" in vtt
    assert (out / "interview.tsv").read_text().startswith("start\tend\ttext\tspeaker\n")


def run(settings, redis_client, transcriber, path, channels="split"):
    ctx, job = run_local_job(settings, redis_client, transcriber, path, JobChoices(channels=channels))
    assert job.status is JobStatus.SUCCEEDED, job.error
    return ctx, job


@pytest.mark.model
def test_mono_stored_as_stereo_is_transcribed_once_with_a_note(settings, redis_client, transcriber, tmp_path):
    speech = voice(TURNS[0][1], "en-us")
    # The same signal at two gains, through a lossy stereo codec.
    wav = write_wav(tmp_path / "dual.wav", [speech, (speech * 0.7).astype("<i2")])
    clip = Path(settings.input_uri) / "dual.m4a"
    clip.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg("-i", str(wav), "-c:a", "aac", "-b:a", "96k", str(clip))
    ctx, job = run(settings, redis_client, transcriber, clip)
    assert job.channels == "split" and job.channels_note == "channels are identical; transcribed once"
    segments = segments_of(ctx, job)
    words = [w["word"].strip(" .,").lower() for s in segments for w in s["words"]]
    assert words.count("welcome") == 1, words
    assert all("speaker" not in s for s in segments)


@pytest.mark.model
def test_a_mono_file_under_split_just_works(settings, redis_client, transcriber, tmp_path):
    clip = write_wav(Path(settings.input_uri) / "mono.wav", [voice(TURNS[2][1], "en-us")])
    ctx, job = run(settings, redis_client, transcriber, clip)
    assert job.channels_note == "the audio has one channel; transcribed as is"
    words = [w["word"].strip(" .,").lower() for s in segments_of(ctx, job) for w in s["words"]]
    assert "garden" in words


def test_every_chunk_of_every_channel_is_counted_once(settings, redis_client, fake_transcriber, tmp_path):
    # Two different signals (the fake model ignores what they say), 12 s each, cut into
    # 5 s chunks: several chunks per channel, one index space.
    t = np.arange(12 * SAMPLE_RATE) / SAMPLE_RATE
    left = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    right = (8000 * np.sign(np.sin(2 * np.pi * 3 * t)) * np.sin(2 * np.pi * 900 * t)).astype("<i2")
    clip = write_wav(Path(settings.input_uri) / "two.wav", [left, right])
    settings = settings.replace(chunk_target_s=5.0, formats=("json", "srt"))
    ctx, job = run(settings, redis_client, fake_transcriber, clip)
    assert job.channels_note == ""
    assert job.chunks_total == job.chunks_done >= 4 and job.chunks_total % 2 == 0
    assert fake_transcriber.calls == job.chunks_total
    assert job.progress == 100.0 and abs(job.transcribed_s - job.duration_s) < 0.01
    segments = segments_of(ctx, job)
    speakers = [s["speaker"] for s in segments]
    assert speakers.count("channel 1") == speakers.count("channel 2") > 0
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)


def test_extract_tags_chunks_with_their_channel_and_drops_a_silent_one(settings, redis_client, fake_transcriber):
    from kscribe.pipeline.stages.extract import extract
    from kscribe.pipeline.stages.ingest import JobRequest, check_choices, ingest
    from kscribe.values import ObjectNotice

    t = np.arange(12 * SAMPLE_RATE) / SAMPLE_RATE
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    other = (8000 * np.sin(2 * np.pi * 700 * t) * (t > 6)).astype("<i2")
    ctx = wiring.create_context(settings.replace(chunk_target_s=5.0), client=redis_client, transcriber=fake_transcriber)

    def extracted(name, channels):
        clip = write_wav(Path(settings.input_uri) / name, channels)
        info = ctx.blobs.stat(str(clip))
        notice = ObjectNotice(info.uri, info.generation, info.size)
        job = ingest(notice, ctx, check_choices(JobChoices(channels="split"), ctx.settings), JobRequest(key=name)).job
        return ctx.jobs.require(job.id), extract(job.id, ctx)

    job, chunks = extracted("both.wav", [tone, other])
    assert [c.index for c in chunks] == list(range(len(chunks))) and {c.count for c in chunks} == {len(chunks)}
    assert {c.channel for c in chunks} == {1, 2}
    assert [c.channel for c in chunks] == sorted(c.channel for c in chunks)
    for channel in (1, 2):
        mine = [c for c in chunks if c.channel == channel]
        assert mine[0].start_s == 0.0 and abs(sum(c.duration_s for c in mine) - 12.0) < 0.01
    assert manifest.read_chunks(ctx, job.id) == chunks
    assert ctx.jobs.require(job.id).chunks_total == len(chunks)

    job, chunks = extracted("left.wav", [tone, np.zeros_like(tone)])
    assert {c.channel for c in chunks} == {0}
    assert ctx.jobs.require(job.id).channels_note == "channel 2 is silent"

    # Every channel silent: one stream is kept (its file too) and the job says so.
    job, chunks = extracted("silent.wav", [np.zeros_like(tone), np.zeros_like(tone)])
    assert {c.channel for c in chunks} <= {0}
    assert ctx.jobs.require(job.id).channels_note == "no channel holds sound; transcribed as one"

    # Three channels, the third a copy of the first at half the level.
    job, chunks = extracted("three.wav", [tone, other, (tone // 2).astype("<i2")])
    assert {c.channel for c in chunks} == {1, 2}
    assert ctx.jobs.require(job.id).channels_note == "channel 3 repeats another; transcribed once"

    # More channels than split takes: mixed, and said so.
    job, chunks = extracted("many.wav", [tone] * 9)
    assert {c.channel for c in chunks} == {0}
    assert "9 channels, more than the 8" in ctx.jobs.require(job.id).channels_note
