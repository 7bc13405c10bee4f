import json

from kscribe.formats import render_json, render_srt, render_tsv, render_txt, render_vtt
from kscribe.values import Segment, Transcript, Word


def transcript():
    return Transcript(
        job_id="j1",
        source_uri="gs://in/talk.mp4",
        language="en",
        duration_s=3725.5,
        model="tiny.en",
        task="transcribe",
        segments=(
            Segment(0.5, 2.25, " Hello there.", (Word(0.5, 1.0, " Hello", 0.9), Word(1.1, 2.25, " there.", 0.8))),
            Segment(2.5, 2.9, "  "),  # empty text: not a cue
            Segment(3661.001, 3662.5, " An\thour later."),
        ),
    )


def test_srt_numbers_cues_and_uses_commas():
    assert render_srt(transcript()) == (
        "1\n00:00:00,500 --> 00:00:02,250\nHello there.\n\n2\n01:01:01,001 --> 01:01:02,500\nAn\thour later.\n"
    )


def test_vtt_has_header_and_dots():
    text = render_vtt(transcript())
    assert text.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.250\nHello there.\n")
    assert "01:01:01.001 --> 01:01:02.500" in text


def test_tsv_is_milliseconds_and_keeps_columns():
    assert render_tsv(transcript()).splitlines() == [
        "start\tend\ttext",
        "500\t2250\tHello there.",
        "3661001\t3662500\tAn hour later.",
    ]


def test_txt_is_one_line_per_segment():
    assert render_txt(transcript()) == "Hello there.\nAn\thour later.\n"


def test_json_carries_words_and_metadata():
    body = json.loads(render_json(transcript()))
    assert body["language"] == "en" and body["duration"] == 3725.5 and body["model"] == "tiny.en"
    assert body["segments"][0]["words"][1] == {"start": 1.1, "end": 2.25, "word": " there.", "probability": 0.8}
    assert body["text"] == "Hello there. An\thour later."
