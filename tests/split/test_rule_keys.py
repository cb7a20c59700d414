"""The split listener asks a per-process cache of which merchants have rules: a merchant
without one pays no read per pay-in; a rule made in this process applies at once; one
made by another process is seen after the cache's time, and the sweep splits meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event

from paycore.clock import ManualClock
from paycore.ids import new_id
from paycore.platform.db import WRITER
from paycore.split import store
from paycore.split.model import Rule, Share, SplitMode, split_id_for
from paycore.split.rule_keys import RuleKeys
from tests.split.conftest import Shop


@pytest.fixture
def split_reads(engine: Engine) -> Iterator[list[str]]:
    """Statements on the split tables, as they run."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "split_" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _rule_from_elsewhere(shop: Shop, product: str) -> None:
    """A rule written by another process: this one's cache is not told."""
    rule = Rule(
        id=new_id("srl"),
        merchant_id=shop.merchant_id,
        product=product,
        currency="CNY",
        mode=SplitMode.IMMEDIATE,
        freeze_s=0,
        receivers=(Share("alice", bps=5_000),),
        created_at=shop.runtime.clock.now(),
    )
    with shop.runtime.engine.connect().execution_options(**WRITER) as conn, conn.begin():
        store.replace_rule(conn, rule)


def test_payins_of_a_merchant_without_rules_read_its_rules_once_and_no_split(
    shop: Shop, split_reads: list[str]
) -> None:
    for _ in range(3):
        shop.pay(10_000)

    assert len(split_reads) == 1
    assert "split_rules" in split_reads[0]


def test_a_rule_made_in_this_process_splits_the_very_next_payin(shop: Shop) -> None:
    shop.open("alice")
    shop.pay(10_000)  # the cache has read "no rule"
    shop.rule(Share("alice", bps=5_000))

    payin = shop.pay(10_000)

    split = shop.splits.get(merchant_id=shop.merchant_id, split_id=split_id_for(payin.id))
    assert split.payin_id == payin.id
    assert shop.net("alice") == 4_950


def test_a_retired_rule_stops_splitting_the_next_payin_at_once(shop: Shop) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    shop.pay(10_000)
    [rule] = shop.splits.rules(shop.merchant_id)
    shop.splits.retire_rule(merchant_id=shop.merchant_id, rule_id=rule.id)

    shop.pay(10_000)
    shop.splits.tick()

    assert len(shop.splits.list(merchant_id=shop.merchant_id)) == 1
    assert shop.net("alice") == 4_950


def test_a_rule_made_by_another_process_is_applied_by_the_next_sweep(
    shop: Shop, clock: ManualClock
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000), product="services")  # opens the commission account
    shop.pay(10_000)  # the cache knows the merchant's rules: services only
    clock.advance(1)
    _rule_from_elsewhere(shop, "goods")

    payin = shop.pay(10_000)
    assert shop.splits.list(merchant_id=shop.merchant_id, payin_id=payin.id) == []
    clock.advance(2)
    shop.splits.tick()

    [split] = shop.splits.list(merchant_id=shop.merchant_id, payin_id=payin.id)
    assert split.id == split_id_for(payin.id)
    assert shop.net("alice") == 4_950


def test_the_cache_reads_a_merchants_rules_again_once_its_time_is_over(shop: Shop) -> None:
    now = [0.0]
    keys = RuleKeys(shop.runtime.engine, ttl_s=10.0, monotonic=lambda: now[0])
    assert not keys.may_apply(shop.merchant_id, "goods", "CNY")
    _rule_from_elsewhere(shop, "goods")

    now[0] = 9.9
    still_unseen = keys.may_apply(shop.merchant_id, "goods", "CNY")
    now[0] = 10.0
    seen = keys.may_apply(shop.merchant_id, "goods", "CNY")

    assert (still_unseen, seen) == (False, True)
    assert not keys.may_apply(shop.merchant_id, "goods", "USD")
    assert not keys.may_apply("mch_other", "goods", "CNY")
