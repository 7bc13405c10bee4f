"""A JSON request body taken apart into a job's choices, each field checked on its own.

Every refusal is a 400 whose code names the field (``invalid_<field>``), so a client can
point at what it sent wrong.
"""

from __future__ import annotations

import re
from typing import Any

from kscribe.api_http import ApiError, ApiRequest, field_error
from kscribe.api_input import MAX_JSON_DEPTH, BodyTooLarge, loads_bounded
from kscribe.callbacks import check_url
from kscribe.errors import CallbackRefused, ConfigError, InputError, ModelNotFound
from kscribe.models import check_model
from kscribe.notices import JobChoices, check_metadata, parse_subtitles
from kscribe.settings import Settings, parse_formats
from kscribe.subtitles import OPTIONS as SHAPING_OPTIONS
from kscribe.values import FORMATS as ALL_FORMATS
from kscribe.values import TASKS
from kscribe.vocabulary import MAX_HOTWORDS_CHARS, MAX_PROMPT_CHARS, check_text, parse_replacements

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
CREATE_FIELDS = frozenset(
    {
        "source",
        "language",
        "task",
        "model",
        "formats",
        "callback_url",
        "metadata",
        "retention_days",
        "links",
        "prompt",
        "hotwords",
        "replacements",
        "subtitles",
    }
)
UPLOAD_FIELDS = frozenset({"filename", "size", "content_type", "language", "task", "model", "formats"})


def parse_body(request: ApiRequest, settings: Settings, fields: frozenset[str]) -> dict[str, Any]:
    """The body as a JSON object of known fields: 413 over the size limit, 400 otherwise."""
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
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    unknown = sorted(set(body) - fields)
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
    return body


def choices(body: dict[str, Any], settings: Settings) -> JobChoices:
    """The job's choices from the body's language, task, model, formats, callback_url,
    metadata and vocabulary fields."""

    def optional_str(name: str) -> str | None:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise field_error(name, "must be a string")
        return value or None

    language, task, model = optional_str("language"), optional_str("task"), optional_str("model")
    callback_url = optional_str("callback_url")
    if language and not _LANGUAGE.match(language):
        raise field_error("language", f"{language!r} is not a language code such as en or de")
    if task and task not in TASKS:
        raise field_error("task", f"must be {' or '.join(TASKS)}")
    if model:
        try:
            check_model(model, allow_custom=False)  # paths and gs:// models are the operator's
        except ModelNotFound as exc:
            raise field_error("model", str(exc)) from None
    formats = body.get("formats")
    if isinstance(formats, list) and all(isinstance(f, str) for f in formats):
        formats = ",".join(formats)
    if formats is not None and not isinstance(formats, str):
        raise field_error("formats", f"a list of {', '.join(ALL_FORMATS)}")
    try:
        if formats:
            parse_formats(formats)
    except ConfigError as exc:
        raise field_error("formats", str(exc)) from None
    if callback_url:
        try:
            check_url(callback_url, settings.callback_allow)
        except CallbackRefused as exc:
            raise field_error("callback_url", str(exc)) from None
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise field_error("metadata", "must be an object of strings")
    try:
        check_metadata(metadata)
    except InputError as exc:
        raise field_error("metadata", str(exc).removeprefix("metadata: ")) from None
    prompt, hotwords, replacements, subtitles = _vocabulary(body)
    return JobChoices(
        model=model,
        language=language,
        task=task,
        formats=formats or None,
        callback_url=callback_url,
        metadata=metadata,
        prompt=prompt,
        hotwords=hotwords,
        replacements=replacements,
        subtitles=subtitles,
    )


def _vocabulary(body: dict[str, Any]) -> tuple[str | None, str | None, dict[str, str], dict[str, float]]:
    """prompt, hotwords (a string or a list of strings), replacements and subtitles."""
    texts: dict[str, str | None] = {}
    for name, limit in (("prompt", MAX_PROMPT_CHARS), ("hotwords", MAX_HOTWORDS_CHARS)):
        try:
            texts[name] = check_text(name, body.get(name) or "", limit) or None
        except InputError as exc:
            raise field_error(name, str(exc).removeprefix(f"{name} ")) from None
    try:
        replacements = parse_replacements(body.get("replacements") or {})
    except InputError as exc:
        raise field_error("replacements", str(exc).removeprefix("replacements")) from None
    raw = body.get("subtitles") or {}
    if not isinstance(raw, dict):
        raise field_error("subtitles", f"must be an object of {', '.join(SHAPING_OPTIONS)}")
    try:
        subtitles = parse_subtitles(raw)
    except InputError as exc:
        raise field_error("subtitles", str(exc)) from None
    return texts["prompt"], texts["hotwords"], replacements, subtitles


def extras(body: dict[str, Any], settings: Settings) -> tuple[int, bool]:
    """``retention_days`` (1 to the operator's maximum) and ``links`` (the callback
    carries result links)."""
    days = body.get("retention_days")
    limit = settings.max_retention_days
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= limit):
        raise field_error("retention_days", f"a whole number of days from 1 to {limit}")
    wants_links = body.get("links", False)
    if not isinstance(wants_links, bool):
        raise field_error("links", "true or false")
    return days or 0, wants_links
