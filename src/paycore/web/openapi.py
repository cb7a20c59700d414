"""The OpenAPI document, made true to what the routes answer.

FastAPI documents a route's success and a 422 in its own `HTTPValidationError` shape, as
`application/json`. paycore answers every refusal as RFC 9457 `application/problem+json`,
from handlers FastAPI cannot see (web/problems.py). This module rewrites the generated
document once: every non-2xx response is a `Problem`, and each operation lists the
statuses its shape makes possible (a body can be malformed, a key can be missing, a path
id can name nothing). Statuses only a route knows (409 on a state conflict, 503/504 from a
channel: `CHANNEL_ERRORS`) it declares itself in `responses=`; each is given the Problem
shape here.
"""

from __future__ import annotations

from typing import Any

from babel.numbers import list_currencies
from fastapi import FastAPI

from paycore import limits
from paycore.money import is_known_currency

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Text is anything but C0/C1 control characters (TAB, LF, CR allowed): web/bodies.py. Lone
# surrogates are refused too, but are not Unicode characters a JSON Schema pattern can name.
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_CURRENCY_REF = {"$ref": "#/components/schemas/Currency"}
_JSON_TEXT_REF = {"$ref": "#/components/schemas/JsonText"}

# Why each status happens, as the document says it.
REASONS = {
    400: "Bad request: `malformed_json` (the body is not one JSON document), or a required "
    "header is missing or unusable (`idempotency_key_missing`, `idempotency_key_too_long`).",
    401: "`unauthenticated`: no API key, or one that is unknown, revoked or expired.",
    403: "`forbidden`: the API key lacks the scope this operation needs.",
    404: "An object named in the path, query or body does not exist, or is another merchant's.",
    409: "Conflict: the id or Idempotency-Key was used with a different request, the request "
    "is still in progress, or the object's state does not allow it.",
    413: "The body, or a batch in it, is over its limit.",
    422: "The request is well formed but refused: a field fails validation (`unknown_field`, "
    "`missing_field`, `wrong_type`, `invalid_value`...) or a business rule says no.",
    500: "`internal_error`: the server failed; quote the problem's `instance` to support.",
    503: "`channel_unavailable`: the payment channel could not be reached, or is taken out "
    "of traffic; nothing was done, try again later.",
    504: "`channel_timeout`: the payment channel did not answer in time; the outcome is "
    "unknown until it does (read the object again later).",
}

# What web/problems.on_channel_error answers when a ChannelError escapes a route. Only a
# route whose service calls a channel without handling the error itself declares these
# (creates do not: failover and `processing` absorb them): `responses=CHANNEL_ERRORS`.
CHANNEL_ERRORS: dict[int | str, dict[str, Any]] = {
    503: {"description": REASONS[503]},
    504: {"description": REASONS[504]},
}

