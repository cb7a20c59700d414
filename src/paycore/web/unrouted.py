"""Requests the router itself refuses, answered as problem+json like every other refusal.

Starlette answers an unknown path with 404 and a method a path lacks with 405, as plain
`{"detail": ...}` JSON; its 405 names only the methods of the first route on the path it
tried, though GET and POST of one path are two routes. RFC 9110 wants `Allow` to list every
method the resource supports, so it is worked out here from the document's paths.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from paycore.web.problems import problem

_PARAMETER = re.compile(r"\\\{[^/]+?\\\}")
_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def allowed_methods(request: Request) -> list[str]:
    """Every method the document lists for this request's path (HEAD with GET, as served)."""
    paths: dict[str, Any] = request.app.openapi()["paths"]
    path = request.url.path
    # A path spelled out (/collection-plans/run-due) is that resource, though a template
    # beside it (/collection-plans/{plan_id}) matches it too.
    templates = [path] if path in paths else list(paths)
    methods: set[str] = set()
    for template in templates:
        if re.fullmatch(_PARAMETER.sub("[^/]+", re.escape(template)), path):
            methods |= {method.upper() for method in paths[template]}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for it only
        raise exc
    code = _CODES.get(exc.status_code, "http_" + str(exc.status_code))
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 405:
        allow = allowed_methods(request)
        detail = f"{request.method} is not one of {', '.join(allow)}"
        response = problem(405, code, detail)
        response.headers["Allow"] = ", ".join(allow)
        return response
    response = problem(exc.status_code, code, detail)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response
