"""For any journal a merchant's accounts go through (single transfers, holds posted, voided
or left open, across day and month bounds in Shanghai), every statement adds up, closes on
the ledger's balance, and reads the same from day rollups as from the raw entries."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from paycore.bills.model import bill_day_of, month_of, period_of
from paycore.bills.service import Bills
from paycore.clock import ManualClock
from paycore.ledger.model import AccountFlags, TransferFlags, TransferRequest
from paycore.ledger.service import AccountRequest, Ledger

_run = itertools.count(1)
Step = tuple[str, int, tuple[str, int], int]
OUTSIDE = "acct_prop_outside_CNY"
FLOWS = [("tr_pay_", 1), ("tr_rf_", 5), ("tr_po_", 3), ("tr_spl_", 30), ("tr_col_", 50), ("", 0)]

steps = st.lists(
    st.tuples(
        st.sampled_from(["in", "out", "hold_post", "hold_void", "hold_open", "between"]),
        st.integers(min_value=1, max_value=50_000),
        st.sampled_from(FLOWS),
        st.integers(min_value=0, max_value=40 * 3600),  # seconds to wait before it
    ),
    min_size=1,
    max_size=25,
)


def accounts_of(ledger: Ledger, merchant: str) -> list[str]:
    wallet, user, debt = f"acct_mw_{merchant}_CNY", f"acct_uw_{merchant}_u", f"acct_ur_{merchant}_u"
    ledger.create_accounts(
        [
            AccountRequest(id=OUTSIDE, currency="CNY"),
            AccountRequest(id=wallet, currency="CNY", code=2001, owner_id=merchant),
            AccountRequest(id=user, currency="CNY", code=2002, owner_id=f"{merchant}:u"),
            AccountRequest(
                id=debt,
                currency="CNY",
                code=1301,
                owner_id=f"{merchant}:u",
                flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
            ),
        ]
    )
    return [wallet, user, debt]


def write(ledger: Ledger, clock: ManualClock, merchant: str, plan: list[Step]) -> set[str]:
    """Write the plan; returns the months it touched."""
    wallet, user, debt = accounts_of(ledger, merchant)
    months = {month_of(bill_day_of(clock.now()))}
    for n, (kind, amount, (prefix, code), wait_s) in enumerate(plan):
        clock.advance(wait_s)
        tid = f"{prefix or 'x_'}{merchant}_{n}"
        debit, credit = {
            "in": (OUTSIDE, wallet),
            "out": (wallet, OUTSIDE),
            "between": (wallet, user),
        }.get(kind, (debt, OUTSIDE) if n % 2 else (OUTSIDE, user))
        pending = kind.startswith("hold")
        flags = TransferFlags.PENDING.value if pending else 0
        t = TransferRequest(tid, debit, credit, amount, "CNY", flags=flags, code=code or 7)
        ledger.create_transfers([t])  # an overdraft is refused, as in life
        if kind in ("hold_post", "hold_void"):
            clock.advance(wait_s // 2)
            flag = TransferFlags.POST_PENDING if kind == "hold_post" else TransferFlags.VOID_PENDING
            ledger.create_transfers(
                [TransferRequest(f"{tid}_end", pending_id=tid, flags=flag.value)]
            )
        months.add(month_of(bill_day_of(clock.now())))
    return months


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=steps, close_first=st.booleans())
def test_statements_add_up_close_on_the_ledger_and_match_their_rollups(
    engine: Engine, ledger: Ledger, clock: ManualClock, plan: list[Step], close_first: bool
) -> None:
    bills = Bills(engine, engine, clock)
    merchant = f"m{next(_run)}"
    if clock.now() < datetime(2026, 10, 30, tzinfo=UTC):
        clock.advance((datetime(2026, 10, 30, tzinfo=UTC) - clock.now()).total_seconds())
    if close_first:
        bills.close_days()
    months = write(ledger, clock, merchant, plan)
    clock.advance(86_400)
    bills.close_days()
    for month in sorted(months):
        period = period_of(month)
        with engine.connect() as conn:
            raw = bills.statement_on(conn, merchant, period, None, rollups=False)
            rolled = bills.statement_on(conn, merchant, period, None, rollups=True)
        assert rolled.accounts == raw.accounts
        for account in raw.accounts:
            assert account.difference() == 0
        report = bills.check(month, merchant)
        assert report.ok, report.failures
        assert len(report.rows) == 3
    for account_id in (f"acct_mw_{merchant}_CNY", f"acct_uw_{merchant}_u"):
        live = ledger.get_account(account_id)
        assert live is not None
        last = bills.statement(merchant, max(months))
        [shown] = [a for a in last.accounts if a.account_id == account_id]
        assert shown.closing.credits_posted - shown.closing.debits_posted == (
            live.credits_posted - live.debits_posted
        )
