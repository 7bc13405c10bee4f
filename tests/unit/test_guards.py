from kscribe.asr.guards import guard
from kscribe.values import Segment, Word


def seg(text, start=0.0, nsp=0.1, lp=-0.2):
    words, t = [], start
    for w in text.split():
        words.append(Word(t, t + 0.3, " " + w, 0.9))
        t += 0.4
    return Segment(start, t, " " + text, tuple(words), lp, nsp)


def test_non_speech_segments_are_dropped_by_both_measures():
    speech, you = seg("Hello there."), seg("You", 21.5, nsp=0.95, lp=-0.66)
    unsure_speech, sure_silence = seg("maybe", nsp=0.3, lp=-1.2), seg("Okay", nsp=0.9, lp=-0.2)
    assert guard([speech, you, unsure_speech, sure_silence], 0.8, -0.5, 3) == (speech, unsure_speech, sure_silence)


def test_repeated_phrases_are_cut_to_max_repeats():
    (s,) = guard([seg("thank you " * 8 + "bye")], 0.8, -0.5, 2)
    assert s.text == " thank you thank you bye" and len(s.words) == 5
    (s,) = guard([seg("no, no, no, we did not")], 0.8, -0.5, 3)
    assert s.text == " no, no, no, we did not"
    looped = [seg("Thank you.", i * 2.0) for i in range(6)]
    assert len(guard(looped, 0.8, -0.5, 2)) == 2
    assert len(guard(looped, 0.8, -0.5, 0)) == 6
    (s,) = guard([seg("a b a b a b a b c d e")], 0.8, -0.5, 1)
    assert s.text == " a b c d e" and s.end == s.words[-1].end
