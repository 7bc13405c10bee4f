import pytest

from kscribe.choices import JobChoices
from kscribe.errors import ConfigError
from kscribe.settings import Settings
from kscribe.storage.notices import notice_from_storage_object


def test_gcs_object_resource_becomes_a_notice():
    notice = notice_from_storage_object(
        {
            "bucket": "inbox",
            "name": "talks/a b.mp4",
            "generation": "1700000000000001",
            "size": "1234",
            "contentType": "video/mp4",
            "metadata": {"kscribe-language": "de", "team": "media"},
        }
    )
    assert notice.uri == "gs://inbox/talks/a b.mp4" and notice.size == 1234
    assert notice.dedupe_key == "gs://inbox/talks/a b.mp4#1700000000000001"
    choices = JobChoices.from_metadata(notice.metadata)
    assert choices.language == "de" and choices.metadata == {"team": "media"}


def test_a_directory_plays_the_bucket_for_local_storage():
    assert notice_from_storage_object({"bucket": "/srv/in", "name": "x.mp4"}).uri == "/srv/in/x.mp4"


def test_missing_fields_are_a_value_error():
    with pytest.raises(ValueError, match="'name'"):
        notice_from_storage_object({"bucket": "b"})


def test_channels_come_from_upload_metadata_and_a_bad_value_is_the_jobs_failure():
    assert JobChoices.from_metadata({"kscribe-channels": "Split"}).channels == "split"
    assert JobChoices.from_metadata({}).channels is None
    bad = JobChoices.from_metadata({"kscribe-channels": "stereo"})
    assert bad.channels is None and bad.invalid == "kscribe-channels must be mix or split, not 'stereo'"


def test_the_channels_setting_is_checked():
    assert Settings.from_env({"KSCRIBE_DATA_DIR": "/tmp/x"}).channels == "mix"
    assert Settings.from_env({"KSCRIBE_DATA_DIR": "/tmp/x", "KSCRIBE_CHANNELS": "split"}).channels == "split"
    with pytest.raises(ConfigError, match="KSCRIBE_CHANNELS"):
        Settings.from_env({"KSCRIBE_DATA_DIR": "/tmp/x", "KSCRIBE_CHANNELS": "both"})


def test_choices_survive_the_trip_through_object_metadata():
    # `kscribe submit` steers its uploads with metadata; ingest must read back every choice.
    choices = JobChoices(
        model="base",
        language="de",
        task="translate",
        formats=("srt", "json"),
        prompt="Zorblax and Quuxly",
        hotwords="Zorblax",
        replacements={"cube control": "kubectl"},
        subtitles={"max_line_chars": 32.0, "max_cue_s": 5.5},
        metadata={"show": "episode 4"},
        channels="split",
        audio_track="deu",
    )
    assert JobChoices.from_metadata(choices.to_metadata()) == choices


def test_unset_choices_write_no_metadata():
    assert JobChoices().to_metadata() == {}


def test_cli_submit_takes_the_same_job_flags_as_run():
    from kscribe.cli.main import job_choices
    from kscribe_stack.__main__ import parser

    args = parser().parse_args(
        ["submit", "v.mp4", "--prompt", "Quuxly", "--replace", "cube control=kubectl", "--max-lines", "1"]
        + ["--channels", "split", "--audio-track", "0"]
    )
    choices = job_choices(args)
    assert choices.prompt == "Quuxly" and choices.replacements == {"cube control": "kubectl"}
    assert choices.to_metadata()["kscribe-max-lines"] == "1"
    assert choices.to_metadata()["kscribe-channels"] == "split"
    assert choices.audio_track == "0" and choices.to_metadata()["kscribe-audio-track"] == "0"
