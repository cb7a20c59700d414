"""The split HTTP API and `paycore split ...`: the flow, bad input, and other merchants."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from paycore.cli import app
from paycore.clock import ManualClock
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from paycore.split.model import Share, SplitMode, split_id_for
from paycore.web.app import create_app
from tests.split.conftest import Shop, fund_merchant

FIELD_KEY = bytes(range(32))


@pytest.fixture
def field_cipher() -> FieldCipher:
    """The key the CLI gets in PAYCORE_FIELD_KEYS."""
    return FieldCipher({"cli1": FIELD_KEY}, "cli1")


@pytest.fixture
def clock() -> ManualClock:
    """Recent: the CLI runs on the system clock and must see frozen splits still frozen."""
    return ManualClock(datetime.now(UTC) - timedelta(minutes=10))


def key_of(runtime: Runtime, merchant_id: str) -> dict[str, str]:
    _key, clear = runtime.api_keys.issue(merchant_id=merchant_id, scopes=None)
    return {"Authorization": f"Bearer {clear}"}


@pytest.fixture
def http(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as client:
        yield client


def test_a_merchant_sets_a_rule_sees_its_split_confirms_and_refunds_over_http(
    http: TestClient, shop: Shop
) -> None:
    auth = key_of(shop.runtime, shop.merchant_id)
    shop.open("alice")
    rule = {
        "product": "goods",
        "mode": "delayed",
        "freeze_s": 3_600,
        "receivers": [{"owner": "alice", "bps": 5_000}],
        "commission_bps": 100,
    }
    created = http.post("/v1/split-rules", json=rule, headers=auth)
    assert created.status_code == 201, created.text
    assert [r["id"] for r in http.get("/v1/split-rules", headers=auth).json()["data"]] == [
        created.json()["id"]
    ]
    payin = shop.pay(10_000)
    fund_merchant(shop.runtime.ledger, shop.merchant_id, 1_000)

    [split] = http.get(f"/v1/splits?payin_id={payin.id}", headers=auth).json()["data"]
    assert (split["status"], split["legs"][0]["frozen"]) == ("frozen", 4_950)
    confirmed = http.post(f"/v1/splits/{split['id']}/confirm", json={}, headers=auth)
    assert confirmed.json()["status"] == "settled", confirmed.text
    shop.refund_answers()
    refund = http.post(
        f"/v1/splits/{split['id']}/refunds",
        json={"amount": 10_000},
        headers={**auth, "Idempotency-Key": "r-1"},
    )

    assert refund.status_code == 201, refund.text
    assert refund.json()["status"] == "refunded"
    shown = http.get(f"/v1/splits/{split['id']}", headers=auth).json()
    assert shown["legs"][0]["clawed_back"] == 4_950
    assert [r["id"] for r in shown["refunds"]] == [refund.json()["id"]]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"product": "goods", "receivers": [{"owner": "alice", "bps": 1}], "x": 1},
            "unknown_field",
        ),
        ({"product": "goods", "receivers": [{"owner": "alice", "bps": 1.5}]}, "wrong_type"),
        ({"product": "goods", "receivers": [{"owner": "alice", "bps": 0}]}, "invalid_share"),
        (
            {"product": "goods", "receivers": [{"owner": "ghost", "bps": 10}]},
            "receiver_has_no_wallet",
        ),
        ({"product": "goods", "mode": "later", "receivers": []}, "invalid_value"),
        ({"product": "Goods!", "receivers": [{"owner": "alice", "bps": 10}]}, "invalid_product"),
    ],
)
def test_a_bad_rule_over_http_is_a_problem_with_a_stable_code(
    http: TestClient, shop: Shop, body: dict[str, Any], code: str
) -> None:
    shop.open("alice")

    answer = http.post("/v1/split-rules", json=body, headers=key_of(shop.runtime, shop.merchant_id))

    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code


def test_another_merchants_split_is_404_on_every_route(http: TestClient, shop: Shop) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000), mode=SplitMode.DELAYED, freeze_s=600)
    split_id = split_id_for(shop.pay(10_000).id)
    other, _ = shop.runtime.merchants.create(name="other", fee_bps=0)
    stranger = key_of(shop.runtime, other.id)

    answers = [
        http.get(f"/v1/splits/{split_id}", headers=stranger),
        http.post(f"/v1/splits/{split_id}/confirm", json={}, headers=stranger),
        http.post(f"/v1/splits/{split_id}/cancel", headers=stranger),
        http.post(
            f"/v1/splits/{split_id}/refunds",
            json={"amount": 1},
            headers={**stranger, "Idempotency-Key": "k"},
        ),
    ]

    assert [(a.status_code, a.json()["code"]) for a in answers] == [(404, "split_not_found")] * 4
    assert http.get("/v1/splits", headers=stranger).json()["data"] == []


def test_bad_split_requests_over_http_are_refused_and_move_nothing(
    http: TestClient, shop: Shop
) -> None:
    auth = key_of(shop.runtime, shop.merchant_id)
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    split_id = split_id_for(shop.pay(10_000).id)
    url = f"/v1/splits/{split_id}"

    no_key = http.post(f"{url}/refunds", json={"amount": 1}, headers=auth)
    negative = http.post(
        f"{url}/refunds", json={"amount": -1}, headers={**auth, "Idempotency-Key": "a"}
    )
    not_frozen = http.post(f"{url}/confirm", json={}, headers=auth)
    unknown = http.post(
        f"{url}/refunds",
        json={"amount": 10, "parts": {"bob": 10}},
        headers={**auth, "Idempotency-Key": "b"},
    )

    assert (no_key.status_code, no_key.json()["code"]) == (400, "idempotency_key_missing")
    assert negative.json()["code"] == "amount_must_be_positive"
    assert (not_frozen.status_code, not_frozen.json()["code"]) == (422, "split_not_frozen")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "receiver_not_found")
    assert shop.net("alice") == 4_950


@pytest.fixture
def paycore(database_url: str, tmp_path: Path) -> Any:
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_FIELD_KEYS": "cli1:" + base64.b64encode(FIELD_KEY).decode(),
        "PAYCORE_FIELD_KEY_ID": "",
        "PAYCORE_DATA_DIR": str(tmp_path / "var"),
        "PAYCORE_CHANNELS_FILE": "",
    }
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), env=env)


def test_the_cli_creates_a_rule_shows_and_confirms_a_split(
    paycore: Any, shop: Shop, clock: ManualClock
) -> None:
    shop.open("alice")
    made = paycore(
        "split", "rules-create", "--merchant", shop.merchant_id, "--product", "goods",
        "--receiver", "alice:bps=5000", "--mode", "delayed", "--freeze-s", "86400",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    clock.advance(11 * 60)  # the rule (system clock) applies to pay-ins paid after it
    split_id = split_id_for(shop.pay(10_000).id)

    shown = paycore("split", "show", split_id)
    confirmed = paycore("split", "confirm", split_id, "--part", "alice=4000")
    listed = paycore("split", "rules", "--merchant", shop.merchant_id)

    assert shown.exit_code == 0 and "alice" in shown.output
    assert confirmed.exit_code == 0, confirmed.output
    assert json.loads(confirmed.output)["status"] == "settled"
    assert json.loads(listed.output)["data"][0]["receivers"][0]["owner"] == "alice"
    assert shop.net("alice") == 4_000


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (
            ("rules-create", "--merchant", "m", "--product", "goods", "--receiver", "alice:pct=5"),
            "invalid_share",
        ),
        (
            ("rules-create", "--merchant", "m", "--product", "goods", "--receiver", "alice:bps=²"),
            "invalid_share",
        ),
        (
            ("refund", "spl_nope", "--amount", "5", "--key", "k", "--part", "alice=²"),
            "invalid_part",
        ),
        (("confirm", "spl_nope"), "split_not_found"),
        (("refund", "spl_nope", "--amount", "5", "--key", "k", "--part", "alice"), "invalid_part"),
        (("show", "spl_nope"), "split_not_found"),
    ],
)
def test_bad_cli_input_is_refused_with_exit_code_2(
    paycore: Any, args: tuple[str, ...], code: str
) -> None:
    result = paycore("split", *args)

    assert result.exit_code == 2, result.output
    assert code in result.output
