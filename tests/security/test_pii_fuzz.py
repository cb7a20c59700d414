"""Personal numbers sent in any free-text field never come back in clear: every operation of
the OpenAPI document gets a card number (Luhn-valid), a resident ID number (valid check
digit) or a mainland mobile in every string of its body, its path and its query, plain,
grouped by spaces or hyphens, in full-width digits, or inside other text; then the stored
orders are read back and their webhooks built. Each answer, log record and webhook body must
show the number masked or not at all.

A merchant's own free text (a description, a refund reason, metadata) is echoed back, and
that is the point of it; a personal number inside it is still personal data (JR/T 0171-2020
classes it by what it is, not by the field it was typed into), so it is masked on the way
out as a problem detail already is.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.notifications.model import body_of
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from paycore.web.app import create_app
from tests.payments.fakes import ScriptedChannel
from tests.payments.http_conftest import new_tenant, notify, scripted_runtime

EXAMPLES = 10
SWEEP_EXAMPLES = 6
DOCUMENT = create_app().openapi()
SCHEMAS = DOCUMENT["components"]["schemas"]
METHODS = ("get", "post", "put", "patch", "delete")
SEND_ALSO_WITH_PLATFORM_KEY = ("/v1/merchants", "/v1/ops", "/v1/finance", "/v1/ledger")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def luhn_completed(partial: str) -> str:
    total = 0
    for i, digit in enumerate(reversed(partial)):
        n = int(digit) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return partial + str((10 - total % 10) % 10)


def id_completed(partial: str) -> str:
    """GB 11643: ISO 7064 MOD 11-2 over the 17 digits."""
    total = sum(int(d) * w for d, w in zip(partial, ID_WEIGHTS, strict=True))
    return partial + "10X98765432"[total % 11]


_digits = st.integers(min_value=0, max_value=9).map(str)
cards = st.builds(
    lambda length, rest: luhn_completed("62" + "".join(rest)[: length - 3]),
    st.sampled_from([16, 19]),
    st.lists(_digits, min_size=16, max_size=16),
)
id_numbers = st.builds(
    lambda region, born, seq: id_completed(f"{region}{born:%Y%m%d}{seq:03d}"),
    st.sampled_from(["110101", "310104", "440305", "510107"]),
    st.dates(min_value=date(1940, 1, 1), max_value=date(2008, 12, 31)),
    st.integers(min_value=0, max_value=999),
)
mobiles = st.builds(
    lambda second, rest: "1" + second + "".join(rest),
    st.sampled_from("3456789"),
    st.lists(_digits, min_size=9, max_size=9),
)
GROUPS = {16: (4, 4, 4, 4), 19: (4, 4, 4, 4, 3), 18: (6, 8, 4), 11: (3, 4, 4)}


def grouped(value: str, separator: str) -> str:
    parts, start = [], 0
    for size in GROUPS[len(value)]:
        parts.append(value[start : start + size])
        start += size
    return separator.join(parts)


def full_width(value: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in value)


@st.composite
def personal_texts(draw: st.DrawFn) -> tuple[str, str]:
    """(the number, the text that carries it)."""
    value = draw(st.one_of(cards, id_numbers, mobiles))
    shown = draw(
        st.sampled_from([value, grouped(value, " "), grouped(value, "-"), full_width(value), value])
    )
    before = draw(st.sampled_from(["", "card ", "卡号", "tel:", "pay to "]))
    after = draw(st.sampled_from(["", " thanks", "\uff0c谢谢", "."]))
    return value, f"{before}{shown}{after}"


_BETWEEN_DIGITS = re.compile(r"(?<=[0-9])[ \-]+(?=[0-9])")


def shows(value: str, text: str) -> bool:
    """Whether `text` shows `value` in clear, whatever its digits' width or grouping."""
    plain = _BETWEEN_DIGITS.sub("", unicodedata.normalize("NFKC", text))
    return value.upper() in plain.upper()


# -- request bodies from the document --------------------------------------------------------


def resolved(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if resolved(o).get("type") != "null"]
            return resolved(options[0]) if options else {"type": "null"}
    if "allOf" in schema:
        return resolved(schema["allOf"][0])
    return schema


