"""A sandbox bank and a callback receiver for tests, with delays short enough to stay fast."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from paycore.channels import signing
from paycore.channels.model import Payer, PayinRequest
from paycore.channels.sandbox import SandboxChannel, load_sandbox_channel
from paycore.ids import new_id
from paycore.sandbox_bank.config import BankConfig, FaultMix
from paycore.sandbox_bank.server import NotificationReceiver, run_bank, run_notification_receiver

CLIENT_TIMEOUT_S = 1.0
"""Generous for a loaded test machine; the slow answers below are slower still."""
FAST = {
    "sync_rate": 0.0,
    "complete_min_s": 0.0,
    "complete_max_s": 0.02,
    "timeout_delay_s": 1.5,  # longer than CLIENT_TIMEOUT_S
    "hang_min_s": 1.3,
    "hang_max_s": 1.4,
    "reorder_delay_s": 0.1,
    "notify_retry_base_s": 0.05,
    "notify_retry_max_s": 0.2,
    "notify_attempts_max": 4,
    "notify_timeout_s": 1.0,
}
VALID_CARD = "4111111111111111"  # passes the Luhn check
DEFAULTS = FaultMix().as_dict()


@dataclass
class BankUnderTest:
    base_url: str
    data_dir: Path
    receiver: NotificationReceiver
    admin: httpx.Client

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Every setting back to its default (with fast delays), then `changes`."""
        response = self.admin.put("/admin/faults", json={**DEFAULTS, **FAST, **changes})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def transactions(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.admin.get("/admin/transactions").json()
        return result

    def transaction(self, reference: str, *, wait_s: float = 0.0) -> dict[str, Any]:
        deadline = time.monotonic() + wait_s
        while True:
            found = [t for t in self.transactions() if t["reference"] == reference]
            if found or time.monotonic() >= deadline:
                (only,) = found
                return only
            time.sleep(0.05)

    def channel(self, timeout_s: float = CLIENT_TIMEOUT_S) -> SandboxChannel:
        return load_sandbox_channel("sandbox", self.base_url, self.data_dir, timeout_s=timeout_s)

    def signed_request(
        self, method: str, path: str, body: bytes = b"", **sign_options: Any
    ) -> httpx.Response:
        key = signing.load_private_key(self.data_dir / "merchant_private.pem")
        options: dict[str, Any] = {"key_id": "paycore", "verb": method, "path": path, "body": body}
        headers = signing.sign(key, **{**options, **sign_options})
        return self.admin.request(method, path, content=body, headers=headers)

    def bank_public_key(self) -> Any:
        return signing.load_public_key(self.data_dir / "bank_public.pem")

    def callbacks_for(self, reference: str) -> list[dict[str, Any]]:
        bodies = [json.loads(c.body) for c in self.receiver.accepted()]
        return [b for b in bodies if b["reference"] == reference]


@contextmanager
def bank_under_test(data_dir: Path, *, seed: int = 7) -> Iterator[BankUnderTest]:
    faults = dataclasses.replace(FaultMix(), **FAST)
    config = BankConfig(data_dir=data_dir, seed=seed, faults=faults)
    with (
        run_notification_receiver() as receiver,
        run_bank(config) as base_url,
        httpx.Client(base_url=base_url, timeout=10) as admin,
    ):
        yield BankUnderTest(base_url, data_dir, receiver, admin)


def payin_request(
    receiver: NotificationReceiver,
    *,
    amount_minor: int = 10_000,
    card_number: str = VALID_CARD,
    reference: str | None = None,
) -> PayinRequest:
    return PayinRequest(
        reference=reference or new_id("pay"),
        amount_minor=amount_minor,
        currency="CNY",
        payer=Payer(card_number=card_number, name="Li Lei"),
        description="rent",
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
        notify_url=receiver.url,
    )


def payin_body(receiver_url: str, reference: str | None = None, amount_minor: int = 100) -> bytes:
    body = {
        "reference": reference or new_id("pay"),
        "amount_minor": amount_minor,
        "currency": "CNY",
        "card": {"number": VALID_CARD},
        "expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        "notify_url": receiver_url,
    }
    return json.dumps(body).encode()
