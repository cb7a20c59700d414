"""Blind-key rotation and custody virtual accounts: money a payer transfers straight to a
sub-account's virtual account is matched by the number's blind token
(custody_subaccounts.virtual_account_hmac). After the blind key is rotated, and after the
old key is retired once `paycore security lookup backfill` ran, the money still lands."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from paycore.channels.config import Channels
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Route, RouteCandidate, Router
from paycore.custody import store as custody_store
from paycore.custody.model import Role
from paycore.recon.camt_writer import StatementHeader, write_camt053
from paycore.recon.model import Counterparty, Direction, LineKind, StatementLine
from paycore.runtime import Runtime
from paycore.security.blind import BlindIndexer
from paycore.security.blind_backfill import Backfill
from tests.custody.conftest import SHANGHAI, START, Desk

DAY = START.date()
PAYER = Counterparty(account_number="6222021234567890128", name="王五")


@pytest.fixture
def old_indexer(desk: Desk) -> BlindIndexer:
    return desk.runtime.blind_index.indexer


def _runtime_with(desk: Desk, indexer: BlindIndexer) -> Iterator[Runtime]:
    """The same database and configuration after a restart with other blind keys."""
    first = desk.runtime
    registry = ChannelRegistry(clock=desk.clock)
    registry.add(desk.alpha)
    route = Route(product="*", candidates=[RouteCandidate(desk.alpha.name, priority=1)])
    runtime = Runtime.build(
        first.settings,
        engine=first.engine,
        clock=desk.clock,
        ledger=first.ledger,
        channels=Channels(registry, Router(registry, [route], rng=random.Random(7))),
        cipher=first.cipher,
        blind_indexer=indexer,
    )
    yield runtime
    runtime.close()


def _statement(path: Path, account: str, amount: int) -> Path:
    header = StatementHeader(
        statement_id=path.stem,
        account_iban="CN0012345678901234567890",
        currency="CNY",
        created_at=START + timedelta(hours=3),
        period_start=DAY,
        period_end=DAY,
    )
    line = StatementLine(
        line_no=1,
        source_ref=f"BANKREF{path.stem}",
        kind=LineKind.PAYIN,
        direction=Direction.CREDIT,
        amount=amount,
        currency="CNY",
        booked_at=datetime(DAY.year, DAY.month, DAY.day, 15, 1, tzinfo=SHANGHAI),
        account=account,
        counterparty=PAYER,
    )
    write_camt053(path, [line], header)
    return path


def _send(runtime: Runtime, path: Path) -> None:
    runtime.recon.import_file(path, format="camt053", source="alpha")
    runtime.recon.run(source="alpha", business_date=DAY)


def _balance(runtime: Runtime, desk: Desk, owner: str) -> int:
    found = runtime.custody.get_subaccount(desk.merchant_id, bank="sandbox_custody", owner=owner)
    return found.balance


def _open(desk: Desk, owner: str) -> str:
    opened = desk.runtime.custody.open_subaccount(
        desk.merchant_id, bank="sandbox_custody", owner=owner, role=Role.BUYER
    )
    return opened.virtual_account


def _hmacs(desk: Desk) -> list[str]:
    c = custody_store.subaccounts.c
    with desk.runtime.engine.connect() as conn:
        query = select(c.virtual_account_hmac).where(c.merchant_id == desk.merchant_id)
        return [str(h) for h in conn.execute(query.order_by(c.owner)).scalars()]


def test_money_to_an_old_virtual_account_lands_on_its_sub_account_after_a_rotation(
    desk: Desk, old_indexer: BlindIndexer, tmp_path: Path
) -> None:
    number = _open(desk, "buyer-1")
    rotated = old_indexer.rotated("r2", os.urandom(32))

    for runtime in _runtime_with(desk, rotated):
        _send(runtime, _statement(tmp_path / "camt1.xml", number, 41_000))
        assert _balance(runtime, desk, "buyer-1") == 41_000


def test_money_to_an_old_virtual_account_lands_once_the_old_blind_key_is_retired(
    desk: Desk, old_indexer: BlindIndexer, tmp_path: Path
) -> None:
    number = _open(desk, "buyer-1")
    other = _open(desk, "buyer-2")
    rotated = old_indexer.rotated("r2", os.urandom(32))

    for runtime in _runtime_with(desk, rotated):
        result = Backfill(runtime.blind_index, runtime.cipher).run()
        assert result.finished
        assert result.sources["custody_subaccounts"].rows == 2
    assert all(h.startswith("r2:") for h in _hmacs(desk))

    for runtime in _runtime_with(desk, rotated.retired(old_indexer.active_key_id)):
        _send(runtime, _statement(tmp_path / "camt2.xml", number, 42_000))
        assert _balance(runtime, desk, "buyer-1") == 42_000
        assert _balance(runtime, desk, "buyer-2") == 0
        assert (
            runtime.custody.get_subaccount(
                desk.merchant_id, bank="sandbox_custody", owner="buyer-2"
            ).virtual_account
            == other
        )
