"""The OpenAPI document names every route the API answers, and nothing it does not."""

import re
from pathlib import Path

import pytest

from kscribe.api.openapi import OPENAI_FORMATS, OPENAPI
from kscribe.api.router import Api, ApiError, ApiRequest
from kscribe.api.routes import links as link_routes
from kscribe.api.routes import openai as openai_api

ID = "0123456789abcdef0123456789abcdef"
# (method, the documented path, a path the API answers)
ROUTES = [
    ("get", "/openapi.json", "/openapi.json"),
    ("post", "/api/v1/transcriptions", "/api/v1/transcriptions"),
    ("get", "/api/v1/transcriptions", "/api/v1/transcriptions"),
    ("get", "/api/v1/transcriptions/{id}", f"/api/v1/transcriptions/{ID}"),
    ("delete", "/api/v1/transcriptions/{id}", f"/api/v1/transcriptions/{ID}"),
    ("get", "/api/v1/transcriptions/{id}/transcript", f"/api/v1/transcriptions/{ID}/transcript"),
    ("post", "/api/v1/transcriptions/{id}/media", f"/api/v1/transcriptions/{ID}/media"),
    ("get", "/api/v1/transcriptions/{id}/chunks", f"/api/v1/transcriptions/{ID}/chunks"),
    ("put", "/api/v1/transcriptions/{id}/speakers", f"/api/v1/transcriptions/{ID}/speakers"),
    ("get", "/api/v1/usage", "/api/v1/usage"),
    ("get", "/api/v1/options", "/api/v1/options"),
    ("post", "/api/v1/uploads", "/api/v1/uploads"),
    ("get", "/api/v1/uploads/{id}", f"/api/v1/uploads/{ID}"),
    ("delete", "/api/v1/uploads/{id}", f"/api/v1/uploads/{ID}"),
    ("put", "/api/v1/uploads/{id}/content", f"/api/v1/uploads/{ID}/content"),
    ("post", "/api/v1/batches", "/api/v1/batches"),
    ("get", "/api/v1/batches/{id}", f"/api/v1/batches/{ID}"),
    ("delete", "/api/v1/batches/{id}", f"/api/v1/batches/{ID}"),
    ("get", "/", "/"),
    ("get", "/index.html", "/index.html"),
    ("get", "/web/{file}", "/web/app.js"),
    ("get", "/docs", "/docs"),
    ("get", "/docs/{file}", "/docs/swagger-ui-bundle.js"),
    ("get", "/media/{token}", "/media/abc"),
    ("get", "/api/v1/links/{token}", f"/api/v1/links/{ID}.srt.1.{'0' * 64}"),
    ("post", "/v1/audio/transcriptions", "/v1/audio/transcriptions"),
    ("post", "/v1/audio/translations", "/v1/audio/translations"),
    ("get", "/v1/models", "/v1/models"),
    ("get", "/v1/models/{id}", "/v1/models/tiny.en"),
]
SOURCES = [Path(__file__).parents[2] / "kscribe" / "api" / name for name in ("router.py", "routes/batches.py")]


def documented() -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }


def test_the_document_lists_exactly_the_routes_the_api_answers():
    assert documented() == {(m, p) for m, p, _ in ROUTES}


def test_every_listed_route_is_answered(ctx):
    api = Api(ctx)
    labels = set()
    for method, _, path in ROUTES:
        if openai_api.handles(path) or link_routes.handles(path):
            continue  # their own handlers, ahead of the API's router (functions/api.py)
        try:
            label, _, _ = api._route(ApiRequest(method.upper(), path))
        except ApiError as exc:
            pytest.fail(f"{method} {path}: {exc.status} {exc.message}")
        labels.add(label)
    # Every route label the routers can return is reached by one of the listed routes, so a
    # new route cannot be added without a row here (and so, by the test above, in the document).
    returned = {m for source in SOURCES for m in re.findall(r'return "(\w+)", ', source.read_text())}
    assert returned - {"openapi"} <= labels | {"openapi"}, returned - labels


def test_openai_formats_match_the_routes():
    assert OPENAI_FORMATS == openai_api.RESPONSE_FORMATS


@pytest.mark.parametrize("path", [p for _, p, _ in ROUTES if "{id}" in p])
def test_ids_are_documented_as_path_parameters(path):
    for method, item in OPENAPI["paths"][path].items():
        assert any(p.get("name") == "id" and p["in"] == "path" for p in item.get("parameters", [])), (method, path)
