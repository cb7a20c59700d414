"""A chaos run: real HTTP between paycore, two sandbox banks and a merchant's webhook
receiver, with timeouts, unknown results, 503s, duplicated and reordered callbacks,
payout returns, and one bank that starts hanging mid-run.

At the end every order is final, the ledger balances, money moved exactly once per
order (checked against the banks' own records), and every merchant event reached the
receiver exactly once; the effective success rate paycore reports for each bank equals
the one computed independently from that bank's records.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from paycore.channels.config import ChannelConfig, ChannelsConfig, build_channels
from paycore.channels.routing import Route, RouteCandidate
from paycore.ledger.service import Ledger
from paycore.notifications.model import verify_signature
from paycore.payments import bookkeeping as books
from paycore.payments.model import OrderKind, OrderStatus
from paycore.platform.config import Settings
from paycore.runtime import Runtime
from paycore.sandbox_bank.config import BankConfig, FaultMix
from paycore.sandbox_bank.server import run_bank, serve_app
from paycore.security.crypto import FieldCipher
from paycore.web.app import create_app
from tests.conftest import ON_POSTGRES

pytestmark = pytest.mark.slow

PAYINS = 300 if ON_POSTGRES else 120
CLIENTS = 12
CARDS = ["6228480402564890018", "4111111111111111", "5555555555554444", "6222021234567890128"]
USER_OR_MERCHANT = {
    "insufficient_funds", "card_declined", "invalid_card", "payer_cancelled", "account_closed",
    "name_mismatch", "invalid_request", "reference_conflict", "payin_not_found",
    "payin_not_refundable", "refund_exceeds_refundable", "payin_expired",
}  # fmt: skip
"""The bank's codes for failures its customer or the merchant caused, read off the
bank's own documentation (sandbox_bank/README.md), not off paycore's mapping."""

CHAOS = FaultMix(
    unavailable_rate=0.02,
    error_after_rate=0.01,
    timeout_rate=0.05,
    timeout_delay_s=1.5,
    decline_rate=0.05,
    channel_decline_rate=0.02,
    unknown_rate=0.02,
    sync_rate=0.2,
    payout_return_rate=0.1,
    return_delay_s=2.0,
    duplicate_rate=0.1,
    reorder_rate=0.1,
    reorder_delay_s=0.3,
    complete_min_s=0.02,
    complete_max_s=0.3,
)


@dataclass
class Receiver:
    """The merchant's webhook endpoint: verifies each signature, counts event ids."""

    secret: str = ""
    received: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        try:
            verify_signature(
                self.secret,
                request.headers.get("paycore-signature", ""),
                body,
                now=datetime.now(UTC),
            )
        except Exception:
            with self.lock:
                self.refused += 1
            return Response(status_code=401)
        event_id = json.loads(body)["id"]
        assert request.headers["paycore-event-id"] == event_id
        with self.lock:
            self.received[event_id] += 1
        return Response(status_code=200)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _world(
    database_url: str, engine: Engine, ledger: Ledger, cipher: FieldCipher, tmp_path: Path
) -> Iterator[tuple[Runtime, dict[str, str], str, str, Receiver]]:
    receiver = Receiver()
    with ExitStack() as stack:
        banks = {
            name: stack.enter_context(
                run_bank(BankConfig(data_dir=tmp_path / name, seed=seed, faults=CHAOS))
            )
            for name, seed in (("bank_a", 11), ("bank_b", 12))
        }
        hook_url = stack.enter_context(
            serve_app(Starlette(routes=[HttpRoute("/hooks", receiver.handle, methods=["POST"])]))
        )
        port = _free_port()
        channels = build_channels(
            ChannelsConfig(
                channels=tuple(
                    ChannelConfig(
                        name=name,
                        type="sandbox",
                        base_url=url,
                        data_dir=str(tmp_path / name),
                        timeout_s=1.0,
                    )
                    for name, url in banks.items()
                ),
                routes=(
                    Route("*", candidates=[RouteCandidate("bank_a"), RouteCandidate("bank_b")]),
                ),
            )
        )
        runtime = Runtime.build(
            Settings(
                database_url=database_url,
                expiry_interval_s=1.0,
                public_url=f"http://127.0.0.1:{port}",
            ),
            engine=engine,
            ledger=ledger,
            channels=channels,
            cipher=cipher,
            query_schedule_s=(1, 1, 2),
        )
        runtime.janitor_interval_s = 0.3
        stack.callback(runtime.close)
        base_url = stack.enter_context(serve_app(create_app(runtime=runtime), port=port))
        merchant, secret = runtime.merchants.create(
            name="Chaos Rentals", fee_bps=60, webhook_url=f"{hook_url}/hooks"
        )
        receiver.secret = secret
        runtime.start_workers()
        _key, merchant_key = runtime.api_keys.issue(merchant_id=merchant.id)
        yield runtime, banks, base_url, merchant_key, receiver


