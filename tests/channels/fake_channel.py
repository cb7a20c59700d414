"""A channel in memory whose behaviour the test sets: a fake, not a mock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from paycore.channels.model import (
    BadNotification,
    ChannelResult,
    ChannelStatus,
    ChannelTimeout,
    ChannelUnavailable,
    FailureClass,
    Notification,
    Operation,
    PayinRequest,
    PayoutRequest,
    RefundRequest,
)


class FakeChannel:
    """Answers every operation according to `mode`; counts what reached it."""

    def __init__(self, name: str, mode: str = "ok") -> None:
        self.name = name
        self.mode = mode  # ok | decline | merchant_error | channel_error | unavailable | timeout
        self.probe_ok = True
        self.calls = 0
        self.probes = 0

    def _answer(self, reference: str) -> ChannelResult:
        self.calls += 1
        if self.mode == "unavailable":
            raise ChannelUnavailable(self.name, "connection refused")
        if self.mode == "timeout":
            raise ChannelTimeout(self.name, "no answer in time")
        failures = {
            "decline": FailureClass.USER,
            "merchant_error": FailureClass.MERCHANT,
            "channel_error": FailureClass.CHANNEL,
        }
        if self.mode in failures:
            return ChannelResult(
                ChannelStatus.FAILED, failure_code=self.mode, failure_class=failures[self.mode]
            )
        return ChannelResult(ChannelStatus.SUCCEEDED, channel_txn_id=f"{self.name}-{reference}")

    def pay_in(self, request: PayinRequest) -> ChannelResult:
        return self._answer(request.reference)

    def pay_out(self, request: PayoutRequest) -> ChannelResult:
        return self._answer(request.reference)

    def refund(self, request: RefundRequest) -> ChannelResult:
        return self._answer(request.reference)

    def query(self, operation: Operation, reference: str) -> ChannelResult:
        return self._answer(reference)

    def close(self, reference: str) -> ChannelResult:
        return self._answer(reference)

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        raise BadNotification(self.name, "bad_signature", "the fake signs nothing")

    def fetch_statement(self, day: date) -> bytes:
        return b""

    def probe(self) -> None:
        self.probes += 1
        if not self.probe_ok:
            raise ChannelUnavailable(self.name, "probe refused")