def filled(schema: dict[str, Any], text: str, name: str = "") -> Any:
    """A value for `schema` with `text` in every free string (enums, currencies and dates
    get a valid value, so the text reaches the business rules rather than the parser)."""
    schema = resolved(schema)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        value = {k: filled(v, text, k) for k, v in schema.get("properties", {}).items()}
        if not value and schema.get("additionalProperties", True) is not False:
            value = {"note": text}
        return value
    if kind == "array":
        return [filled(schema.get("items", {}), text, name)] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if kind == "string":
        return _string(schema, text, name)
    return text


def _string(schema: dict[str, Any], text: str, name: str) -> str:
    if schema.get("format") == "date":
        return "2026-11-25"
    if schema.get("format") == "date-time":
        return "2026-11-25T00:00:00Z"
    if name == "currency" or schema.get("pattern") == "^[A-Z]{3}$":
        return "CNY"
    return text


def requests_of(text: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, url, httpx keyword arguments) for every operation of the document."""
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            params = operation.get("parameters", [])
            url = path
            for p in params:
                if p["in"] == "path":
                    url = url.replace("{" + p["name"] + "}", quote(text, safe=""))
            query = {
                p["name"]: filled(p.get("schema", {}), text, p["name"])
                for p in params
                if p["in"] == "query"
            }
            yield method.upper(), url, {"params": query, **_body(operation, text)}


def _body(operation: dict[str, Any], text: str) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return {"json": filled(content["application/json"].get("schema", {}), text)}
    if content:
        media = next(iter(content))
        return {"content": f"{text},{text}\n".encode(), "headers": {"content-type": media}}
    return {}


# -- the run ----------------------------------------------------------------------------------


@pytest.fixture
def runtime(
    database_url: str, engine: Engine, clock: ManualClock, ledger: Ledger, field_cipher: FieldCipher
) -> Iterator[Runtime]:
    yield from scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=field_cipher,
        channels=[ScriptedChannel("alpha")],
    )


class Seen(logging.Handler):
    """Every log record's text, as a handler would write it (after paycore's redaction)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))


