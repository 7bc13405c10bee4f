"""Request bodies checked against the schemas of the OpenAPI document (``api_spec``), so the
document a client reads is the check the API makes.

A refusal is the API's 400: ``invalid_body`` (not an object), ``unknown_field``, or
``invalid_<field>`` naming the first bad field in the schema's order. Messages never echo
a value sent, and names sent (unknown fields and options) only a few and cut short: a body
may be kilobytes of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, cast

from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.protocols import Validator

from kscribe.api.http import ApiError
from kscribe.api.openapi import OPENAPI, PLAIN_TEXT

# JSON Schema counts 1.0 as an integer; a count of days or bytes sent as 1.0 is refused, as
# Python's own checks did before the schema held them.
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)


@lru_cache(maxsize=64)
def _ecma(pattern: str) -> re.Pattern[str]:
    """``pattern`` as JSON Schema reads it (ECMA-262), for Python's ``re``: ``$`` is the end of
    the text, not also the place before a final newline ("video/mp4\\n" passed
    ``^…$`` and became a header value), and ``\\w`` and ``\\d`` are ASCII."""
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
    return re.compile("".join(out), re.ASCII)


def _pattern(validator: Any, pattern: str, instance: Any, schema_: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma(pattern).search(instance):
        yield ValidationError("does not match the pattern")  # the message never holds the text


_Strict = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, validators={"pattern": _pattern}, type_checker=_TYPES
)
_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def schema(name: str) -> dict[str, Any]:
    """The named body schema of the OpenAPI document."""
    found: dict[str, Any] = OPENAPI["components"]["schemas"][name]  # type: ignore[index]
    return found


@lru_cache
def _validator(name: str) -> Validator:
    # The document itself is the root, so its "#/components/..." references resolve.
    root = {"$ref": f"#/components/schemas/{name}", "components": OPENAPI["components"]}
    validator: Validator = _Strict(root)
    return validator


def check_body(body: Any, name: str) -> dict[str, Any]:
    """``body`` when it is valid under the schema ``name``; the API's 400 otherwise."""
    # Only first errors are taken, the body's and then its first bad field's: listing every
    # error made a body of thousands of bad entries cost seconds to refuse. What is checked
    # before a first error is valid, so the schema's bounds (maxItems, maxProperties) bound it.
    if next(_validator(name).iter_errors(body), None) is None:
        assert isinstance(body, dict)
        return body
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    fields: dict[str, Any] = schema(name)["properties"]
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown field(s): {_names(unknown)}")
    for field, field_schema in fields.items():
        if field not in body:
            if field in schema(name).get("required", ()):
                raise ApiError(400, f"invalid_{field}", f"{field}: required")
            continue
        error = next(_field_validator(name, field).iter_errors(body[field]), None)
        if error is not None:
            # An option of an object field (subtitles.max_lines) is named with its field.
            path = list(error.absolute_path)
            where = f"{field}.{path[0]}" if path and path[0] in field_schema.get("properties", {}) else field
            raise ApiError(400, f"invalid_{field}", f"{where}: {_describe(error)}")
    raise ApiError(400, "invalid_body", "the body does not match the schema")  # every error is a field's


@lru_cache
def _field_validator(name: str, field: str) -> Validator:
    return _validator(name).evolve(schema=schema(name)["properties"][field])


def _describe(error: ValidationError) -> str:
    keyword, value = error.validator, cast(Any, error.validator_value)
    schema_: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    title = schema_.get("title")
    if title:
        return f"must be {title}"
    if keyword == "type":
        kinds = [value] if isinstance(value, str) else list(value)
        return "must be " + " or ".join(_TYPE_NAMES.get(k, k) for k in kinds if k != "null")
    if keyword == "enum":
        return "must be one of " + ", ".join(str(v) for v in value if v)
    if keyword == "maxLength":
        return f"at most {value} characters"
    if keyword == "minLength":
        return "must not be empty" if value == 1 else f"at least {value} characters"
    if keyword in ("minimum", "maximum"):
        return f"must be {'at least' if keyword == 'minimum' else 'at most'} {value:g}"
    if keyword in ("maxProperties", "maxItems"):
        return f"at most {value} entries"
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema_.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        return f"unknown option(s) {_names(extra)}; choose from {', '.join(known)}"
    if keyword == "pattern":
        return "contains control characters" if value == PLAIN_TEXT["pattern"] else "is not in the expected form"
    return "is not valid here"


def _names(names: list[str], most: int = 5, length: int = 32) -> str:
    """Names the client sent, as few and as short as still tell which: a body of 64 KiB of
    unknown keys is not answered with 64 KiB of them."""
    shown = [n if len(n) <= length else n[: length - 1] + "…" for n in names[:most]]
    return ", ".join(shown) + (f" and {len(names) - most} more" if len(names) > most else "")
