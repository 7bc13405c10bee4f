"""Request bodies checked against the schemas of the OpenAPI document (``api_spec``), so the
document a client reads is the check the API makes.

A refusal is the API's 400: ``invalid_body`` (not an object), ``unknown_field``, or
``invalid_<field>`` naming the first bad field in the schema's order. Messages never echo
what was sent: a body may be kilobytes of it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator

from kscribe.api_http import ApiError
from kscribe.api_spec import OPENAPI, PLAIN_TEXT

# JSON Schema counts 1.0 as an integer; a count of days or bytes sent as 1.0 is refused, as
# Python's own checks did before the schema held them.
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
)
_Strict = validators.extend(Draft202012Validator, type_checker=_TYPES)  # type: ignore[no-untyped-call]
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
    errors = list(_validator(name).iter_errors(body))
    if not errors:
        assert isinstance(body, dict)
        return body
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    properties = list(schema(name).get("properties", {}))
    unknown = sorted(set(body) - set(properties))
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}")
    by_field: dict[str, list[ValidationError]] = {}
    for error in errors:
        by_field.setdefault(_field_of(error), []).append(error)
    first = min(by_field, key=lambda f: properties.index(f) if f in properties else len(properties))
    chosen = best_match(by_field[first])
    assert chosen is not None
    # An option of an object field (subtitles.max_lines) is named with its field.
    where, path = first, list(chosen.absolute_path)
    if len(path) > 1 and path[1] in schema(name)["properties"].get(first, {}).get("properties", {}):
        where = f"{first}.{path[1]}"
    raise ApiError(400, f"invalid_{first}", f"{where}: {_describe(chosen)}")


def _field_of(error: ValidationError) -> str:
    if error.absolute_path:
        return str(error.absolute_path[0])
    required: Any = error.validator_value
    if error.validator == "required":  # at the top, naming no field itself
        instance: Any = error.instance
        missing = [name for name in required if name not in instance]
        return str(missing[0]) if missing else ""
    return ""


def _describe(error: ValidationError) -> str:
    keyword, value = error.validator, cast(Any, error.validator_value)
    schema_: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    title = schema_.get("title")
    if keyword == "required":
        return "required"
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
    if keyword == "maxProperties":
        return f"at most {value} entries"
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema_.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        return f"unknown option(s) {', '.join(extra)}; choose from {', '.join(known)}"
    if keyword == "pattern":
        return "contains control characters" if value == PLAIN_TEXT["pattern"] else "is not in the expected form"
    return "is not valid here"
