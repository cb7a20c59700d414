"""Split legs against the ledger: every state the real split flow leaves agrees; a frozen
leg whose hold is voided or posted behind the split's back is named."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Connection

from paycore.clock import ManualClock
from paycore.consistency import store
from paycore.consistency.service import FlowCheck
from paycore.ledger.model import TransferFlags, TransferRequest
from paycore.split.model import Share, SplitMode, split_id_for
from tests.split.conftest import Shop, alpha, runtime, shop

__all__ = ["alpha", "runtime", "shop"]  # the split slice's fixtures


def check(shop: Shop) -> list[tuple[str, str, str]]:
    runtime = shop.runtime
    found = FlowCheck(runtime.engine, runtime.clock).run().disagreements
    return [(d.code, d.subject_id, d.transfer_id) for d in found]


def delayed(shop: Shop, *, freeze_s: int = 3600) -> str:
    shop.open("alice", "bob")
    shop.rule(
        Share("alice", bps=5_000),
        Share("bob", bps=2_000),
        mode=SplitMode.DELAYED,
        freeze_s=freeze_s,
        product="delayed",
    )
    return split_id_for(shop.pay(10_000, product="delayed").id)


def test_every_state_the_split_flow_leaves_agrees_with_the_ledger(
    shop: Shop, clock: ManualClock
) -> None:
    shop.open("carol")
    shop.rule(Share("carol", bps=1_000))
    shop.pay(10_000)  # immediate: settled
    confirmed, cancelled = delayed(shop), split_id_for(shop.pay(5_000, product="delayed").id)
    shop.splits.confirm(merchant_id=None, split_id=confirmed, parts={"alice": 1_000})
    shop.splits.cancel(merchant_id=None, split_id=cancelled)
    expiring = split_id_for(shop.pay(7_000, product="delayed").id)
    assert check(shop) == []

    clock.advance(3600)
    shop.runtime.ledger.expire_due_holds()  # the ledger expires the legs before the tick
    assert check(shop) == []
    shop.splits.tick()

    assert shop.splits.get(merchant_id=None, split_id=expiring).status == "expired"
    assert check(shop) == []


def test_a_frozen_leg_whose_hold_was_voided_behind_the_splits_back_is_named(
    shop: Shop,
) -> None:
    split_id = delayed(shop)
    split = shop.splits.get(merchant_id=None, split_id=split_id)
    leg = split.leg_of("alice")

    [result] = shop.runtime.ledger.create_transfers(
        [
            TransferRequest(
                id="tr_by_merchant_key",
                pending_id=leg.transfer_id,
                flags=TransferFlags.VOID_PENDING.value,
            )
        ]
    )
    assert result.result == "created"

    assert check(shop) == [("split_frozen_leg_without_live_hold", split_id, leg.transfer_id)]


def test_a_frozen_leg_posted_behind_the_splits_back_is_named(shop: Shop) -> None:
    split_id = delayed(shop)
    leg = shop.splits.get(merchant_id=None, split_id=split_id).leg_of("bob")

    [result] = shop.runtime.ledger.create_transfers(
        [
            TransferRequest(
                id="tr_by_merchant_key",
                pending_id=leg.transfer_id,
                flags=TransferFlags.POST_PENDING.value,
            )
        ]
    )
    assert result.result == "created"

    assert check(shop) == [("split_frozen_leg_without_live_hold", split_id, leg.transfer_id)]


def test_a_split_confirmed_between_reading_it_and_its_transfers_is_not_named(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    split_id = delayed(shop)
    read_transfers = store.transfer_statuses

    def confirmed_meanwhile(conn: Connection, ids: Sequence[str]) -> dict[str, Any]:
        if shop.splits.get(merchant_id=None, split_id=split_id).status == "frozen":
            shop.splits.confirm(merchant_id=None, split_id=split_id)  # the legs move on
        return read_transfers(conn, ids)

    monkeypatch.setattr(store, "transfer_statuses", confirmed_meanwhile)

    assert check(shop) == []
