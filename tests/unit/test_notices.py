import pytest

from kscribe.notices import JobChoices, notice_from_storage_object


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
