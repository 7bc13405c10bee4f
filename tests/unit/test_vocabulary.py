import pytest

from kscribe.choices import MAX_PROMPT_CHARS, check_text, parse_replacements
from kscribe.errors import InputError
from kscribe.transcript.vocabulary import apply_replacements
from kscribe.values import Segment, Word


def test_replacements_are_word_level_and_keep_timings():
    words = (
        Word(0.0, 0.4, " We", 0.9),
        Word(0.5, 0.9, " use", 0.9),
        Word(1.0, 1.3, " Cube", 0.8),
        Word(1.4, 1.9, " control,", 0.7),
        Word(2.0, 2.5, " daily.", 0.9),
    )
    (segment,) = apply_replacements(
        [Segment(0.0, 2.5, " We use Cube control, daily.", words)], {"cube control": "kubectl"}
    )
    assert segment.text == " We use kubectl, daily."
    assert segment.words[2] == Word(1.0, 1.9, " kubectl,", 0.7)
    assert [w.word for w in segment.words] == [" We", " use", " kubectl,", " daily."]
    # Without word timings: the text, on word boundaries only.
    (plain,) = apply_replacements([Segment(0, 1, " cube control; cubes control")], {"Cube Control": "kubectl"})
    assert plain.text == " kubectl; cubes control"


def test_limits_and_shapes_of_input():
    assert parse_replacements('{"a b": "c"}') == {"a b": "c"}
    assert check_text("hotwords", ["Zorblax", " Quuxly "], 400) == "Zorblax, Quuxly"
    for bad in ('{"a": 1}', "[1]", "not json", {"": "x"}, {f"k{i}": "v" for i in range(101)}, {"a": "b" * 101}):
        with pytest.raises(InputError):
            parse_replacements(bad)
    with pytest.raises(InputError, match="over the limit"):
        check_text("prompt", "x" * (MAX_PROMPT_CHARS + 1), MAX_PROMPT_CHARS)
    with pytest.raises(InputError, match="control"):
        check_text("prompt", "a\x00b", MAX_PROMPT_CHARS)
    with pytest.raises(InputError, match="string"):
        check_text("prompt", 3, MAX_PROMPT_CHARS)