JSON_TEXT_SCHEMA: dict[str, Any] = {
    "title": "JsonText",
    "description": "Any JSON value whose strings (keys too, at any depth) are text.",
    "anyOf": [
        {"type": "string", "pattern": TEXT_PATTERN},
        {"type": ["number", "boolean", "null"]},
        {"type": "array", "items": {"$ref": "#/components/schemas/JsonText"}},
        {
            "type": "object",
            "propertyNames": {"pattern": TEXT_PATTERN},
            "additionalProperties": {"$ref": "#/components/schemas/JsonText"},
        },
    ],
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is stable and snake_case.",
    "type": "object",
    "required": ["type", "title", "status", "code", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "pattern": "^urn:paycore:request:"},
        "errors": {
            "type": "array",
            "description": "For validation problems: each field that failed.",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "type": {"type": "string"},
                    "msg": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}


def raw_body(*media_types: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """`openapi_extra=` for a route that reads its body itself (a file, a signed callback):
    the document says what the body is, which FastAPI cannot see."""
    shape = schema or {"type": "string"}
    return {
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": shape} for media_type in media_types},
        }
    }


def install(app: FastAPI) -> None:
    """Serve the rewritten document at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = make_true(FastAPI.openapi(app))
        return app.openapi_schema

    setattr(app, "openapi", openapi)  # noqa: B010 - FastAPI documents replacing the method


def make_true(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(Problem=PROBLEM_SCHEMA, Currency=currency_schema(), JsonText=JSON_TEXT_SCHEMA)
    for name in _request_body_schemas(document):
        _document_currency(schemas[name])
        _document_text(schemas[name])
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            _document_refusals(operation, method)
            _document_parameters(operation)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                if media.get("schema", {}).get("type") == "object":  # a JSON raw_body()
                    _document_text(media["schema"])
    _exact_bounds(document)
    return document


_BOUNDS = ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum")
# FastAPI's OpenAPI model holds bounds as floats: 2**63 - 1 comes out as 2**63, one more
# than the code accepts. Integral bounds are written back as ints, the large ones as the
# limit they were rounded from.
_LARGE_LIMITS = {
    float(value): value
    for value in vars(limits).values()
    if type(value) is int and abs(value) > 2**53
}


def _exact_bounds(node: Any) -> None:
    if isinstance(node, list):
        for child in node:
            _exact_bounds(child)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float) and value.is_integer():
                node[key] = _LARGE_LIMITS.get(value, int(value))
            else:
                _exact_bounds(value)


def _document_parameters(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"].lower() == "idempotency-key":
            # The routes take it as optional so that its absence is the documented 400
            # `idempotency_key_missing`, not a generic 422: the document says it is required.
            parameter["required"] = True
            parameter["schema"] = {
                "type": "string",
                "minLength": 1,
                "maxLength": limits.IDEMPOTENCY_KEY_LENGTH_MAX,
            }
        if parameter["name"] == "currency":
            parameter["schema"] = _CURRENCY_REF
        for schema in [parameter["schema"], *parameter["schema"].get("anyOf", [])]:
            _document_date(schema)


def currency_schema() -> dict[str, Any]:
    """The codes money.py accepts, so the document and the validation agree exactly."""
    codes = sorted(code for code in list_currencies() if is_known_currency(code))
    return {
        "title": "Currency",
        "description": "ISO 4217 alphabetic code (those in CLDR).",
        "type": "string",
        "pattern": "^[A-Z]{3}$",
        "enum": codes,
    }


def _document_currency(model: dict[str, Any]) -> None:
    properties = model.get("properties", {})
    if "currency" in properties:
        nullable = "anyOf" in properties["currency"]
        ref: dict[str, Any] = (
            {"anyOf": [_CURRENCY_REF, {"type": "null"}]} if nullable else dict(_CURRENCY_REF)
        )
        properties["currency"] = ref


def _request_body_schemas(document: dict[str, Any]) -> set[str]:
    """Names of the component schemas a request body uses, at any depth."""
    pending = [
        media["schema"]
        for item in document.get("paths", {}).values()
        for operation in item.values()
        for media in operation.get("requestBody", {}).get("content", {}).values()
        if "schema" in media
    ]
    schemas = document["components"]["schemas"]
    names: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if ref and name not in names:
                names.add(name)
                pending.append(schemas[name])
            pending.extend(node.values())
    return names


def _document_date(node: dict[str, Any]) -> None:
    """Dates and instants are refused outside the business years (clock.date_problem): the
    year of the literal is 2000-2099."""
    if node.get("format") in ("date", "date-time"):
        low, high = limits.BUSINESS_DATE_MIN.year, limits.BUSINESS_DATE_MAX.year
        if low % 100 == 0 and high == low + 99:  # a century: 2000-2099 is ^20[0-9]{2}-
            node["pattern"] = f"^{low // 100}[0-9]{{2}}-"
        else:
            node["pattern"] = "^(" + "|".join(str(y) for y in range(low, high + 1)) + ")-"


def _document_text(node: Any) -> None:
    """Every free-text string of a body refuses control characters (web/bodies.py): say so
    where the field has no stricter pattern, format or enum of its own."""
    if isinstance(node, list):
        for child in node:
            _document_text(child)
        return
    if not isinstance(node, dict):
        return
    _document_date(node)
    if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(node):
        node["pattern"] = TEXT_PATTERN
    names = node.get("propertyNames")
    if isinstance(names, dict) and not {"pattern", "enum", "const"} & set(names):
        names["pattern"] = TEXT_PATTERN  # keys of a dict body field are text too
    shaped = {"properties", "patternProperties"} & set(node)
    free = node.get("additionalProperties", True) is True and not shaped
    if node.get("type") == "object" and free:  # metadata: text at any depth, keys too
        node["propertyNames"] = {"pattern": TEXT_PATTERN}
        node["additionalProperties"] = _JSON_TEXT_REF
    for key, child in node.items():
        if key in ("examples", "default", "example"):
            continue
        if child == {} and key in ("items", "additionalProperties"):
            node[key] = dict(_JSON_TEXT_REF)  # "any value" (`list[Any]`): its strings are text too
        elif key == "properties" and isinstance(child, dict):
            for name, value in child.items():
                if value == {}:
                    child[name] = dict(_JSON_TEXT_REF)
        _document_text(node[key])


def _document_refusals(operation: dict[str, Any], method: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in _statuses_of(operation, method):
        responses.setdefault(str(status), {"description": REASONS[status]})
    for code, response in responses.items():
        if code.startswith(("4", "5")):
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
            if not response.get("description") or response["description"] == "Validation Error":
                response["description"] = REASONS.get(int(code), "Refused.")


def _statuses_of(operation: dict[str, Any], method: str) -> set[int]:
    """The statuses the shape of an operation makes possible, whatever its route does."""
    statuses = {500}
    parameters = operation.get("parameters", [])
    if operation.get("security"):
        statuses |= {401, 403}
    if parameters or "requestBody" in operation:
        # Anything named in the path, the query or the body may not exist (or be another
        # merchant's), and any input may fail validation.
        statuses |= {404, 422}
    if "requestBody" in operation:
        statuses |= {400, 413}
    if method in ("post", "put", "patch", "delete"):
        statuses.add(409)
    if any(p["in"] == "header" and p["name"].lower() == "idempotency-key" for p in parameters):
        statuses |= {400, 409}
    return statuses
