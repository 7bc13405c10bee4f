"""Speakers in every format and in subtitle shaping, and channel labels from merging, on
hand-made transcripts (no model)."""

import json

import pysubs2
import pytest

from kscribe.choices import Shaping
from kscribe.transcript.formats import (
    RENDERERS,
    render_ass,
    render_json,
    render_srt,
    render_tsv,
    render_txt,
    render_vtt,
)
from kscribe.transcript.merge import merge_chunks
from kscribe.transcript.subtitles import display_width, shape
from kscribe.values import ChunkTranscript, Job, Segment, Transcript, Word


def said(text, start, speaker="", word_speakers=True):
    """A segment of ``text`` from ``start``, 0.4 s a word; its words carry the speaker too
    unless ``word_speakers`` is false."""
    words, t = [], start
    for w in text.split():
        words.append(Word(round(t, 3), round(t + 0.35, 3), " " + w, 0.9, speaker if word_speakers else ""))
        t += 0.4
    return Segment(start, round(t - 0.05, 3), " " + text, tuple(words), speaker=speaker)


def interview(*segments):
    return Transcript("j", "gs://in/talk.mp4", "en", 60.0, "tiny.en", "transcribe", tuple(segments))


# Speaker 1 talks, goes on after a 2 s pause, then Speaker 2 answers right away.
TURNS = interview(
    said("How are you today?", 0.0, "Speaker 1"),
    said("Tell me about it.", 3.6, "Speaker 1"),
    said("Very well thank you.", 5.2, "Speaker 2"),
)


def test_srt_labels_each_change_of_speaker_once():
    assert render_srt(TURNS) == (
        "1\n00:00:00,000 --> 00:00:01,550\n[Speaker 1] How are you today?\n\n"
        "2\n00:00:03,600 --> 00:00:05,120\nTell me about it.\n\n"
        "3\n00:00:05,200 --> 00:00:06,750\n[Speaker 2] Very well thank you.\n"
    )


def test_txt_labels_each_change_of_speaker_once():
    assert render_txt(TURNS) == (
        "[Speaker 1] How are you today?\nTell me about it.\n[Speaker 2] Very well thank you.\n"
    )


def test_txt_is_a_sentence_a_line_within_each_turn():
    turns = Transcript(
        "j",
        "/v.mp4",
        "en",
        12.0,
        "m",
        "transcribe",
        (
            said("Good morning. Welcome to the", 0.0, "Speaker 1"),
            said("program.", 2.1, "Speaker 1"),
            said("Thank you, it is a pleasure. Really", 3.5, "Speaker 2"),
        ),
    )
    assert render_txt(turns).splitlines() == [
        "[Speaker 1] Good morning.",
        "Welcome to the program.",
        "[Speaker 2] Thank you, it is a pleasure.",
        "Really",
    ]


def test_vtt_wraps_every_cue_in_its_speaker_voice_span():
    text = render_vtt(TURNS)
    assert "00:00:00.000 --> 00:00:01.550\n<v Speaker 1>How are you today?</v>\n" in text
    assert "00:00:03.600 --> 00:00:05.120\n<v Speaker 1>Tell me about it.</v>\n" in text
    assert "<v Speaker 2>Very well thank you.</v>" in text
    assert "[Speaker" not in text


def test_ass_puts_the_speaker_in_the_name_field():
    events = pysubs2.SSAFile.from_string(render_ass(TURNS), format_="ass").events
    assert [(e.name, e.plaintext) for e in events] == [
        ("Speaker 1", "How are you today?"),
        ("Speaker 1", "Tell me about it."),
        ("Speaker 2", "Very well thank you."),
    ]


def test_tsv_has_a_speaker_column_only_when_there_are_speakers():
    assert render_tsv(TURNS).splitlines() == [
        "start\tend\ttext\tspeaker",
        "0\t1550\tHow are you today?\tSpeaker 1",
        "3600\t5150\tTell me about it.\tSpeaker 1",
        "5200\t6750\tVery well thank you.\tSpeaker 2",
    ]
    plain = interview(said("No speakers here.", 0.0))
    assert render_tsv(plain).splitlines() == ["start\tend\ttext", "0\t1150\tNo speakers here."]


def test_json_carries_speaker_on_segments_and_words_only_when_set():
    body = json.loads(render_json(TURNS))
    assert [s["speaker"] for s in body["segments"]] == ["Speaker 1", "Speaker 1", "Speaker 2"]
    assert {w["speaker"] for w in body["segments"][2]["words"]} == {"Speaker 2"}
    plain = json.loads(render_json(interview(said("No speakers here.", 0.0))))
    assert "speaker" not in plain["segments"][0] and "speaker" not in plain["segments"][0]["words"][0]


def test_formats_without_speakers_are_unchanged():
    plain = interview(said("How are you today?", 0.0), said("Very well thank you.", 1.6))
    assert "[" not in render_srt(plain) and "<v" not in render_vtt(plain) and "[" not in render_txt(plain)
    assert all(e.name == "" for e in pysubs2.SSAFile.from_string(render_ass(plain), format_="ass").events)


def test_a_cue_never_spans_two_speakers_even_without_a_pause():
    # Back to back, no silence: without speakers these would share one cue.
    t = interview(said("Yes.", 0.0, "channel 1"), said("No.", 0.4, "channel 2"), said("Maybe.", 0.8, "channel 1"))
    cues = shape(t.segments, Shaping())
    assert [(c.speaker, c.text) for c in cues] == [("channel 1", "Yes."), ("channel 2", "No."), ("channel 1", "Maybe.")]
    joined = shape(interview(said("Yes.", 0.0), said("No.", 0.4)).segments, Shaping())
    assert [c.text for c in joined] == ["Yes. No."]


