"""Request bodies are checked against the OpenAPI document's schemas: every field the API
takes is described there, and what the schema refuses is the API's 400 naming the field."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from jsonschema import Draft202012Validator

from kscribe.api.body import CREATE_SCHEMA, UPLOAD_SCHEMA, choices, extras, parse_body
from kscribe.api.http import ApiError, ApiRequest
from kscribe.api.openapi import OPENAPI
from kscribe.api.schema import check_body, schema
from kscribe.api.web import upload_metadata
from kscribe.choices import JobChoices
from kscribe.settings import Settings

SETTINGS = Settings.from_env({"KSCRIBE_DIARIZE": "true"})

# One value of each field a transcription takes, none of them a default, and how each shows
# in what the body becomes: a field the schema lists but the code drops fails here, and so does
# a field the code reads that the schema (which refuses unknown fields) does not list.
FULL = {
    "source": "gs://input/tenants/acme/talk.mp4",
    "language": "en",
    "task": "translate",
    "model": "tiny.en",
    "formats": ["srt", "vtt"],
    "callback_url": "https://93.184.216.34/hook",
    "metadata": {"ticket": "T-1"},
    "prompt": "Kubernetes, kubectl",
    "hotwords": ["Knative", "Redis"],
    "replacements": {"cube control": "kubectl"},
    "subtitles": {"max_lines": 1, "max_cue_s": 5},
    "channels": "mix",  # split and speakers do not go together
    "audio_track": "deu",
    "retention_days": 3,
    "links": True,
    "multilingual": True,
    "speakers": True,
    "num_speakers": 3,
    "min_speakers": 2,
    "max_speakers": 4,
}


def _body(data: object) -> ApiRequest:
    raw = json.dumps(data).encode()
    return ApiRequest("POST", "/api/v1/transcriptions", read_body=lambda limit: raw)


def _refusal(data: object, name: str = CREATE_SCHEMA) -> tuple[str, str]:
    with pytest.raises(ApiError) as caught:
        parse_body(_body(data), SETTINGS, name)
    assert caught.value.status == 400
    return caught.value.code, caught.value.message


def test_the_document_s_schemas_are_valid_json_schema():
    Draft202012Validator.check_schema({"components": OPENAPI["components"]})
    for name in (CREATE_SCHEMA, UPLOAD_SCHEMA):
        Draft202012Validator.check_schema(schema(name))
        assert schema(name)["additionalProperties"] is False


def test_every_field_the_api_takes_is_in_the_schema_and_reaches_the_job():
    assert set(FULL) == set(schema(CREATE_SCHEMA)["properties"])
    body = parse_body(_body(FULL), SETTINGS, CREATE_SCHEMA)
    made = choices(body, SETTINGS).choices
    days, links = extras(body, SETTINGS)
    shown = {
        "source": body["source"],
        "language": made.language,
        "task": made.task,
        "model": made.model,
        "formats": made.formats,
        "callback_url": made.callback_url,
        "metadata": made.metadata,
        "prompt": made.prompt,
        "hotwords": made.hotwords,
        "replacements": made.replacements,
        "subtitles": made.subtitles,
        "channels": made.channels,
        "audio_track": made.audio_track,
        "retention_days": days,
        "links": links,
        "multilingual": made.multilingual,
        "speakers": made.speakers,
        "num_speakers": made.num_speakers,
        "min_speakers": made.min_speakers,
        "max_speakers": made.max_speakers,
    }
    assert shown == {
        **FULL,
        "formats": ("srt", "vtt"),
        "hotwords": "Knative, Redis",
        "subtitles": {"max_lines": 1.0, "max_cue_s": 5.0},
    }


def test_nulls_and_empty_strings_mean_the_defaults():
    body = {name: None for name in FULL if name not in ("source", "links")}
    body.update(speakers=None, num_speakers=None, min_speakers=None, max_speakers=None)
    made = choices(
        parse_body(_body({**body, "source": FULL["source"], "task": ""}), SETTINGS, CREATE_SCHEMA), SETTINGS
    ).choices
    assert made.multilingual is None
    assert (made.language, made.task, made.model, made.formats, made.prompt, made.channels, made.metadata) == (
        None,
        None,
        None,
        None,
        None,
        None,
        {},
    )
    assert made.audio_track is None
    body = {"source": FULL["source"], "audio_track": ""}
    assert choices(parse_body(_body(body), SETTINGS, CREATE_SCHEMA), SETTINGS).choices.audio_track is None


def test_an_audio_track_is_an_index_or_a_language_code():
    for sent, made in ((0, "0"), ("1", "1"), ("01", "1"), (12, "12"), ("DEU", "deu"), ("en", "en")):
        body = parse_body(_body({"source": FULL["source"], "audio_track": sent}), SETTINGS, CREATE_SCHEMA)
        assert choices(body, SETTINGS).choices.audio_track == made, sent
    for bad in ("german", "x" * 500, "d", " de", -1, 1000, 1.5, True, ["de"], {"index": 1}):
        code, message = _refusal({"source": FULL["source"], "audio_track": bad})
        assert code == "invalid_audio_track" and message.startswith("audio_track: must be an audio track's index")
        assert len(message) < 120, "what was sent is never echoed"


def test_multilingual_is_true_false_or_null():
    code, _ = _refusal({"source": FULL["source"], "multilingual": "yes"})
    assert code == "invalid_multilingual"


def test_the_upload_schema_lists_the_fields_an_upload_session_takes():
    upload = {"filename": "talk.mp4", "size": 10, "content_type": "video/mp4", "language": "en", "formats": "srt"}
    assert parse_body(_body(upload), SETTINGS, UPLOAD_SCHEMA) == upload
    assert set(schema(UPLOAD_SCHEMA)["properties"]) == {
        "filename",
        "size",
        "content_type",
        "language",
        "task",
        "model",
        "formats",
        "multilingual",
        "channels",
        "audio_track",
        "speakers",
        "num_speakers",
        "min_speakers",
        "max_speakers",
    }
    assert _refusal({"filename": "talk.mp4"}, UPLOAD_SCHEMA)[0] == "invalid_size"
    assert _refusal({**upload, "content_type": "mp4"}, UPLOAD_SCHEMA)[0] == "invalid_content_type"


def test_an_upload_session_takes_the_audio_options_and_its_object_carries_them():
    upload = {"filename": "talk.mkv", "size": 10, "audio_track": "DEU", "channels": "split", "multilingual": True}
    body = parse_body(_body(upload), SETTINGS, UPLOAD_SCHEMA)
    made = choices({k: v for k, v in body.items() if k not in ("filename", "size")}, SETTINGS).choices
    metadata = upload_metadata("u1", made)
    assert metadata == {
        "kscribe-upload": "u1",
        "kscribe-audio-track": "deu",
        "kscribe-channels": "split",
        "kscribe-multilingual": "true",
    }
    # What ingest reads back from the object is what the session was asked for.
    read = JobChoices.from_metadata(metadata)
    assert (read.audio_track, read.channels, read.multilingual, read.invalid) == ("deu", "split", True, "")
    # 0 is the first track (not "automatic"), and false is a choice too.
    made = choices({"audio_track": 0, "multilingual": False}, SETTINGS).choices
    assert upload_metadata("u2", made) == {
        "kscribe-upload": "u2",
        "kscribe-audio-track": "0",
        "kscribe-multilingual": "false",
    }
    assert upload_metadata("u3", choices({"audio_track": "", "channels": None}, SETTINGS).choices) == {
        "kscribe-upload": "u3"
    }


def test_an_upload_session_asks_for_speakers_where_diarization_runs():
    upload = {"filename": "talk.wav", "size": 10, "speakers": True, "num_speakers": 2}
    body = parse_body(_body(upload), SETTINGS, UPLOAD_SCHEMA)
    asked = {k: v for k, v in body.items() if k not in ("filename", "size")}
    with pytest.raises(ApiError) as caught:  # off: refused, not silently dropped
        choices(asked, Settings.from_env({}))
    assert (caught.value.status, caught.value.code) == (400, "invalid_speakers")
    metadata = upload_metadata("u1", choices(asked, SETTINGS).choices)  # diarization on
    assert metadata == {"kscribe-upload": "u1", "kscribe-speakers": "true", "kscribe-num-speakers": "2"}
    read = JobChoices.from_metadata(metadata)
    assert (read.speakers, read.num_speakers, read.invalid) == (True, 2, "")
    assert _refusal({**upload, "num_speakers": 0}, UPLOAD_SCHEMA)[0] == "invalid_num_speakers"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"audio_track": "german"}, "invalid_audio_track"),
        ({"audio_track": -1}, "invalid_audio_track"),
        ({"audio_track": 1000}, "invalid_audio_track"),
        ({"audio_track": True}, "invalid_audio_track"),
        ({"channels": "stereo"}, "invalid_channels"),
        ({"channels": 2}, "invalid_channels"),
        ({"multilingual": "yes"}, "invalid_multilingual"),
        ({"multilingual": 1}, "invalid_multilingual"),
        ({"callback_url": "https://93.184.216.34/hook"}, "unknown_field"),  # a transcription's, not an upload's
    ],
)
def test_a_bad_audio_option_of_an_upload_session_is_a_400_naming_it(change, code):
    got, message = _refusal({"filename": "talk.mp4", "size": 10, **change}, UPLOAD_SCHEMA)
    assert got == code, message


def test_an_unknown_field_and_a_body_that_is_not_an_object_are_400():
    assert _refusal({**FULL, "colour": "blue", "font": 1}) == ("unknown_field", "unknown field(s): colour, font")
    assert _refusal([FULL])[0] == "invalid_body"
    assert _refusal({"language": "en"}) == ("invalid_source", "source: required")


@pytest.mark.parametrize("field", sorted(FULL))
def test_a_wrong_type_in_any_field_is_a_400_naming_it(field):
    code, message = _refusal({**FULL, field: [[1]]})
    assert code == f"invalid_{field}" and message.startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"language": "English"}, "invalid_language", "language: must be a language code such as en or de"),
        ({"task": "summarise"}, "invalid_task", "task: must be one of transcribe, translate"),
        ({"formats": ["srt", "docx"]}, "invalid_formats", "formats: must be one of json, srt, vtt, txt, tsv, ass"),
        ({"prompt": "x" * 801}, "invalid_prompt", "prompt: at most 800 characters"),
        ({"hotwords": "a\x00b"}, "invalid_hotwords", "hotwords: contains control characters"),
        ({"metadata": {"kscribe-job": "x"}}, "invalid_metadata", None),
        (
            {"replacements": {f"w{i}": "x" for i in range(101)}},
            "invalid_replacements",
            "replacements: at most 100 entries",
        ),
        ({"subtitles": {"max_lines": 9}}, "invalid_subtitles", "subtitles.max_lines: must be at most 4"),
        ({"subtitles": {"max_lines": 2.0}}, "invalid_subtitles", "subtitles.max_lines: must be a whole number"),
        ({"retention_days": 0}, "invalid_retention_days", "retention_days: must be at least 1"),
        ({"retention_days": 1.0}, "invalid_retention_days", "retention_days: must be a whole number"),
        ({"links": "yes"}, "invalid_links", "links: must be true or false"),
        ({"source": ""}, "invalid_source", "source: must not be empty"),
    ],
)
def test_each_bound_of_the_schema_is_a_400_naming_the_field(change, code, message):
    got_code, got_message = _refusal({**FULL, **change})
    assert got_code == code and (message is None or got_message == message), got_message
    assert "x" * 50 not in got_message  # what was sent is not echoed


def test_the_first_bad_field_in_the_schema_s_order_is_the_one_named():
    assert _refusal({**FULL, "links": 1, "language": 1})[0] == "invalid_language"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"model": "huge-v9"}, "invalid_model"),  # not installed here
        ({"callback_url": "http://127.0.0.1/hook"}, "invalid_callback_url"),  # internal
        ({"formats": "srt,docx"}, "invalid_formats"),  # the comma-separated form
        ({"replacements": {"cube control": "  "}}, "invalid_replacements"),  # no words
        ({"subtitles": {"min_cue_s": 5, "max_cue_s": 2}}, "invalid_subtitles"),  # checked together
        ({"retention_days": 31}, "invalid_retention_days"),  # over the operator's maximum (30)
    ],
)
def test_what_the_schema_cannot_know_is_checked_after_it(change, code):
    body = parse_body(_body({**FULL, **change}), SETTINGS, CREATE_SCHEMA)
    with pytest.raises(ApiError) as caught:
        choices(body, SETTINGS)
        extras(body, SETTINGS)
    assert (caught.value.status, caught.value.code) == (400, code)


# Finding: the schema's patterns were read with Python's re, whose ``$`` also matches before a
# final newline and whose ``\w`` takes any alphabet; the document's dialect (ECMA-262) does
# neither. "video/mp4\n" passed as a content type (the old fullmatch refused it) and went on
# into the bucket's upload session as a header, where a newline is a 500.
@pytest.mark.parametrize(
    ("body", "name", "code"),
    [
        ({**FULL, "language": "en\n"}, CREATE_SCHEMA, "invalid_language"),
        ({"filename": "a.mp4", "size": 1, "content_type": "video/mp4\n"}, UPLOAD_SCHEMA, "invalid_content_type"),
        ({"filename": "a.mp4", "size": 1, "content_type": "vidéo/mp4"}, UPLOAD_SCHEMA, "invalid_content_type"),
        ({"filename": "a.mp4", "size": 1, "language": "de\n"}, UPLOAD_SCHEMA, "invalid_language"),
    ],
)
def test_patterns_end_at_the_end_and_take_ascii_as_the_document_s_dialect_does(body, name, code):
    assert _refusal(body, name)[0] == code


def _filling(make: Callable[[int], dict[str, object]], limit: int = 64 * 1024) -> dict[str, object]:
    """The largest body ``make(n)`` that fits in ``limit`` bytes (the default body limit)."""
    low, high = 1, 2
    while len(json.dumps(make(high))) <= limit:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if len(json.dumps(make(middle))) <= limit else (low, middle)
    return make(low)


# Finding: every error of a body was listed before one was chosen, and oneOf listed every error
# of every branch, so 64 KiB of bad list entries took seconds of CPU to refuse (formats: 2 s),
# where the checks before the schema stopped at the first.
@pytest.mark.parametrize(
    ("field", "entry"),
    [
        ("formats", lambda n: [1] * n),
        ("formats", lambda n: ["docx"] * n),
        ("hotwords", lambda n: [0] * n),
        ("hotwords", lambda n: ["\x01"] * n),
        ("hotwords", lambda n: [""] * n),
        ("metadata", lambda n: {str(i): 1 for i in range(n)}),
        ("replacements", lambda n: {str(i): 0 for i in range(n)}),
    ],
)
def test_a_body_full_of_bad_entries_costs_what_its_first_does(field, entry):
    body = _filling(lambda n: {**FULL, field: entry(n)})
    start = time.process_time()
    with pytest.raises(ApiError) as caught:
        check_body(body, CREATE_SCHEMA)
    spent = time.process_time() - start
    assert caught.value.code == f"invalid_{field}"
    assert spent < 0.05, f"{spent:.2f} s of CPU to refuse {len(json.dumps(body))} bytes"


def test_names_the_client_sent_are_not_echoed_whole():
    code, message = _refusal({**FULL, **{f"{i}{'x' * 5000}": 1 for i in range(50)}})
    assert code == "unknown_field" and len(message) < 300 and message.endswith("and 45 more"), message
    code, message = _refusal({**FULL, "subtitles": {"y" * 5000: 1}})
    assert code == "invalid_subtitles" and len(message) < 300, message


def test_speakers_with_a_channel_split_is_a_400_up_front():
    # Ingest refuses the pair; the API must say so before it makes a job that can only fail.
    for asked, settings in (
        ({"speakers": True, "channels": "split"}, SETTINGS),
        ({"speakers": True}, SETTINGS.replace(channels="split")),
    ):
        with pytest.raises(ApiError) as caught:
            choices(asked, settings)
        assert (caught.value.status, caught.value.code) == (400, "invalid_speakers")
        assert "split" in caught.value.message
    assert choices({"speakers": True, "channels": "mix"}, SETTINGS.replace(channels="split")).choices.speakers


@pytest.mark.parametrize(
    ("language", "model", "message"),
    [
        ("xx", "base", "language: 'xx' is not a language code Whisper speaks"),
        ("de", "tiny.en", "language: 'de': the model tiny.en speaks only en"),
    ],
)
def test_a_language_the_model_does_not_speak_is_a_400_naming_it(language, model, message):
    for name, extra in ((CREATE_SCHEMA, {"source": FULL["source"]}), (UPLOAD_SCHEMA, {"filename": "a.mp4", "size": 1})):
        body = parse_body(_body({**extra, "language": language, "model": model}), SETTINGS, name)
        with pytest.raises(ApiError) as caught:
            choices(body, SETTINGS)
        assert (caught.value.status, caught.value.code) == (400, "invalid_language")
        assert caught.value.message.startswith(message), caught.value.message
