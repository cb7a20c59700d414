"""RFC 9457 problem details: every refused request gets one, with a stable `code`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from paycore.channels.model import ChannelError, ChannelTimeout
from paycore.errors import Rejected
from paycore.security.masking import redact_personal_numbers, redact_value
from paycore.web import request_id

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://paycore.dev/problems/"

_PYDANTIC_CODES = {
    "json_invalid": "malformed_json",
    "extra_forbidden": "unknown_field",
    "missing": "missing_field",
    "int_type": "wrong_type",
    "int_from_float": "wrong_type",
    "int_parsing": "wrong_type",
    "string_type": "wrong_type",
    "list_type": "wrong_type",
    "dict_type": "wrong_type",
    "model_type": "wrong_type",
    "model_attributes_type": "wrong_type",
    "datetime_parsing": "invalid_timestamp",
    "datetime_from_date_parsing": "invalid_timestamp",
    "datetime_type": "invalid_timestamp",
    "bool_type": "wrong_type",
    "literal_error": "invalid_value",
    "enum": "invalid_value",
    "date_parsing": "invalid_date",
    "date_from_datetime_parsing": "invalid_date",
    "date_from_datetime_inexact": "invalid_date",
    "date_type": "invalid_date",
    "string_too_long": "value_too_long",
    "string_too_short": "value_too_short",
    "string_unicode": "invalid_text",  # a lone surrogate: not text, cannot be stored
}

_STATUS_BY_CODE = {
    "malformed_json": 400,
    "account_not_found": 404,
    "transfer_not_found": 404,
    "batch_too_large": 413,
    "export_link_expired": 410,
    "export_expired": 410,
    "export_too_large": 413,
    "too_many_exports": 429,
    "event_not_found": 404,
    "unauthenticated": 401,
    "forbidden": 403,
    "account_owned_by_flow": 403,
    "unfreeze_needs_platform_key": 403,
    "merchant_not_found": 404,
    "api_key_not_found": 404,
    "merchant_exists": 409,
    "order_not_found": 404,
    "channel_not_found": 404,
    "idempotency_key_missing": 400,
    "idempotency_key_too_long": 400,
    "idempotency_key_reused": 409,
    "request_in_progress": 409,
    "duplicate_merchant_reference": 409,
    "order_already_final": 409,
    "merchant_key_required": 403,
    "bad_signature": 401,
    "stale_notification": 401,
    "malformed_notification": 400,
    "finance_voucher_conflict": 409,
    "finance_receiver_unavailable": 503,
    "incident_still_open": 409,
    "reveal_reason_required": 422,
    "reveal_field_unknown": 422,
    "reveal_object_type_unknown": 422,
    "invalid_lookup_value": 422,
    "subject_refund_pending": 409,
    "subject_plan_active": 409,
    "case_not_found": 404,
    "case_transition_invalid": 409,
    "case_version_conflict": 409,
    "case_str_missing": 409,
}


def status_for(code: str) -> int:
    if code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[code]
    if code.startswith("exists_with_different_") or code == "account_closed":
        return 409
    # Slices name their codes by these endings, so each need not register its own here.
    if code.endswith("_not_found"):
        return 404
    if code.endswith(("_exists", "_reused", "_in_progress")):
        return 409
    return 422


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    # A detail may quote what the caller sent (an id in the path, a field's value): personal
    # numbers in it are masked, as in logs, since problem bodies end up in clients' logs.
    detail = redact_personal_numbers(detail)
    extra = {name: redact_value(value) for name, value in extra.items()}
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
        "instance": f"urn:paycore:request:{request_id.current.get()}",
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _code_of_validation_error(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    loc = [str(part) for part in error.get("loc", ())]
    if kind in ("greater_than", "greater_than_equal") and "amount" in loc:
        return "amount_must_be_positive"
    if kind == "less_than_equal" and "amount" in loc:
        return "amount_must_not_exceed_max"
    bounds = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
    if kind in bounds and loc[-1:] == ["code"]:
        return "code_must_not_exceed_max"
    if kind in bounds and loc[-1:] == ["limit"]:
        return "limit_out_of_range"
    if kind in bounds and loc[-1:] == ["timeout_s"]:
        return "overflows_timeout"
    if kind == "too_long" and loc[-1:] == ["transfers"]:
        return "batch_too_large"
    if kind in ("too_short",) and loc[-1:] == ["transfers"]:
        return "batch_empty"
    return _PYDANTIC_CODES.get(kind, kind)


async def on_rejected(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, Rejected):  # pragma: no cover - registered for Rejected only
        raise exc
    return problem(status_for(exc.code), exc.code, exc.detail or exc.code)


async def on_channel_error(_request: Request, exc: Exception) -> JSONResponse:
    """A channel could not be reached or did not answer in time, outside any order flow
    (order flows turn these into failover or an unknown result themselves)."""
    if isinstance(exc, ChannelTimeout):
        return problem(504, "channel_timeout", f"channel {exc.channel} did not answer in time")
    if isinstance(exc, ChannelError):
        return problem(503, "channel_unavailable", f"channel {exc.channel} is unavailable")
    raise exc  # pragma: no cover - registered for ChannelError only


async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    """A bug or an outage: logged with its trace and request id, answered without details."""
    log.error("unexpected error", exc_info=exc, extra={"request_id": request_id.current.get()})
    return problem(500, "internal_error", "the server failed; quote the instance to support")


async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    errors = list(exc.errors())
    code = _code_of_validation_error(errors[0]) if errors else "invalid_request"
    shown = [
        {"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")}
        for e in errors[:20]
    ]
    return problem(status_for(code), code, _detail_of(errors), errors=shown)


def _detail_of(errors: list[Any]) -> str:
    if not errors:
        return ""
    first = errors[0]
    if first.get("type") == "json_invalid":  # strict_json said what is wrong: say it
        return str(first.get("ctx", {}).get("error") or first.get("msg", ""))
    return str(first.get("msg", ""))
