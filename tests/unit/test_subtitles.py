"""Subtitle shaping, without a model: limits, break choices, CJK, degenerate timings."""

import pytest

from kscribe.choices import Shaping, parse_option
from kscribe.errors import InputError
from kscribe.transcript.subtitles import display_width, shape
from kscribe.values import Segment, Word

TEXT = (
    "So today we are going to talk about the new release, which ships next week. It has three parts: "
    "the encoder, the decoder and the scheduler, and each of them got faster. Questions at the end please."
)


def spoken(text, start=0.0, pause_after=None):
    """Words at ~0.06 s a character with 0.05 s between them (longer where asked)."""
    words, t = [], start
    for w in text.split(" "):
        d = 0.1 + 0.06 * len(w)
        words.append(Word(round(t, 3), round(t + d, 3), " " + w, 0.9))
        t += d + (pause_after or {}).get(w, 0.05)
    return Segment(start, round(t, 3), " " + text, tuple(words))


def check_limits(cues, shaping=None):
    shaping = shaping or Shaping()
    for cue in cues:
        assert 1 <= len(cue.lines) <= shaping.max_lines
        assert all(display_width(line) <= shaping.max_line_chars for line in cue.lines)
        assert 0 < cue.end - cue.start <= shaping.max_cue_s + 1e-9
    for a, b in zip(cues, cues[1:]):
        assert b.start - a.end >= shaping.min_gap_s - 1e-6


def words_of(cues):
    return " ".join(" ".join(c.lines) for c in cues).split()


def test_long_segment_is_cut_within_limits_and_keeps_every_word():
    segment = spoken(TEXT)
    cues = shape([segment], Shaping())
    check_limits(cues)
    assert words_of(cues) == TEXT.split()
    assert len(cues) >= 3


def test_sentence_end_is_preferred_to_a_clause_and_a_clause_to_a_pause():
    cues = shape([spoken(TEXT)], Shaping(max_cue_s=30))
    assert cues[0].text.endswith("week.")
    text = "one two three four five six seven, eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen"
    cues = shape([spoken(text, pause_after={"eleven": 0.8})], Shaping(max_lines=1, max_cue_s=30))
    assert cues[0].text.endswith("seven,")
    plain = text.replace(",", "")
    cues = shape([spoken(plain, pause_after={"five": 0.8})], Shaping(max_lines=1, max_cue_s=30))
    assert cues[0].text.endswith("five")


def test_two_lines_are_balanced():
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda"
    (cue,) = shape([spoken(text)], Shaping(max_cue_s=30))
    assert len(cue.lines) == 2
    widths = [display_width(line) for line in cue.lines]
    assert abs(widths[0] - widths[1]) <= 8, cue.lines


def test_a_30_second_segment_of_200_characters_without_word_timings():
    text = TEXT[:200]
    cues = shape([Segment(10.0, 40.0, " " + text)], Shaping())
    check_limits(cues)
    assert words_of(cues) == text.split()
    assert cues[0].start == 10.0 and cues[-1].end <= 40.0


def test_cjk_counts_display_width_and_joins_without_spaces():
    text = "今天我们来讨论新版本的发布，它将在下周发布。它包括三个部分：编码器、解码器和调度器，每个部分都变得更快了。"
    # Words as Whisper gives them for Chinese: a character or two, no spaces.
    words = [Word(i * 0.25, i * 0.25 + 0.2, ch, 0.9) for i, ch in enumerate(text)]
    segment = Segment(0.0, len(text) * 0.25, text, tuple(words))
    shaping = Shaping(max_line_chars=20, max_cue_s=30)
    cues = shape([segment], shaping)
    check_limits(cues, shaping)
    assert "".join("".join(c.lines) for c in cues) == text
    assert all(" " not in line for c in cues for line in c.lines)
    assert display_width("编码器") == 6 and display_width("é") == 1 and display_width("e\u0301") == 1
    # Without word timings too.
    cues = shape([Segment(0.0, 20.0, text)], shaping)
    check_limits(cues, shaping)
    assert "".join("".join(c.lines) for c in cues) == text


def test_a_word_longer_than_a_line_is_never_split():
    long_word = "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichen"
    cues = shape([spoken(f"the {long_word} was lost")], Shaping(max_line_chars=20))
    assert long_word in [line for c in cues for line in c.lines]
    assert words_of(cues) == ["the", long_word, "was", "lost"]


