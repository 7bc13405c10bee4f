"""The job-level language vote, where its windows go, and seconds of speech per language."""

import json
from dataclasses import fields

import pytest

from kscribe.asr.languages import Detection, pick_windows, spoken_seconds, vote
from kscribe.choices import JobChoices
from kscribe.errors import InputError
from kscribe.events import JobCompleted, job_completed_for
from kscribe.media.decode import Silence
from kscribe.state.jobs import _decode, _flatten
from kscribe.transcript.formats import render_json
from kscribe.transcript.merge import merge_chunks
from kscribe.values import ChunkTranscript, Job, Segment, Transcript


def test_short_audio_is_tiled_so_both_halves_of_a_bilingual_minute_are_heard():
    windows = pick_windows(47.5, [Silence(23.4, 24.5)], count=6)
    assert [(w.start_s, w.duration_s) for w in windows] == [(0.0, 23.75), (23.75, 23.75)]
    assert windows[0].speech_s == pytest.approx(23.75 - 0.35) and windows[1].speech_s == pytest.approx(23.75 - 0.75)


def test_long_audio_gets_evenly_spread_windows_that_start_on_speech():
    windows = pick_windows(3600.0, [Silence(285.0, 292.0)], count=6)
    assert len(windows) == 6 and all(w.duration_s == 30.0 for w in windows)
    # Centres at 300, 900, …, 3300: the first would start in the silence, so it starts after it.
    assert [w.start_s for w in windows] == [292.0, 885.0, 1485.0, 2085.0, 2685.0, 3285.0]
    assert all(w.speech_s == 30.0 for w in windows)


def test_a_long_silence_does_not_pull_several_windows_onto_the_same_speech():
    # Ten minutes: silent until 400 s, a 30 s English intro, then German to the end. Four
    # windows' centres fall in the silence; moved to where it ends they would all hear the
    # intro, and four votes for 30 s of English would outweigh two for 170 s of German.
    windows = pick_windows(600.0, [Silence(0.0, 400.0)], count=6)
    spans = [(w.start_s, w.start_s + w.duration_s) for w in windows]
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:])), spans
    detections = [Detection("en" if w.start_s < 430.0 else "de", 0.9, w.speech_s) for w in windows]
    assert vote(detections, mixed_share=0.25).language == "de"


def test_silent_windows_are_left_out_and_none_are_asked_for_with_zero():
    assert pick_windows(60.0, [Silence(0.0, 60.0)], count=6) == []
    assert pick_windows(600.0, [], count=0) == []


def test_the_vote_weighs_speech_and_confidence_not_window_count():
    # Three short or unsure windows of English against two long, sure ones of German.
    detections = [Detection("en", 0.4, 5.0)] * 3 + [Detection("de", 0.95, 30.0)] * 2
    verdict = vote(detections, mixed_share=0.25)
    assert verdict.language == "de" and not verdict.mixed
    assert list(verdict.shares) == ["de", "en"] and verdict.shares["en"] < 0.25


def test_a_real_second_language_makes_the_job_multilingual():
    verdict = vote([Detection("en", 0.94, 23.4), Detection("de", 0.95, 23.0)], mixed_share=0.25)
    assert verdict.language == "en" and verdict.mixed
    assert not vote([Detection("en", 0.94, 23.4), Detection("de", 0.95, 23.0)], mixed_share=1.0).mixed
    assert vote([], mixed_share=0.25).language == ""


def test_spoken_seconds_per_language_most_first():
    segments = [Segment(0.0, 10.0, "a", language="en"), Segment(10.0, 40.0, "b", language="de"), Segment(40, 41, "c")]
    assert spoken_seconds(segments) == {"de": 30.0, "en": 10.0}
    assert list(spoken_seconds(segments, fallback="en")) == ["de", "en"]
    assert spoken_seconds(segments, fallback="en")["en"] == 11.0


def _job(**values) -> Job:
    return Job("a" * 32, "/in/x.mp4", "1", "/out", "x", "base", None, "transcribe", ("json",), **values)


def test_merge_labels_every_segment_and_picks_the_language_of_most_speech():
    chunks = [
        ChunkTranscript("a" * 32, 0, 0.0, 30.0, "en", 0.9, (Segment(0.0, 5.0, " hi"),), "base"),
        ChunkTranscript("a" * 32, 1, 30.0, 30.0, "de", 0.9, (Segment(0.0, 20.0, " hallo", language="de"),), "base"),
    ]
    transcript = merge_chunks(_job(), chunks)
    assert [s.language for s in transcript.segments] == ["en", "de"]
    assert transcript.language == "de"


def test_json_says_each_segments_language_only_when_known():
    segments = (Segment(0.0, 1.0, " hi", language="en"), Segment(1.0, 2.0, " ?"))
    body = json.loads(render_json(Transcript("a" * 32, "/in/x.mp4", "en", 2.0, "base", "transcribe", segments)))
    assert body["segments"][0]["language"] == "en" and "language" not in body["segments"][1]


def test_languages_and_multilingual_survive_the_job_record_and_reach_job_completed():
    job = _job(languages={"en": 22.1, "de": 21.8}, multilingual=True, detected_language="en")
    record = {f.name: getattr(job, f.name) for f in fields(Job) if f.name not in ("timings", "announced")}
    stored = dict(zip(*[iter(_flatten(record))] * 2, strict=True))
    decoded = _decode(stored)
    assert decoded.languages == {"en": 22.1, "de": 21.8} and decoded.multilingual is True
    assert _decode({**stored, "multilingual": "0"}).multilingual is False
    event = job_completed_for(job)
    assert event.data["languages"] == {"en": 22.1, "de": 21.8}
    assert JobCompleted.from_dict(event.data).languages == {"en": 22.1, "de": 21.8}
    assert "languages" not in job_completed_for(_job()).data


@pytest.mark.parametrize(("sent", "expected"), [("true", True), ("0", False), ("", None)])
def test_upload_metadata_chooses_multilingual(sent, expected):
    choices = JobChoices.from_metadata({"kscribe-multilingual": sent})
    assert choices.multilingual is expected and not choices.invalid
    if expected is not None:
        assert JobChoices.from_metadata(choices.to_metadata()).multilingual is expected


def test_a_multilingual_value_that_is_no_flag_fails_the_job():
    assert "kscribe-multilingual" in JobChoices.from_metadata({"kscribe-multilingual": "maybe"}).invalid
    with pytest.raises(InputError):
        from kscribe.choices import parse_flag

        parse_flag("kscribe-multilingual", "maybe")
