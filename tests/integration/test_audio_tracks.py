"""A film with a dub: two audio tracks in two languages, through real ffmpeg and tiny.en.

The video's first track is German speech, its second English (espeak-ng voices, a few
seconds each). The English sentence's words in the transcript prove which track was heard:
tiny.en makes English-sounding words of the German track too, but never these.
"""

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kscribe.api.router import job_view
from kscribe.asr.whisper import WhisperTranscriber
from kscribe.choices import META_AUDIO_TRACK, JobChoices
from kscribe.cli.main import main
from kscribe.errors import NoSuchAudioTrack
from kscribe.media.decode import SAMPLE_RATE, decode_audio
from kscribe.media.probe import probe
from kscribe.pipeline.runner import LocalPipeline
from kscribe.pipeline.stages import ingest
from kscribe.pipeline.stages.extract import extract
from kscribe.values import JobStatus, ObjectNotice
from tests.conftest import run_local_job
from tests.media_files import ffmpeg

ENGLISH = "The quick brown fox jumps over the lazy dog."
ENGLISH_WORDS = {"quick", "brown", "fox", "lazy", "dog"}
GERMAN = "Guten Morgen. Berlin, Hamburg und München sind schöne Städte."


@pytest.fixture(scope="module")
def films(tmp_path_factory) -> dict[str, Path]:
    """``german-default.mkv`` (the German first track marked default), ``english-default.mkv``
    (the English second track marked default) and ``mp4`` (as the first, in MP4)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: apt-get install -y espeak-ng")
    tmp = tmp_path_factory.mktemp("films")
    german, english = tmp / "de.wav", tmp / "en.wav"
    subprocess.run(["espeak-ng", "-v", "de", "-s", "150", "-w", str(german), GERMAN], check=True, timeout=60)
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(english), ENGLISH], check=True, timeout=60)
    films = {}
    for name, default, ext in (("german-default", 0, "mkv"), ("english-default", 1, "mkv"), ("mp4", 0, "mp4")):
        path = films[name] = tmp / f"{name}.{ext}"
        video = ["-f", "lavfi", "-i", "color=c=black:s=64x64:r=5:d=5"]
        # MKV stores ISO 639-2/B ("ger"), MP4 639-2/T ("deu"): both must match "de".
        tags = ["-metadata:s:a:0", f"language={'ger' if ext == 'mkv' else 'deu'}", "-metadata:s:a:1", "language=eng"]
        marks = [f"-disposition:a:{default}", "default", f"-disposition:a:{1 - default}", "0"]
        streams = ["-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "mpeg4", "-c:a", "aac"]
        ffmpeg(*video, "-i", str(german), "-i", str(english), *streams, *tags, *marks, str(path))
    return films


def test_probe_lists_the_tracks_and_decode_reads_the_one_chosen(films, tmp_path):
    info = probe(films["german-default"])
    assert [t.listing for t in info.tracks] == ["0 ger (default)", "1 eng"]
    assert info.track.index == 0 and info.audio_streams == 2 and info.channels == 1
    assert probe(films["english-default"]).track.label == "1 (eng)"
    mp4 = probe(films["mp4"], audio_track="de")
    assert mp4.track.label == "0 (deu)" and [t.default for t in mp4.tracks] == [True, False]
    assert probe(films["mp4"], audio_track="en").track.label == "1 (eng)"
    # The German sentence is longer than the English one: the decoded length tells them apart.
    lengths = [
        decode_audio(
            films["german-default"], tmp_path / f"{i}.pcm", threshold_db=-35, min_silence_s=0.3, timeout_s=60, track=i
        ).samples
        / SAMPLE_RATE
        for i in (0, 1)
    ]
    assert lengths[0] > lengths[1] + 0.5, lengths


@pytest.fixture(scope="module")
def transcriber(tmp_path_factory):
    return WhisperTranscriber(tmp_path_factory.mktemp("models"))


run = run_local_job


def heard(ctx, job) -> tuple[set[str], dict]:
    assert job.status is JobStatus.SUCCEEDED, job.error
    body = json.loads(ctx.blobs.read_bytes(job.outputs["json"]))
    return {w["word"].strip(" .,").lower() for s in body["segments"] for w in s["words"]}, body


@pytest.mark.model
def test_the_default_track_or_the_one_asked_for_is_transcribed(settings, redis_client, transcriber, films):
    # No choice: the track marked default, first (German) or second (English).
    ctx, job = run(settings, redis_client, transcriber, films["german-default"])
    words, body = heard(ctx, job)
    assert words and not words & ENGLISH_WORDS, words
    assert job.audio_track == "" and job.audio_track_used == "0 (ger)" and body["audio_track"] == "0 (ger)"
    ctx, job = run(settings, redis_client, transcriber, films["english-default"])
    assert len(heard(ctx, job)[0] & ENGLISH_WORDS) >= 4 and job.audio_track_used == "1 (eng)"

    # Asked for by index, or by language: the English track, though German is the default.
    for choice in ("1", "eng"):
        ctx, job = run(settings, redis_client, transcriber, films["german-default"], JobChoices(audio_track=choice))
        words, body = heard(ctx, job)
        assert len(words & ENGLISH_WORDS) >= 4, (choice, words)
        assert body["audio_track"] == "1 (eng)"
        view = job_view(job)
        assert view["audio_track"] == choice and view["audio_track_used"] == "1 (eng)"


def test_a_track_the_film_does_not_have_fails_the_job_listing_its_tracks(settings, ctx, films):
    for choices, job_settings, message in (
        (JobChoices(audio_track="fr"), settings, "no audio track 'fr'; tracks: 0 ger (default), 1 eng"),
        (JobChoices(audio_track="2"), settings, "no audio track '2'; tracks: 0 ger (default), 1 eng"),
        # The installation's choice is every job's that makes none.
        (JobChoices(), settings.replace(audio_track="it"), "no audio track 'it'; tracks: 0 ger (default), 1 eng"),
    ):
        ctx = dataclasses.replace(ctx, settings=job_settings)
        pipeline = LocalPipeline(ctx, backoff_s=0)
        job_id = pipeline.submit(films["german-default"], choices).job.id
        pipeline.run()
        job = ctx.jobs.require(job_id)
        assert job.status is JobStatus.FAILED and job.failed_stage == "extract"
        assert job.error == message and job.redrives == 0
        assert job_view(job)["error"] == {"stage": "extract", "message": message}


def test_an_upload_names_its_track_in_metadata(settings, ctx, films):
    source = Path(settings.input_uri) / "upload.mkv"
    for value, error in (("fr", "no audio track 'fr'"), ("french", "kscribe-audio-track: 'french' is not")):
        ctx.blobs.upload(films["german-default"], str(source), "video/x-matroska", {META_AUDIO_TRACK: value})
        info = ctx.blobs.stat(str(source))
        notice = ObjectNotice(info.uri, info.generation, info.size, info.content_type, info.metadata)
        job = ingest(notice, ctx).job
        assert job is not None
        if value == "fr":
            assert job.status is JobStatus.QUEUED and job.audio_track == "fr"
            with pytest.raises(NoSuchAudioTrack, match=error):
                extract(job.id, ctx)
        else:
            assert job.status is JobStatus.FAILED and job.failed_stage == "ingest" and error in job.error


@pytest.fixture
def cli_env(tmp_path, monkeypatch, redis_server):
    monkeypatch.setenv("KSCRIBE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REDIS_URL", f"unix://{redis_server.socket_file}")
    return tmp_path


@pytest.mark.model
def test_kscribe_run_takes_the_track_flag(cli_env, capsys, films):
    code = main(["run", str(films["german-default"]), "--audio-track", "en", "--out", str(cli_env / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "quick brown fox" in out.lower() and "audio track: 1 (eng)" in out
    code = main(["run", str(films["german-default"]), "--audio-track", "fr", "-q"])
    out, err = capsys.readouterr()
    assert code == 1 and "no audio track 'fr'; tracks: 0 ger (default), 1 eng" in err
    with pytest.raises(SystemExit):
        main(["run", str(films["german-default"]), "--audio-track", "french"])
    assert "--audio-track" in capsys.readouterr().err
