"""`paycore payins|payouts|refunds|payments ...` on the test database.

Reading commands run without any channel configured (no sandbox keys exist in their data
dir). Commands that call a bank run against a sandbox bank this test starts on 127.0.0.1,
named in a PAYCORE_CHANNELS_FILE; its callbacks go to a receiver, not to paycore.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from paycore.channels.model import FailureClass
from paycore.cli import app
from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.merchants.model import MerchantStatus
from paycore.payments.model import OrderKind, OrderStatus
from paycore.runtime import Runtime
from paycore.sandbox_bank.config import BankConfig, FaultMix
from paycore.sandbox_bank.server import run_bank, run_notification_receiver
from paycore.security.crypto import FieldCipher
from paycore.security.keys import KEK_FILE, FileKeyProvider
from tests.payments.fakes import ScriptedChannel, declined, succeeded
from tests.payments.http_conftest import (
    CARD,
    Tenant,
    create_payin,
    new_tenant,
    order_count,
    paid_payin,
    payout_body,
    scripted_runtime,
)

FIELD_KEY = bytes(range(32))
FIELD_KEYS = "cli1:" + base64.b64encode(FIELD_KEY).decode()
LUHN_CARD = "4111111111111111"
Paycore = Callable[..., Result]


@pytest.fixture
def field_cipher(tmp_path: Path) -> FieldCipher:
    """The key the CLI gets in PAYCORE_FIELD_KEYS, so both sides hash requests alike, and
    the KEK file of the CLI's data dir, so both open what the other sealed (orders'
    details are sealed under the envelope's data keys)."""
    provider = FileKeyProvider(tmp_path / "var" / KEK_FILE)
    return FieldCipher({"cli1": FIELD_KEY}, "cli1", provider=provider)


@pytest.fixture
def clock() -> ManualClock:
    """Ten minutes ago: the CLI runs on the system clock, so what the service recorded is
    recent, and due for the janitor."""
    return ManualClock(datetime.now(UTC) - timedelta(minutes=10))


@pytest.fixture
def fake_bank() -> ScriptedChannel:
    """A fake bank named like the real sandbox channel of the CLI."""
    return ScriptedChannel("sandbox")


@pytest.fixture
def runtime(
    database_url: str,
    engine: Engine,
    clock: ManualClock,
    ledger: Ledger,
    field_cipher: FieldCipher,
    fake_bank: ScriptedChannel,
) -> Iterator[Runtime]:
    yield from scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=field_cipher,
        channels=[fake_bank],
    )


@pytest.fixture
def shop(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Shop")


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """No channels file and an empty data dir: no channel can be loaded."""
    return {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_FIELD_KEYS": FIELD_KEYS,
        "PAYCORE_FIELD_KEY_ID": "",
        "PAYCORE_DATA_DIR": str(tmp_path / "var"),
        "PAYCORE_CHANNELS_FILE": "",
    }


@pytest.fixture
def paycore(cli_env: dict[str, str]) -> Paycore:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), env=cli_env)

    return run


