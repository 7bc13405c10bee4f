"""A JSON request body taken apart into a job's choices.

Its form (fields, types, bounds) is checked against the OpenAPI document's schema
(``api_schema``); what is left here is what a schema cannot know: which models are
installed, where callbacks may go, the operator's limits, and the checks that need words
(a replacement needs words on both sides). Every refusal is a 400 whose code names the
field (``invalid_<field>``), so a client can point at what it sent wrong.
"""

from __future__ import annotations

from typing import Any

from kscribe.api.http import ApiError, ApiRequest, field_error
from kscribe.api.input import MAX_JSON_DEPTH, BodyTooLarge, loads_bounded
from kscribe.api.schema import check_body
from kscribe.choices import (
    MAX_HOTWORDS_CHARS,
    MAX_PROMPT_CHARS,
    JobChoices,
    check_text,
    parse_choice,
    parse_replacements,
    parse_subtitles,
)
from kscribe.errors import ConfigError, InputError
from kscribe.pipeline.stages.ingest import CheckedChoices, check_choices
from kscribe.settings import Settings, parse_formats

# The schemas in the OpenAPI document that bodies are checked against.
CREATE_SCHEMA = "CreateTranscription"
UPLOAD_SCHEMA = "CreateUpload"


def parse_body(request: ApiRequest, settings: Settings, schema: str) -> dict[str, Any]:
    """The body as a JSON object valid under ``schema``: 413 over the size limit, 400 otherwise."""
    try:
        raw = request.read_body(settings.api_max_body_bytes)
    except BodyTooLarge:
        raise ApiError(413, "body_too_large", f"the body is over {settings.api_max_body_bytes} bytes") from None
    try:
        body = loads_bounded(raw or b"null")
    except ValueError:  # UnicodeDecodeError and nesting deeper than MAX_JSON_DEPTH included
        raise ApiError(
            400, "invalid_json", f"the body is not valid JSON (UTF-8, nested at most {MAX_JSON_DEPTH} deep)"
        ) from None
    return check_body(body, schema)


def choices(body: dict[str, Any], settings: Settings) -> CheckedChoices:
    """The job's choices from a valid body's language, task, model, formats, callback_url,
    metadata, vocabulary, audio_track and speaker fields (empty and null mean the settings'
    defaults), checked for this deployment (``check_choices``)."""
    formats = body.get("formats") or None
    if isinstance(formats, list):
        formats = ",".join(formats) or None
    try:  # a list's names are the schema's; a comma-separated string is checked here
        parsed_formats = parse_formats(formats) if formats else None
    except ConfigError as exc:
        raise field_error("formats", str(exc)) from None
    prompt, hotwords, replacements, subtitles = _vocabulary(body)
    # 0 is a track (the first), not "automatic": only absence, null and "" are.
    raw_track = body.get("audio_track")
    try:  # the canonical form: "01" → "1", "DEU" → "deu"
        audio_track = parse_choice("" if raw_track is None else raw_track)
    except InputError as exc:
        raise field_error("audio_track", str(exc).removeprefix("audio_track: ")) from None
    speakers = bool(body.get("speakers"))
    checked = check_choices(
        JobChoices(
            model=body.get("model") or None,
            language=body.get("language") or None,
            task=body.get("task") or None,
            formats=parsed_formats,
            callback_url=body.get("callback_url") or None,
            metadata=body.get("metadata") or {},
            prompt=prompt,
            hotwords=hotwords,
            replacements=replacements,
            subtitles=subtitles,
            channels=body.get("channels") or None,  # one of CHANNEL_MODES: the schema's enum
            audio_track=audio_track or None,
            multilingual=body.get("multilingual"),  # the schema admits true, false or null
            speakers=speakers,
            # Counts without speakers are refused by check_choices; types and bounds are the schema's.
            num_speakers=body.get("num_speakers"),
            min_speakers=body.get("min_speakers"),
            max_speakers=body.get("max_speakers"),
        ),
        settings,
    )
    if checked.refused:
        # The language check's words start with the field's name, which the error names already.
        problem = checked.problem.removeprefix("language ") if checked.refused == "language" else checked.problem
        raise field_error(checked.refused, problem)
    return checked


def _vocabulary(body: dict[str, Any]) -> tuple[str | None, str | None, dict[str, str], dict[str, float]]:
    """prompt, hotwords (a list is joined), replacements and subtitles, normalised the way
    upload metadata and the CLI's are."""
    texts: dict[str, str | None] = {}
    for name, limit in (("prompt", MAX_PROMPT_CHARS), ("hotwords", MAX_HOTWORDS_CHARS)):
        try:  # a list of hotwords is held to the limit once joined
            texts[name] = check_text(name, body.get(name) or "", limit) or None
        except InputError as exc:
            raise field_error(name, str(exc).removeprefix(f"{name} ")) from None
    try:  # words on both sides of each
        replacements = parse_replacements(body.get("replacements") or {})
    except InputError as exc:
        raise field_error("replacements", str(exc).removeprefix("replacements")) from None
    try:  # min_cue_s is not over max_cue_s
        subtitles = parse_subtitles(body.get("subtitles") or {})
    except InputError as exc:
        raise field_error("subtitles", str(exc)) from None
    return texts["prompt"], texts["hotwords"], replacements, subtitles


def extras(body: dict[str, Any], settings: Settings) -> tuple[int, bool]:
    """``retention_days`` (up to the operator's maximum) and ``links`` (the callback
    carries result links)."""
    days: int = body.get("retention_days") or 0
    limit = settings.max_retention_days
    if days > limit:
        raise field_error("retention_days", f"a whole number of days from 1 to {limit}")
    return days, bool(body.get("links", False))
