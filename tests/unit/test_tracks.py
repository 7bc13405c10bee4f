"""Which audio track a job transcribes: how a choice is written, and which track it names."""

import pytest

from kscribe.choices import META_AUDIO_TRACK, JobChoices, parse_choice
from kscribe.errors import ConfigError, InputError, NoSuchAudioTrack
from kscribe.media.languages import _SAME, same_language
from kscribe.media.tracks import AudioTrack, choose, clean_tag
from kscribe.settings import Settings

ENG, DEU = AudioTrack(0, "aac", "eng", default=True), AudioTrack(1, "aac", "deu")


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("", ""), ("1", "1"), ("01", "1"), ("999", "999"), (0, "0"), (2, "2"), (" DE ", "de"), ("ger", "ger")],
)
def test_a_choice_is_an_index_or_a_language_code(raw, canonical):
    assert parse_choice(raw) == canonical


@pytest.mark.parametrize(
    "raw", ["german", "d", "-1", "1000", "de-DE", "e n", "1a", "٣", "x" * 5000, -1, 1000, True, 1.5, None, ["de"]]
)
def test_anything_else_is_refused_naming_the_field(raw):
    with pytest.raises(InputError, match=r"^audio_track: ") as caught:
        parse_choice(raw)
    assert len(str(caught.value)) < 200, "a long value is cut, not echoed whole"


def test_by_default_the_track_marked_default_else_the_first():
    assert choose([AudioTrack(0), AudioTrack(1)]) == AudioTrack(0)
    assert choose([AudioTrack(0), AudioTrack(1, default=True)]).index == 1
    assert choose([AudioTrack(0), AudioTrack(1, default=True), AudioTrack(2, default=True)]).index == 1


def test_an_index_names_that_track_whatever_is_marked_default():
    assert choose([ENG, DEU], "1") == DEU
    assert choose([ENG, DEU], "0") == ENG


@pytest.mark.parametrize("choice", ["de", "deu", "ger"])
@pytest.mark.parametrize("tag", ["deu", "ger", "de", "de-at", "de_ch"])
def test_a_language_matches_iso_639_1_and_both_639_2_forms(choice, tag):
    tracks = [ENG, AudioTrack(1, "aac", tag)]
    assert choose(tracks, choice).index == 1
    assert choose(tracks, "en") == choose(tracks, "eng") == ENG


def test_among_tracks_of_one_language_the_default_one_wins():
    tracks = [AudioTrack(0, language="eng"), AudioTrack(1, language="deu"), AudioTrack(2, language="en", default=True)]
    assert choose(tracks, "en").index == 2
    assert choose(tracks[:2] + [AudioTrack(2, language="en")], "en").index == 0


def test_a_choice_no_track_answers_fails_listing_the_tracks():
    with pytest.raises(NoSuchAudioTrack) as caught:
        choose([ENG, DEU], "fr")
    assert str(caught.value) == "no audio track 'fr'; tracks: 0 eng (default), 1 deu"
    with pytest.raises(NoSuchAudioTrack, match=r"^no audio track '2'; tracks: 0 eng \(default\), 1 deu$"):
        choose([ENG, DEU], "2")
    # An untagged track is in no language, "und" included.
    with pytest.raises(NoSuchAudioTrack, match=r"tracks: 0, 1$"):
        choose([AudioTrack(0), AudioTrack(1, language=clean_tag("und"))], "en")


def test_a_long_listing_is_cut():
    tracks = [AudioTrack(i, language="eng") for i in range(40)]
    with pytest.raises(NoSuchAudioTrack, match=r"15 eng, and 24 more$"):
        choose(tracks, "fr")


def test_no_tracks_at_all_is_an_input_error():
    with pytest.raises(InputError):
        choose([], "")


def test_what_a_job_records_and_how_a_file_tag_is_shown():
    assert DEU.label == "1 (deu)" and AudioTrack(0).label == "0"
    assert ENG.listing == "0 eng (default)"
    assert clean_tag(" ENG ") == "eng" and clean_tag("UND") == "" and clean_tag("") == ""
    assert clean_tag("en\x00<b>\n" + "x" * 100) == "enb" + "x" * 13


def test_every_language_in_the_table_names_itself_every_way():
    assert same_language("de") == same_language("DEU") == same_language("ger") == {"de", "deu", "ger"}
    assert same_language("gsw") == {"gsw"} and same_language("und") == {"und"}
    groups = set(_SAME.values())
    assert len(groups) == 184, "every ISO 639-1 language once"
    for group in groups:
        assert any(len(c) == 2 for c in group) and all(same_language(c) == group for c in group)


def test_upload_metadata_and_the_setting_take_the_same_choices():
    assert JobChoices.from_metadata({META_AUDIO_TRACK: "1"}).audio_track == "1"
    assert JobChoices.from_metadata({META_AUDIO_TRACK: "GER"}).audio_track == "ger"
    assert JobChoices.from_metadata({}).audio_track is None
    bad = JobChoices.from_metadata({META_AUDIO_TRACK: "german"})
    assert bad.invalid.startswith("kscribe-audio-track: 'german' is not")
    assert Settings.from_env({"KSCRIBE_AUDIO_TRACK": "DE"}).audio_track == "de"
    assert Settings.from_env({}).audio_track == ""
    with pytest.raises(ConfigError, match="KSCRIBE_AUDIO_TRACK"):
        Settings.from_env({"KSCRIBE_AUDIO_TRACK": "first"})