@pytest.fixture
def sandbox_bank(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[str]:
    """A sandbox bank answering every request at once, named in the CLI's channels file."""
    faults = dataclasses.replace(
        FaultMix(),
        sync_rate=1.0,
        complete_min_s=0.0,
        complete_max_s=0.02,
        notify_retry_base_s=0.05,
        notify_retry_max_s=0.1,
        notify_attempts_max=1,
        notify_timeout_s=1.0,
    )
    data_dir = tmp_path / "bank"
    with (
        run_notification_receiver() as receiver,
        run_bank(BankConfig(data_dir=data_dir, seed=7, faults=faults)) as base_url,
    ):
        config = {
            "channels": [
                {
                    "name": "sandbox",
                    "type": "sandbox",
                    "base_url": base_url,
                    "data_dir": str(data_dir),
                }
            ],
            "routes": [{"product": "*", "candidates": [{"channel": "sandbox"}]}],
        }
        channels_file = tmp_path / "channels.json"
        channels_file.write_text(json.dumps(config))
        cli_env["PAYCORE_CHANNELS_FILE"] = str(channels_file)
        cli_env["PAYCORE_PUBLIC_URL"] = receiver.url.removesuffix("/callbacks")
        yield base_url


def printed_json(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    found: dict[str, object] = json.loads(result.stdout)
    return found


# -- reading: no channel needed ------------------------------------------------------------


def test_payins_list_shows_the_orders_newest_first_and_filters_by_merchant_and_status(
    paycore: Paycore, client: TestClient, runtime: Runtime, shop: Tenant, fake_bank: ScriptedChannel
) -> None:
    other = new_tenant(runtime, "Other")
    fake_bank.then(succeeded())
    paid = create_payin(client, shop, amount=12_345).json()["id"]
    waiting = create_payin(client, shop).json()["id"]
    elsewhere = create_payin(client, other).json()["id"]

    everything = paycore("payins", "list")
    mine_paid = paycore("payins", "list", "--merchant", shop.id, "--status", "succeeded")

    assert everything.exit_code == 0, everything.output
    out = everything.stdout
    assert out.index(elsewhere) < out.index(waiting) < out.index(paid)
    assert "123.45" in out and "processing" in out
    assert mine_paid.exit_code == 0, mine_paid.output
    assert paid in mine_paid.stdout
    assert waiting not in mine_paid.stdout and elsewhere not in mine_paid.stdout


def test_payins_list_refuses_an_unknown_status_as_a_usage_error(paycore: Paycore) -> None:
    result = paycore("payins", "list", "--status", "lost")

    assert result.exit_code == 2
    assert "lost" in result.output


def test_payins_show_prints_the_order_with_its_attempts_and_the_card_masked(
    paycore: Paycore, client: TestClient, shop: Tenant
) -> None:
    order_id = create_payin(client, shop).json()["id"]

    shown = printed_json(paycore("payins", "show", order_id))

    assert shown["id"] == order_id and shown["status"] == "processing"
    assert isinstance(shown["attempts"], list) and len(shown["attempts"]) == 1
    payer = shown["payer"]
    assert isinstance(payer, dict) and payer["card_number"].endswith(CARD[-4:])
    assert CARD not in json.dumps(shown, ensure_ascii=False)


def test_payouts_and_refunds_are_shown_and_listed_too(
    paycore: Paycore, client: TestClient, shop: Tenant
) -> None:
    payin_id = paid_payin(client, shop)
    payout_id = client.post("/v1/payouts", json=payout_body(), headers=shop.headers()).json()["id"]
    refund_id = client.post(
        f"/v1/payins/{payin_id}/refunds", json={"amount": 500}, headers=shop.headers()
    ).json()["id"]

    listed = paycore("payouts", "list", "--merchant", shop.id)
    refund = printed_json(paycore("refunds", "show", refund_id))

    assert listed.exit_code == 0 and payout_id in listed.stdout
    assert payin_id not in listed.stdout
    assert refund["payin_id"] == payin_id and refund["amount"] == 500


def test_show_of_an_unknown_order_exits_2_and_prints_the_code(paycore: Paycore) -> None:
    result = paycore("payins", "show", "pay_00000000000000000000000000")

    assert result.exit_code == 2
    assert "order_not_found" in result.stderr


def test_payments_rates_prints_raw_and_effective_rates_per_product_and_channel(
    paycore: Paycore,
    client: TestClient,
    runtime: Runtime,
    shop: Tenant,
    clock: ManualClock,
    fake_bank: ScriptedChannel,
) -> None:
    fake_bank.then(
        succeeded(),
        declined("insufficient_funds", FailureClass.USER),
        declined("issuer_down", FailureClass.CHANNEL),
    )
    for _ in range(3):
        create_payin(client, shop)
    day = clock.now().astimezone(runtime.payments.ctx.business_tz).date().isoformat()

    result = paycore("payments", "rates", "--from", day, "--to", day)

    assert result.exit_code == 0, result.output
    [row] = [line for line in result.stdout.splitlines() if "rent" in line]
    assert day in row and "sandbox" in row
    assert "33.33%" in row and "50.00%" in row
    assert "unavailable" in result.stdout  # every column has its header


def test_payments_rates_by_default_cover_the_last_week_up_to_todays_business_day(
    paycore: Paycore, client: TestClient, shop: Tenant, fake_bank: ScriptedChannel
) -> None:
    fake_bank.then(succeeded())
    create_payin(client, shop)

    result = paycore("payments", "rates")

    assert result.exit_code == 0, result.output
    assert "100.00%" in result.stdout


def test_payments_rates_refuse_a_date_that_is_not_a_date(paycore: Paycore) -> None:
    result = paycore("payments", "rates", "--from", "last-monday")

    assert result.exit_code == 2
    assert "invalid_date" in result.stderr


# -- commands that need a channel --------------------------------------------------------------


def test_a_command_that_needs_a_channel_without_its_keys_exits_2_with_a_clear_reason(
    paycore: Paycore, runtime: Runtime, shop: Tenant
) -> None:
    result = paycore(
        "payins", "create", "--merchant", shop.id, "--amount", "100", "--card", LUHN_CARD
    )

    assert result.exit_code == 2, result.output
    assert "invalid_channel_config" in result.stderr
    assert "merchant_private.pem" in result.stderr
    assert order_count(runtime) == 0


def test_payins_create_pays_through_the_sandbox_bank_and_a_replay_prints_the_same_order(
    paycore: Paycore, runtime: Runtime, shop: Tenant, sandbox_bank: str
) -> None:
    args = ("payins", "create", "--merchant", shop.id, "--amount", "10000", "--card", LUHN_CARD)

    first = printed_json(paycore(*args, "--phone", "13812345678", "--idempotency-key", "k1"))
    again = printed_json(paycore(*args, "--phone", "13812345678", "--idempotency-key", "k1"))

    assert first["status"] == "succeeded" and first["channel"] == "sandbox"
    assert again == first
    payer = first["payer"]
    assert isinstance(payer, dict)
    assert payer["card_number"].startswith("411111") and payer["card_number"].endswith("1111")
    assert payer["phone"].startswith("138") and payer["phone"].endswith("5678")
    assert LUHN_CARD not in json.dumps(first) and "13812345678" not in json.dumps(first)
    assert order_count(runtime) == 1
    assert runtime.payments.balances(shop.id)[0]["available"] == 10_000


def test_refunds_create_refunds_through_the_bank_and_refuses_more_than_is_refundable(
    paycore: Paycore, runtime: Runtime, shop: Tenant, sandbox_bank: str
) -> None:
    payin = printed_json(
        paycore("payins", "create", "--merchant", shop.id, "--amount", "10000", "--card", LUHN_CARD)
    )
    refund = ("refunds", "create", "--merchant", shop.id, "--payin", str(payin["id"]))

    partial = printed_json(paycore(*refund, "--amount", "4000", "--reason", "broken"))
    too_much = paycore(*refund, "--amount", "6001")

    assert partial["object"] == "refund" and partial["status"] == "succeeded"
    assert too_much.exit_code == 2
    assert "refund_exceeds_refundable" in too_much.stderr
    assert order_count(runtime, OrderKind.REFUND) == 1


def test_payouts_create_above_the_balance_exits_2_and_so_does_its_replay(
    paycore: Paycore, runtime: Runtime, shop: Tenant, sandbox_bank: str
) -> None:
    payout = (
        "payouts", "create", "--merchant", shop.id, "--amount", "500",
        "--account", "6217000010001234567", "--name", "李四", "--idempotency-key", "po-1",
    )  # fmt: skip

    first = paycore(*payout)
    again = paycore(*payout)

    assert (first.exit_code, again.exit_code) == (2, 2)
    assert "insufficient_balance" in first.stderr and "insufficient_balance" in again.stderr
    assert order_count(runtime, OrderKind.PAYOUT) == 1


def test_a_suspended_merchant_cannot_create_from_the_cli(
    paycore: Paycore, runtime: Runtime, shop: Tenant, sandbox_bank: str
) -> None:
    runtime.merchants.set_status(shop.id, MerchantStatus.SUSPENDED)

    result = paycore(
        "payins", "create", "--merchant", shop.id, "--amount", "100", "--card", LUHN_CARD
    )

    assert result.exit_code == 2
    assert "merchant_not_active" in result.stderr
    assert order_count(runtime) == 0


def test_payments_janitor_fails_an_order_the_bank_never_received(
    paycore: Paycore, client: TestClient, runtime: Runtime, shop: Tenant, sandbox_bank: str
) -> None:
    lost = create_payin(client, shop).json()["id"]  # the fake bank took it, the real one never

    result = paycore("payments", "janitor")

    assert result.exit_code == 0, result.output
    assert "queried 1, resolved 1" in result.stdout
    assert "unresolved now 0" in result.stdout
    order = runtime.payments.get(merchant_id=None, order_id=lost)
    assert order.status is OrderStatus.FAILED
    assert order.failure is not None and order.failure.code == "not_received"


def test_payments_janitor_with_nothing_due_reports_what_still_waits(
    paycore: Paycore, runtime: Runtime, shop: Tenant, sandbox_bank: str
) -> None:
    result = paycore("payments", "janitor")

    assert result.exit_code == 0, result.output
    assert "queried 0" in result.stdout and "unresolved now 0" in result.stdout