def test_back_to_back_and_overlapping_cues_keep_the_gap():
    a = Segment(0.0, 2.0, " First.", (Word(0.0, 2.0, " First.", 0.9),))
    b = Segment(2.0, 2.5, " Second.", (Word(1.9, 2.5, " Second.", 0.9),))
    c = Segment(2.5, 5.0, " Third.", (Word(2.5, 5.0, " Third.", 0.9),))
    shaping = Shaping(min_gap_s=0.1, min_cue_s=1.0, max_line_chars=10, max_lines=1)
    cues = shape([a, b, c], shaping)
    check_limits(cues, shaping)
    assert [c.text for c in cues] == ["First.", "Second.", "Third."]
    assert cues[0].start == 0.0


def test_zero_length_words_and_a_short_cue_get_visible_times():
    words = tuple(Word(3.0, 3.0, w, 0.5) for w in (" a", " b", " c"))
    cues = shape([Segment(3.0, 3.0, " a b c", words), Segment(3.0, 3.0, " d", (Word(3.0, 3.0, " d", 0.5),))], Shaping())
    check_limits(cues)
    assert cues[0].end - cues[0].start >= 0.04
    # A lone short cue is held for min_cue_s.
    (cue,) = shape([Segment(1.0, 1.2, " Hi.", (Word(1.0, 1.2, " Hi.", 0.9),))], Shaping(min_cue_s=1.5))
    assert (cue.start, cue.end) == (1.0, 2.5)


def test_a_sentence_cut_by_a_segment_end_is_joined_but_a_silence_is_not():
    a, b = spoken("and decide who owns the plan while the team", 0.0), spoken("is away.", 0.0)
    b = Segment(
        a.end + 0.1,
        a.end + 1.0,
        b.text,
        tuple(Word(w.start + a.end + 0.1, w.end + a.end + 0.1, w.word, 0.9) for w in b.words),
    )
    (cue,) = shape([a, b], Shaping())
    assert cue.text.replace("\n", " ") == "and decide who owns the plan while the team is away."
    later = Segment(b.end + 2.0, b.end + 3.0, " Next.", (Word(b.end + 2.0, b.end + 3.0, " Next.", 0.9),))
    assert [c.text for c in shape([a, b, later], Shaping())][1:] == ["Next."]


def test_a_word_over_max_cue_duration_is_clipped():
    (cue,) = shape([Segment(0.0, 30.0, " hmm", (Word(0.0, 30.0, " hmm", 0.2),))], Shaping(max_cue_s=5))
    assert (cue.start, cue.end) == (0.0, 5.0)


def test_options_are_checked():
    assert parse_option("max_line_chars", "32") == 32 and parse_option("max_cue_s", 4) == 4.0
    for name, raw in [
        ("max_lines", "9"),
        ("max_line_chars", "x"),
        ("nope", 1),
        ("max_lines", 1.5),
        ("min_gap_s", True),
    ]:
        with pytest.raises(InputError):
            parse_option(name, raw)
    with pytest.raises(InputError, match="over max_cue_s"):
        Shaping().replace({"min_cue_s": 5, "max_cue_s": 2})


def _voiced(segment, speaker):
    return Segment(
        segment.start,
        segment.end,
        segment.text,
        tuple(Word(w.start, w.end, w.word, w.probability, speaker) for w in segment.words),
        speaker=speaker,
    )


def test_overlapping_voices_get_cues_of_their_own_in_time():
    # Stereo: the host talks from 0.5 s for ~3.5 s; the guest cuts in at 1.2 s for 0.6 s,
    # then the host goes on. Before, the host's cue was cut to 40 ms before the guest's and
    # the guest's line waited for the host's to end.
    host = _voiced(spoken("we planted the beans in april and the tomatoes", 0.5), "channel 1")
    guest = _voiced(spoken("really?", 1.2), "channel 2")
    shaping = Shaping()
    cues = shape([host, guest], shaping, labels=True)
    for speaker in ("channel 1", "channel 2"):
        check_limits([c for c in cues if c.speaker == speaker], shaping)
    by_speaker = {c.speaker: c for c in cues}
    assert set(by_speaker) == {"channel 1", "channel 2"}, cues
    assert all(c.end - c.start >= shaping.min_cue_s for c in cues), cues
    assert by_speaker["channel 1"].start == 0.5
    assert by_speaker["channel 2"].start == 1.2  # at its own time, shown with the host's
    assert by_speaker["channel 2"].start < by_speaker["channel 1"].end