@pytest.fixture
def seen_logs() -> Iterator[Seen]:
    handler, root = Seen(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


_idempotency = itertools.count()


def leaks_of_every_operation(
    client: TestClient, headers: dict[str, dict[str, str]], value: str, text: str
) -> list[str]:
    leaks = []
    for method, url, kwargs in requests_of(text):
        callers = ["merchant"]
        if url.startswith(SEND_ALSO_WITH_PLATFORM_KEY) or not url.startswith("/v1/"):
            callers.append("platform")
        for caller in callers:
            extra = kwargs.pop("headers", {})
            sent = {**headers[caller], **extra, "Idempotency-Key": f"fz-{next(_idempotency)}"}
            answer = client.request(method, url, headers=sent, **kwargs)
            kwargs["headers"] = extra
            where = f"{method} {_template_of(url, text)} as {caller} ({answer.status_code})"
            leaks += _leaks_in(where, value, answer.content)
    return leaks


def _template_of(url: str, text: str) -> str:
    return url.replace(quote(text, safe=""), "{text}")


def _leaks_in(where: str, value: str, content: bytes) -> list[str]:
    """Where in an answer `value` shows: the JSON fields, or the body as a whole."""
    try:
        document = json.loads(content)
    except ValueError:
        return [where] if shows(value, content.decode("utf-8", "replace")) else []
    return [f"{where}: {field}" for field in fields_showing(value, document)]


def fields_showing(value: str, document: Any, at: str = "") -> list[str]:
    if isinstance(document, dict):
        return [f for k, v in document.items() for f in fields_showing(value, v, f"{at}.{k}")]
    if isinstance(document, list):
        return [f for item in document for f in fields_showing(value, item, f"{at}[]")]
    return [at.lstrip(".") or "(the body)"] if shows(value, str(document)) else []


def stored_orders(
    client: TestClient, auth: dict[str, str], value: str, text: str
) -> dict[str, Any]:
    """A pay-in and a payout that carry `text` in every free-text field, read back, listed,
    confirmed by the bank and refunded: each answer by what was asked. A reference is an
    ASCII lookup key that cannot be masked: one holding `value` is refused first."""
    reference = f"ref-{next(_idempotency)}"
    free = {"description": text, "merchant_reference": reference, "metadata": {"note": text}}
    payer = {"card_number": "6222021234567890123", "name": text[:64], "phone": "13812345678"}
    payin = {"product": "rent", "amount": 10_000, "currency": "CNY", "payer": payer, **free}
    beneficiary = {"account_number": "6217000010001234567", "name": text[:64]}
    payout = {"amount": 100, "currency": "CNY", "beneficiary": beneficiary, **free}
    answers = {}
    for what, url, body in (("pay-in", "/v1/payins", payin), ("payout", "/v1/payouts", payout)):
        sent = {**auth, "Idempotency-Key": f"fz-{next(_idempotency)}"}
        personal = {**body, "merchant_reference": f"ref-{value}"}
        answers[f"POST {url} (reference)"] = refused = client.post(url, json=personal, headers=sent)
        assert refused.json().get("code") == "reference_has_personal_data", refused.text
        sent = {**auth, "Idempotency-Key": f"fz-{next(_idempotency)}"}
        answers[f"POST {url}"] = created = client.post(url, json=body, headers=sent)
        assert created.status_code == 201, created.text
        order = created.json()
        answers[f"GET {url}/{{id}}"] = client.get(f"{url}/{order['id']}", headers=auth)
        answers[f"GET {url}"] = client.get(url, headers=auth)
        if what == "pay-in":
            notify(client, order["id"], channel=order.get("channel") or "alpha")
            refund = {"amount": 100, "reason": text, "merchant_reference": f"{reference}-r"}
            sent = {**auth, "Idempotency-Key": f"fz-{next(_idempotency)}"}
            refunds = f"{url}/{{id}}/refunds"
            answers[f"POST {refunds}"] = client.post(
                refunds.replace("{id}", order["id"]), json=refund, headers=sent
            )
    answers["GET /v1/notifications/events"] = client.get("/v1/notifications/events", headers=auth)
    return answers


FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.generate],  # a failure names every leaking field; shrinking adds nothing
    suppress_health_check=list(HealthCheck),
)


@FUZZ
@given(sent=personal_texts())
def test_free_text_of_orders_and_refunds_comes_back_with_personal_numbers_masked(
    sent: tuple[str, str], runtime: Runtime, seen_logs: Seen
) -> None:
    value, text = sent
    tenant = new_tenant(runtime, "Fuzz Shop")
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        answers = stored_orders(client, tenant.auth, value, text)
    leaks = [leak for where, a in answers.items() for leak in _leaks_in(where, value, a.content)]
    events = runtime.notifications.list_events(merchant_id=None, limit=100).events
    for view in events:
        leaks += _leaks_in(f"the {view.event.type} webhook", value, body_of(view.event))
    leaks += [f"a log record: {redacted(t)}" for t in seen_logs.texts if shows(value, t)]
    assert not leaks, f"{redacted(text)!r} shown in clear by:\n" + "\n".join(sorted(set(leaks)))


@settings(FUZZ, max_examples=SWEEP_EXAMPLES)  # ~200 requests an example
@given(sent=personal_texts())
def test_no_operation_answers_a_personal_number_it_was_sent_in_clear(
    sent: tuple[str, str], runtime: Runtime, admin_key: str, seen_logs: Seen
) -> None:
    value, text = sent
    tenant = new_tenant(runtime, "Fuzz Shop")
    headers = {"merchant": tenant.auth, "platform": {"Authorization": f"Bearer {admin_key}"}}
    seen_logs.texts.clear()
    with TestClient(create_app(runtime=runtime), raise_server_exceptions=False) as client:
        leaks = leaks_of_every_operation(client, headers, value, text)
    leaks += [f"a log record: {redacted(t)}" for t in seen_logs.texts if shows(value, t)]
    assert not leaks, f"{redacted(text)!r} shown in clear by:\n" + "\n".join(sorted(set(leaks)))


def redacted(text: str) -> str:
    """The failure message never shows the number either (CI logs are outputs too)."""
    return re.sub(r"[0-9\uff10-\uff19]", "#", text)
