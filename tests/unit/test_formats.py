import json

import pysubs2
import pytest

from kscribe.choices import Shaping
from kscribe.transcript.formats import RENDERERS, render_json, render_srt, render_tsv, render_txt, render_vtt
from kscribe.transcript.subtitles import shape
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


def test_txt_is_one_line_per_sentence():
    assert render_txt(transcript()) == "Hello there.\nAn\thour later.\n"


def timed(text, start, step=0.32):
    """A segment of ``text`` with a word every ``step`` seconds (tiny.en's pace on the sample)."""
    words = tuple(
        Word(round(start + i * step, 2), round(start + i * step + step - 0.04, 2), " " + w, 0.9)
        for i, w in enumerate(text.split())
    )
    return Segment(words[0].start, words[-1].end, " " + text, words)


def test_txt_joins_a_sentence_whisper_cut_and_splits_segments_at_sentence_ends():
    # Whisper's segments of the sample (tiny.en): a sentence cut before "is away.", and
    # a segment holding two sentences.
    segments = (
        timed("Today we will review the garden project, and decide who waters the plants while the team", 3.56),
        timed("is away.", 8.61),
        timed("Thank you all for coming. The next meeting will be on Friday afternoon.", 22.33),
        timed("Dr. Smith will bring the seeds", 30.0),
    )
    t = Transcript("j", "/m.mp4", "en", 40.0, "tiny.en", "transcribe", segments)
    assert render_txt(t).splitlines() == [
        "Today we will review the garden project, and decide who waters the plants while the team is away.",
        "Thank you all for coming.",
        "The next meeting will be on Friday afternoon.",
        "Dr. Smith will bring the seeds",  # a title's full stop ends no sentence; nor does a missing one
    ]


def test_txt_without_punctuation_still_breaks_at_segment_ends_now_and_then():
    words = "so we went on and on " * 20
    segments = tuple(timed(words, at) for at in (0.0, 40.0, 80.0))
    lines = render_txt(Transcript("j", "/m.mp4", "en", 120.0, "tiny.en", "transcribe", segments)).splitlines()
    assert len(lines) == 3 and all(line == words.strip() for line in lines)


def test_json_carries_words_and_metadata():
    body = json.loads(render_json(transcript()))
    assert body["language"] == "en" and body["duration"] == 3725.5 and body["model"] == "tiny.en"
    assert body["segments"][0]["words"][1] == {"start": 1.1, "end": 2.25, "word": " there.", "probability": 0.8}
    assert body["text"] == "Hello there. An\thour later."


def long_transcript():
    words, t = [], 0.0
    text = "We measured the new encoder on three machines, and every one of them was faster than before. " * 3
    for w in text.split():
        words.append(Word(round(t, 3), round(t + 0.3, 3), " " + w, 0.9))
        t += 0.35
    segment = Segment(0.0, round(t, 3), " " + text.strip(), tuple(words))
    odd = Segment(t + 1, t + 3, " a <b> & {c} --> d", (Word(t + 1, t + 3, " a <b> & {c} --> d", 0.9),))
    return Transcript("j2", "gs://in/x.mp4", "en", 40.0, "tiny.en", "transcribe", (segment, odd))


@pytest.mark.parametrize("fmt", ["srt", "vtt", "ass"])
def test_shaped_cues_parse_back_with_pysubs2(fmt):
    t = long_transcript()
    shaping = Shaping(max_line_chars=32)
    cues = shape(t.segments, shaping)
    parsed = pysubs2.SSAFile.from_string(RENDERERS[fmt](t, shaping), format_=fmt)
    assert len(parsed) == len(cues) > 4
    for event, cue in zip(parsed, cues, strict=True):
        assert (event.start, event.end) == (round(cue.start * 1000), round(cue.end * 1000))
        if "<" not in cue.text:
            assert event.plaintext.splitlines() == list(cue.lines)
    # Text that means something in a format stays text (pysubs2 reads {…} as SSA tags).
    last = {"srt": "a <b> & {c} -> d", "vtt": "a &lt;b&gt; &amp; {c} -&gt; d", "ass": "a <b> & (c) --> d"}[fmt]
    assert RENDERERS[fmt](t, shaping).rstrip().endswith(last)


def test_srt_start_index_and_json_keeps_raw_segments():
    t = long_transcript()
    srt = render_srt(t, Shaping(srt_start_index=0))
    assert srt.startswith("0\n") and "\n1\n" in srt
    body = json.loads(render_json(t, Shaping()))
    assert len(body["segments"]) == 2 and len(body["segments"][0]["words"]) == 51
    # TXT is to read, not subtitles: a sentence a line, unwrapped, however long.
    sentence = "We measured the new encoder on three machines, and every one of them was faster than before."
    assert render_txt(t, Shaping()).splitlines() == [sentence] * 3 + ["a <b> & {c} --> d"]
    assert len(shape(t.segments, Shaping())) > len(t.segments)
    assert "&lt;b&gt; &amp;" in render_vtt(t)