def test_words_of_one_segment_split_where_their_speaker_changes():
    # Diarization may label words within one segment differently.
    words = (
        Word(0.0, 0.3, " Right", 0.9, "Speaker 1"),
        Word(0.4, 0.7, " so", 0.9, "Speaker 1"),
        Word(0.8, 1.1, " indeed", 0.9, "Speaker 2"),
    )
    t = interview(Segment(0.0, 1.1, " Right so indeed", words, speaker="Speaker 1"))
    assert render_srt(t).split("\n\n")[1].endswith("[Speaker 2] indeed\n")
    assert "<v Speaker 1>Right so</v>" in render_vtt(t)


def test_segment_speaker_applies_to_words_without_one_and_to_text_without_words():
    t = interview(
        said("First one here.", 0.0, "Speaker 1", word_speakers=False),
        Segment(2.0, 3.0, " Second one there.", (), speaker="Speaker 2"),
    )
    assert render_txt(t) == "[Speaker 1] First one here.\n[Speaker 2] Second one there.\n"


def test_the_label_counts_against_the_line_width():
    shaping = Shaping(max_line_chars=20, max_lines=2)
    text = "one two three four five six seven eight"
    t = interview(said(text, 0.0, "Speaker 1"))
    cues = shape(t.segments, shaping, labels=True)
    assert cues[0].lines[0].startswith("[Speaker 1]")
    assert all(display_width(line) <= 20 for c in cues for line in c.lines)
    assert " ".join(" ".join(c.lines) for c in cues).split()[2:] == text.split(" ")


def test_a_label_is_never_a_cue_of_its_own():
    shaping = Shaping(max_line_chars=12, max_lines=1)
    t = interview(said("extraordinarily", 0.0, "Speaker 1"))
    cues = shape(t.segments, shaping, labels=True)
    assert cues[0].lines == ("[Speaker 1]", "extraordinarily")


def test_vtt_escapes_a_speaker_name():
    t = interview(said("Hi.", 0.0, "A<B> & C"))
    assert "<v A&lt;B&gt; &amp; C>Hi.</v>" in render_vtt(t)


@pytest.mark.parametrize("fmt", ["srt", "vtt", "ass"])
def test_labelled_formats_parse_back_with_pysubs2(fmt):
    parsed = pysubs2.SSAFile.from_string(RENDERERS[fmt](TURNS, None), format_=fmt)
    assert len(parsed.events) == 3
    assert "Very well thank you." in parsed.events[2].plaintext


JOB = Job("j", "/v.mp4", "1", "/o", "v", "m", None, "transcribe", ("txt",), channels="split")


def chunk(index, start, duration, channel, segments):
    return ChunkTranscript("j", index, start, duration, "en", 0.9, tuple(segments), "m", channel=channel)


def test_merge_labels_channels_and_orders_their_segments_by_time():
    left = [
        chunk(0, 0.0, 30.0, 1, [said("Question one?", 1.0), said("Question two?", 12.0)]),
        chunk(1, 30.0, 30.0, 1, [said("Thanks.", 5.0)]),
    ]
    right = [chunk(2, 0.0, 30.0, 2, [said("Answer one.", 4.0), said("Answer two.", 16.0)]), chunk(3, 30.0, 30.0, 2, [])]
    merged = merge_chunks(JOB, [*right, *left])
    assert [(s.start, s.speaker, s.text.strip()) for s in merged.segments] == [
        (1.0, "channel 1", "Question one?"),
        (4.0, "channel 2", "Answer one."),
        (12.0, "channel 1", "Question two?"),
        (16.0, "channel 2", "Answer two."),
        (35.0, "channel 1", "Thanks."),
    ]
    assert all(w.speaker == s.speaker for s in merged.segments for w in s.words)
    assert merged.duration_s == 60.0  # each channel covers the recording once


def test_merge_of_mixed_audio_sets_no_speaker():
    merged = merge_chunks(JOB, [chunk(0, 0.0, 10.0, 0, [said("Hello.", 1.0)])])
    assert merged.segments[0].speaker == "" and merged.segments[0].words[0].speaker == ""


def test_merge_cuts_a_channel_segment_that_runs_across_the_other_channels_turn():
    # Whisper on the guest's channel hears silence through the host's question, and gives
    # both answers as one segment: cut at the pause, the question falls between them.
    words = (*said("First answer.", 2.0).words, *said("Second answer.", 9.0).words)
    answers = Segment(2.0, 9.75, " First answer. Second answer.", words)
    merged = merge_chunks(JOB, [chunk(0, 0.0, 20.0, 1, [said("A question?", 5.0)]), chunk(1, 0.0, 20.0, 2, [answers])])
    assert [(s.start, s.end, s.speaker, s.text.strip()) for s in merged.segments] == [
        (2.0, 2.75, "channel 2", "First answer."),
        (5.0, 5.75, "channel 1", "A question?"),
        (9.0, 9.75, "channel 2", "Second answer."),
    ]
    assert render_txt(merged) == "[channel 2] First answer.\n[channel 1] A question?\n[channel 2] Second answer.\n"


def test_shaping_orders_overlapping_speakers_segments_by_their_words():
    words = (*said("First answer.", 2.0, "B").words, *said("Second answer.", 9.0, "B").words)
    t = interview(Segment(2.0, 9.75, " First answer. Second answer.", words, speaker="B"), said("Why?", 5.0, "A"))
    assert [(c.speaker, c.text) for c in shape(t.segments, Shaping())] == [
        ("B", "First answer."),
        ("A", "Why?"),
        ("B", "Second answer."),
    ]
