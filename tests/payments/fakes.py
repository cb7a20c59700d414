"""A scripted channel: a fake bank in memory, for unit tests of the payment flows.

Each call takes the next scripted outcome (a ChannelResult to answer, or an exception
to raise); with nothing scripted it accepts the order as `processing`. `truth` is what
the bank knows, and what `query` answers; callbacks are JSON with a shared secret.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Mapping
from datetime import date

from paycore.channels.model import (
    BadNotification,
    ChannelResult,
    ChannelStatus,
    FailureClass,
    Notification,
    Operation,
    PayinRequest,
    PayoutRequest,
    RefundRequest,
)

SECRET = "fake-bank-secret"
_txn_numbers = itertools.count(1)


def accepted() -> ChannelResult:
    return ChannelResult(ChannelStatus.PROCESSING, channel_txn_id=f"fb{next(_txn_numbers)}")


def succeeded(txn: str | None = None) -> ChannelResult:
    return ChannelResult(ChannelStatus.SUCCEEDED, channel_txn_id=txn or f"fb{next(_txn_numbers)}")


def declined(
    code: str = "insufficient_funds", cls: FailureClass = FailureClass.USER
) -> ChannelResult:
    return ChannelResult(ChannelStatus.FAILED, failure_code=code, failure_class=cls)


class ScriptedChannel:
    def __init__(self, name: str) -> None:
        self.name = name
        self.script: deque[ChannelResult | Exception] = deque()
        self.truth: dict[str, ChannelResult] = {}
        self.calls: list[tuple[str, str]] = []
        self.requests: dict[str, PayinRequest | PayoutRequest | RefundRequest] = {}
        self.probe_error: Exception | None = None

    def then(self, *outcomes: ChannelResult | Exception) -> ScriptedChannel:
        self.script.extend(outcomes)
        return self

    def _answer(self, operation: str, reference: str) -> ChannelResult:
        self.calls.append((operation, reference))
        outcome = self.script.popleft() if self.script else accepted()
        if isinstance(outcome, Exception):
            raise outcome
        self.truth[reference] = outcome
        return outcome

    def pay_in(self, request: PayinRequest) -> ChannelResult:
        self.requests[request.reference] = request
        return self._answer("payin", request.reference)

    def pay_out(self, request: PayoutRequest) -> ChannelResult:
        self.requests[request.reference] = request
        return self._answer("payout", request.reference)

    def refund(self, request: RefundRequest) -> ChannelResult:
        self.requests[request.reference] = request
        return self._answer("refund", request.reference)

    def query(self, operation: Operation, reference: str) -> ChannelResult:
        self.calls.append(("query", reference))
        if self.script:
            outcome = self.script.popleft()
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return self.truth.get(reference, ChannelResult(ChannelStatus.NOT_FOUND))

    def close(self, reference: str) -> ChannelResult:
        self.calls.append(("close", reference))
        known = self.truth.get(reference)
        if known is not None and known.status is ChannelStatus.SUCCEEDED:
            return known
        closed = ChannelResult(ChannelStatus.CLOSED)
        self.truth[reference] = closed
        return closed

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        if headers.get("x-fake-signature") != SECRET:
            raise BadNotification(self.name, "bad_signature", "signature does not verify")
        try:
            doc = json.loads(body)
            result = ChannelResult(
                ChannelStatus(doc["status"]),
                channel_txn_id=doc.get("txn"),
                failure_code=doc.get("failure_code"),
                failure_class=FailureClass(doc["failure_class"])
                if doc.get("failure_class")
                else None,
            )
            return Notification(
                notification_id=doc["id"],
                operation=Operation(doc["operation"]),
                reference=doc["reference"],
                result=result,
            )
        except (ValueError, KeyError, TypeError) as error:
            raise BadNotification(self.name, "malformed_notification", str(error)) from None

    def fetch_statement(self, day: date) -> bytes:
        return b""

    def probe(self) -> None:
        if self.probe_error is not None:
            raise self.probe_error


def callback_body(
    *,
    notification_id: str,
    operation: str,
    reference: str,
    status: str,
    failure_code: str | None = None,
    failure_class: str | None = None,
) -> bytes:
    return json.dumps(
        {
            "id": notification_id,
            "operation": operation,
            "reference": reference,
            "status": status,
            "txn": "fbcb",
            "failure_code": failure_code,
            "failure_class": failure_class,
        }
    ).encode()
