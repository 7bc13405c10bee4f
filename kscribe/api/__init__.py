"""The HTTP API: the router, request and answer values, bodies, the OpenAPI document, views."""
