"""The proof of a month's statements (`paycore bills check`): for every account of every
merchant, opening + adjustment + movements = closing; closing = the ledger's balance at the
month's end, summed again from the posted transfers alone and read from the last entry's
snapshot; the statement from the day rollups = the statement from the raw entries; every
sealed hash recomputes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from paycore.bills import store_journal
from paycore.bills.model import AccountStatement, Balances, month_period
from paycore.bills.sealing import SealProblem, verify_seals

if TYPE_CHECKING:
    from paycore.bills.service import Bills


@dataclass(frozen=True, slots=True)
class CheckRow:
    merchant_id: str
    account_id: str
    opening: int
    adjustment: int
    movements: int
    closing: int
    ledger: int
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class CheckReport:
    month: str
    rows: tuple[CheckRow, ...]
    seals: tuple[SealProblem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and not self.seals

    @property
    def failures(self) -> list[CheckRow]:
        return [r for r in self.rows if not r.ok]


def check_month(bills: Bills, month: str, merchant_id: str | None = None) -> CheckReport:
    """Prove every statement of `month` (every merchant's, or one's) against the journal,
    read on the primary."""
    period = month_period(month)
    rows: list[CheckRow] = []
    with bills.engine.connect() as conn:
        merchants = [merchant_id] if merchant_id else store_journal.merchant_ids(conn)
        for merchant in merchants:
            fast = bills.statement_on(conn, merchant, period, None, rollups=True)
            raw = bills.statement_on(conn, merchant, period, None, rollups=False)
            ids = [a.account_id for a in fast.accounts]
            posted = store_journal.posted_sums(conn, ids, period.end)
            snapshots = store_journal.balances_at(conn, ids, period.end)
            raw_by_id = {a.account_id: a for a in raw.accounts}
            for account in fast.accounts:
                sums = posted.get(account.account_id, [0, 0])
                snapshot = snapshots.get(account.account_id, (Balances(), 0))[0]
                rows.append(
                    _row(merchant, account, raw_by_id.get(account.account_id), sums, snapshot)
                )
    return CheckReport(month, tuple(rows), tuple(verify_seals(bills, month)))


def _row(
    merchant_id: str,
    account: AccountStatement,
    raw: AccountStatement | None,
    sums: list[int],
    snapshot: Balances,
) -> CheckRow:
    normal = account.debit_normal
    closing = account.closing.posted(normal)
    from_transfers = sums[1] - sums[0]
    ledger = -from_transfers if normal else from_transfers
    problems = []
    if account.difference():
        problems.append(f"opening + movements - closing = {account.difference()}")
    if closing != ledger:
        problems.append(f"closing {closing} != posted transfers {ledger}")
    if account.closing != snapshot:
        problems.append("closing != the journal's last snapshot")
    if raw is None or raw.movements != account.movements or raw.closing != account.closing:
        problems.append("day rollups differ from the raw entries")
    elif raw.opening != account.opening:
        problems.append("rolled-up opening differs from the raw entries")
    return CheckRow(
        merchant_id=merchant_id,
        account_id=account.account_id,
        opening=account.opening.posted(normal),
        adjustment=account.adjustment,
        movements=account.movements_net,
        closing=closing,
        ledger=ledger,
        problems=tuple(problems),
    )