def _post(client: httpx.Client, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    """POST with one idempotency key, retried on network errors as a real client would."""
    for _ in range(5):
        try:
            return client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{path} never answered")


def _run_all(jobs: list[Callable[[], None]]) -> None:
    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def _wait(
    predicate: Callable[[], bool], *, timeout_s: float, what: str, still: list[str] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {(still or [])[:10]}")
        time.sleep(0.25)


def _orders(runtime: Runtime, kind: OrderKind) -> list[Any]:
    found, after = [], None
    while True:
        page = runtime.payments.list_orders(merchant_id=None, kind=kind, limit=200, after=after)
        found += page
        if len(page) < 200:
            return found
        after = page[-1].id


def test_a_chaos_run_leaves_every_order_final_and_every_cent_accounted_for(
    database_url: str,
    engine: Engine,
    ledger: Ledger,
    field_cipher: FieldCipher,
    tmp_path: Path,
) -> None:
    rng = random.Random(2026)
    with _world(database_url, engine, ledger, field_cipher, tmp_path) as world:
        runtime, banks, base_url, key, receiver = world
        client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        admin = httpx.Client(timeout=5)
        with client, admin:
            _chaos_run(runtime, banks, client, admin, receiver, rng)


def _chaos_run(
    runtime: Runtime,
    banks: dict[str, str],
    client: httpx.Client,
    admin: httpx.Client,
    receiver: Receiver,
    rng: random.Random,
) -> None:

    # Pay-ins, with bank A hanging from 40% to 75% of them.
    def payin(n: int) -> Callable[[], None]:
        def job() -> None:
            if n == int(PAYINS * 0.4):
                admin.put(
                    f"{banks['bank_a']}/admin/faults",
                    json={"hang": True, "hang_min_s": 2, "hang_max_s": 3},
                )
            if n == int(PAYINS * 0.75):
                admin.put(f"{banks['bank_a']}/admin/faults", json={"hang": False})
            body = {
                "product": rng.choice(["rent", "deposit", "purchase"]),
                "amount": rng.randint(100, 500_000),
                "currency": "CNY",
                "payer": {
                    "card_number": rng.choice(CARDS),
                    "name": "王五",
                    "phone": "13900001111",
                },
            }
            response = _post(client, "/v1/payins", body, f"payin-{n}")
            assert response.status_code == 201, response.text

        return job

    _run_all([payin(n) for n in range(PAYINS)])
    _wait(lambda: runtime.janitor.unresolved()[0] == 0, timeout_s=90, what="pay-ins to resolve")

    # Payouts from the wallet and partial refunds of paid pay-ins.
    paid = [o for o in _orders(runtime, OrderKind.PAYIN) if o.status is OrderStatus.SUCCEEDED]
    balance = runtime.payments.balances(paid[0].merchant_id)[0]["available"]
    jobs: list[Callable[[], None]] = []
    for n in range(PAYINS // 8):
        body = {
            "amount": max(1, balance // (PAYINS // 2)),
            "currency": "CNY",
            "beneficiary": {"account_number": f"62148301000{n:05d}", "name": "赵六"},
        }
        jobs.append(
            lambda body=body, n=n: _check_created(_post(client, "/v1/payouts", body, f"po-{n}"))
        )
    for n, order in enumerate(paid[: PAYINS // 8]):
        body = {"amount": max(1, order.amount // 3)}
        path = f"/v1/payins/{order.id}/refunds"
        jobs.append(
            lambda path=path, body=body, n=n: _check_created(_post(client, path, body, f"rf-{n}"))
        )
        jobs.append(
            lambda path=path, body=body, n=n: _check_created(_post(client, path, body, f"rf2-{n}"))
        )
    rng.shuffle(jobs)
    _run_all(jobs)

    sent_at = time.monotonic()

    unsettled: list[str] = []

    def settled_with_banks() -> bool:
        # Paid payouts may come back return_delay_s after the bank paid them.
        unresolved = runtime.janitor.unresolved()[0]
        unsettled[:] = [f"{unresolved} orders unresolved"]
        if unresolved or time.monotonic() - sent_at < 4 * CHAOS.return_delay_s:
            return False
        records = _bank_records(admin, banks)
        unsettled[:] = [
            f"{o.id} {o.status.value} at paycore, {records[o.id]['status']} at {o.channel}"
            for o in _orders(runtime, OrderKind.PAYOUT)
            if records.get(o.id, {}).get("status") not in (None, o.status.value)
        ]
        return not unsettled

    _wait(
        settled_with_banks,
        timeout_s=90,
        what="payouts, refunds and returns to settle",
        still=unsettled,
    )
    _wait(
        lambda: runtime.notifications.delivery_stats().pending == 0,
        timeout_s=60,
        what="webhooks to be delivered",
    )
    records = _bank_records(admin, banks)
    orders = {o.id: o for kind in OrderKind for o in _orders(runtime, kind)}

    _every_order_agrees_with_the_bank(orders, records)
    _money_moved_once(runtime, orders)
    _every_event_reached_the_receiver_once(runtime, receiver)
    _effective_rates_match_the_banks(runtime, records)
    assert runtime.ledger.check().ok
    check = subprocess.run(
        [sys.executable, "-m", "paycore.cli", "ledger", "check"],
        env={**os.environ, "PAYCORE_DATABASE_URL": runtime.settings.database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    bank_a_orders = [o for o in orders.values() if o.channel == "bank_b"]
    assert bank_a_orders, "failover never sent anything to bank B"


def _check_created(response: httpx.Response) -> None:
    # A refund or payout may be refused for money reasons; never for anything else.
    if response.status_code != 201:
        assert response.json()["code"] in ("refund_exceeds_refundable", "insufficient_balance")


def _bank_records(admin: httpx.Client, banks: dict[str, str]) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for name, url in banks.items():
        response = admin.get(f"{url}/admin/transactions")
        response.raise_for_status()
        for txn in response.json():
            assert txn["reference"] not in records, f"{txn['reference']} reached two banks"
            records[txn["reference"]] = {**txn, "bank": name}
    return records


def _every_order_agrees_with_the_bank(orders: dict[str, Any], records: dict[str, Any]) -> None:
    for order in orders.values():
        assert order.status not in (OrderStatus.CREATED, OrderStatus.PROCESSING), order.id
        record = records.get(order.id)
        if record is None:  # never reached a bank: refused before processing everywhere
            assert order.status is OrderStatus.FAILED and order.failure is not None
            assert order.failure.failure_class in ("channel", "merchant"), order.failure
            continue
        assert record["bank"] == order.channel
        if order.failure is not None and order.failure.code == "not_received":
            # Lost on the way: paycore closed it at the bank, so it can never be paid.
            assert record["status"] == "closed", (order.id, record)
            continue
        assert record["status"] == order.status.value, (order.id, record, order.failure)


def _money_moved_once(runtime: Runtime, orders: dict[str, Any]) -> None:
    net = 0
    for order in orders.values():
        transfers = {
            suffix: runtime.ledger.get_transfer(f"tr_{order.id}_{suffix}")
            for suffix in ("cap", "hold", "post", "void", "ret")
        }
        done = {suffix for suffix, t in transfers.items() if t is not None}
        assert not {"post", "void"} <= done, f"{order.id} both paid and voided"
        if order.kind is OrderKind.PAYIN:
            assert ("cap" in done) == (order.status is OrderStatus.SUCCEEDED), order.id
            if order.status is OrderStatus.SUCCEEDED:
                net += order.amount - order.fee_amount
        else:
            paid = order.status in (OrderStatus.SUCCEEDED, OrderStatus.RETURNED)
            assert ("post" in done) == paid, order.id
            assert ("ret" in done) == (order.status is OrderStatus.RETURNED), order.id
            if order.status is OrderStatus.SUCCEEDED:
                net -= order.amount
    merchant_id = next(iter(orders.values())).merchant_id
    wallet = runtime.ledger.get_account(books.wallet_account(merchant_id, "CNY"))
    assert wallet is not None
    assert wallet.credits_posted - wallet.debits_posted == net
    assert wallet.available == net  # no hold left behind


def _every_event_reached_the_receiver_once(runtime: Runtime, receiver: Receiver) -> None:
    event_ids: set[str] = set()
    after = None
    while True:
        page = runtime.notifications.list_events(merchant_id=None, limit=100, after=after)
        event_ids |= {view.event.id for view in page.events}
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert event_ids
    assert set(receiver.received) == event_ids
    assert max(receiver.received.values()) == 1
    assert receiver.refused == 0


def _effective_rates_match_the_banks(runtime: Runtime, records: dict[str, Any]) -> None:
    today = datetime.now(UTC).date()
    rows = runtime.payments.success_rates(
        date_from=today - timedelta(days=1), date_to=today + timedelta(days=1), kind="payin"
    )
    for bank in ("bank_a", "bank_b"):
        ours = [r for r in rows if r.channel == bank]
        succeeded = sum(r.succeeded for r in ours)
        counted = succeeded + sum(r.failed_channel + r.failed_system for r in ours)
        theirs = [t for t in records.values() if t["bank"] == bank and t["type"] == "payin"]
        bank_succeeded = sum(t["status"] == "succeeded" for t in theirs)
        bank_counted = bank_succeeded + sum(
            t["status"] == "failed" and t["failure_code"] not in USER_OR_MERCHANT for t in theirs
        )
        assert (succeeded, counted) == (bank_succeeded, bank_counted), bank