def test_turns_that_do_not_overlap_still_make_room_for_each_other():
    a = _voiced(spoken("hello there", 0.0), "channel 1")  # ends ~1.0 s
    b = _voiced(spoken("hi.", 1.15), "channel 2")
    shaping = Shaping(min_gap_s=0.08, min_cue_s=1.0)
    first, second = shape([a, b], shaping)
    assert first.end <= second.start - shaping.min_gap_s + 1e-9


def _segment(timed_words):
    words = tuple(Word(start, end, " " + w, 0.9) for w, start, end in timed_words)
    return Segment(words[0].start, words[-1].end, "".join(w.word for w in words), words)


# tiny.en's words for two passages of samples/meeting.mp4, as it timed them.
MEETING = (
    _segment(
        [("Welcome", 1.0, 1.41), ("to", 1.41, 1.81), ("the", 1.81, 1.93), ("weekly", 1.93, 2.27)]
        + [("planning", 2.27, 2.71), ("meeting.", 2.71, 3.13)]
    ),
    _segment(
        [("Today", 3.56, 3.97), ("we", 3.97, 4.15), ("will", 4.15, 4.41), ("review", 4.41, 4.71), ("the", 4.71, 5.03)]
        + [("garden", 5.03, 5.31), ("project,", 5.31, 5.87), ("and", 6.21, 6.39), ("decide", 6.39, 6.75)]
        + [("who", 6.75, 7.09), ("waters", 7.09, 7.43), ("the", 7.43, 7.69), ("plants", 7.69, 8.01)]
        + [("while", 8.01, 8.41), ("the", 8.41, 8.71), ("team", 8.71, 8.77)]
    ),
    _segment([("is", 8.77, 9.01), ("away.", 9.01, 9.34)]),
    _segment(
        [("Please", 16.71, 17.08), ("write", 17.08, 17.36), ("your", 17.36, 17.6), ("name", 17.6, 17.84)]
        + [("on", 17.84, 18.02), ("the", 18.02, 18.16), ("list", 18.16, 18.4), ("next", 18.4, 18.86)]
        + [("to", 18.86, 19.08), ("the", 19.08, 19.26), ("kitchen", 19.26, 19.6), ("door.", 19.6, 19.93)]
    ),
)


def sentence_orphans(cues):
    """Cues that hold only the last one or two words of a sentence the cue before left open."""
    return [
        b.text
        for a, b in zip(cues, cues[1:])
        if len(b.text.split()) <= 2 and b.text.rstrip().endswith(".") and not a.text.rstrip().endswith(".")
    ]


@pytest.mark.parametrize(
    "shaping",
    [
        Shaping(max_line_chars=32, max_lines=1),
        Shaping(max_line_chars=42, max_lines=1),
        Shaping(max_line_chars=20),
        Shaping(max_cue_s=3),
    ],
)
def test_a_sentence_never_ends_with_one_or_two_words_on_a_cue_of_their_own(shaping):
    cues = shape(MEETING, shaping)
    check_limits(cues, shaping)
    assert words_of(cues) == " ".join(s.text for s in MEETING).split()
    assert not sentence_orphans(cues), [c.text for c in cues]


def test_a_sentence_end_that_does_not_fit_the_cue_before_takes_words_from_it():
    # 32 columns, one line: "Welcome to the weekly planning" is full, and "meeting." would
    # be alone; the first cue gives up two words so the sentence ends on a cue of three.
    assert [c.text for c in shape(MEETING[:1], Shaping(max_line_chars=32, max_lines=1))] == [
        "Welcome to the",
        "weekly planning meeting.",
    ]
    # At most 3 s a cue: "and decide who waters the / plant while the team is" fills one,
    # and "away." is said within the 3 s of a shorter one.
    cues = [c.text.replace("\n", " ") for c in shape(MEETING[1:3], Shaping(max_cue_s=3))]
    assert cues[-1].endswith("team is away.") and len(cues[-1].split()) >= 3, cues


def test_a_tail_that_cannot_be_kept_with_its_sentence_stays_as_it_was():
    # Two words a cue at most: no cut leaves three words for the sentence's end.
    words = " ".join(w.word.strip() for w in MEETING[0].words)
    cues = shape(MEETING[:1], Shaping(max_line_chars=16, max_lines=1))
    check_limits(cues, Shaping(max_line_chars=16, max_lines=1))
    assert " ".join(c.text for c in cues).split() == words.split()
