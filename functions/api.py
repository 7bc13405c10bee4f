"""api: the HTTP job API (create, read, list, download, cancel), the web page, the
OpenAI-compatible routes and result links, over the same pipeline."""

import json

import flask
import functions_framework
import redis
import runtime

from kscribe.api import web as webui
from kscribe.api.input import client_address, stream_reader
from kscribe.api.router import Api, ApiRequest, error_body
from kscribe.api.routes import links as link_routes
from kscribe.api.routes import openai as openai_api
from kscribe.runtime import health

runtime.install_routes(health.checks_for(lambda: runtime.context()), public=True)
runtime.keep_request_bodies_unread()


@flask.current_app.after_request
def _security_headers(response: flask.Response) -> flask.Response:
    # Every answer, the page's and the API's alike (and health's): no inline script, never framed.
    for name, value in webui.security_headers(runtime.context_settings()).items():
        response.headers.setdefault(name, value)
    return response


runtime.register_stuck_gauge()
_instance = runtime.once(lambda: Api(runtime.context()))
_openai = runtime.once(lambda: openai_api.OpenAiApi(_instance()))
_links = runtime.once(lambda: link_routes.LinkServer(runtime.context()))


def _unavailable(message: str) -> flask.Response:
    body = error_body("unavailable", message)
    return flask.Response(json.dumps(body), 503, {"Content-Type": "application/json", "Retry-After": "5"})


@functions_framework.http
def api(request: flask.Request):
    settings = runtime.context_settings()
    api_request = ApiRequest(
        method=request.method,
        path=request.path,
        query=request.args.to_dict(),
        headers={k.lower(): v for k, v in request.headers.items()},
        # The body stays on the socket until the API asks for it, after the key is checked.
        read_body=stream_reader(request.stream, request.content_length),
        body_stream=request.stream,
        content_length=request.content_length,
        client=client_address(
            request.remote_addr or "",
            request.headers.get("X-Forwarded-For", ""),
            settings.trusted_proxies,
            settings.trusted_gateway_hops,
        ),
    )
    try:
        if openai_api.handles(request.path):
            # Publishes its job itself, then waits for it: the answer carries no events.
            answer = _openai().handle(
                api_request,
                openai_api.stream_chunks(request.stream),
                lambda produced: runtime.publish(produced, runtime.context(), after=f"POST {request.path}"),
            )
        elif link_routes.handles(request.path):
            answer = _links().handle(api_request)
        else:
            answer = _instance().handle(api_request)
    except redis.RedisError:
        # Job state is out of reach: a JSON answer the client can act on, not an HTML 500.
        runtime.log.exception("Redis is unreachable for %s %s", request.method, request.path)
        return _unavailable("job state is unreachable right now; retry later")
    try:
        runtime.publish(answer.events, runtime.context(), after=f"{request.method} {request.path}")
    except Exception:
        runtime.log.exception("could not publish for %s %s", request.method, request.path)
        if answer.rollback:
            answer.rollback()
        return _unavailable("the pipeline cannot take jobs right now; retry later")
    body = answer.body
    headers = dict(answer.headers)
    if answer.stream is not None:
        return flask.Response(answer.stream, answer.status, headers, direct_passthrough=True)
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    return flask.Response(body, answer.status, headers)
