"""A small, deterministic warehouse for the reports' tests, written straight into the
contract's Parquet schemas (no database, no exporter): three merchants, five days across
a month's edge, three channels, refunds and a claw-back, payouts, custody receipts
matched and refunded, breaks of every age, statement lines matched and not, and rent
collections. `Kit` keeps the same facts as Python objects, so the tests compute their
expected figures without any SQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from paycore.warehouse import schemas
from paycore.warehouse.schemas import PARTITION, SCHEMA_VERSION_KEY, WAREHOUSE_ZONE
from paycore.warehouse.store_checks import JournalTotal

MONTH = "2026-11"
DAYS = (
    date(2026, 10, 31),
    date(2026, 11, 1),
    date(2026, 11, 2),
    date(2026, 11, 3),
    date(2026, 11, 30),
)
MERCHANTS = ("mch_a", "mch_b", "mch_c")
CHANNELS = ("alipay", "unionpay", "wechat")
BANKS = ("bank_north", "bank_south")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A local (Asia/Shanghai) wall time as the UTC instant the warehouse stores."""
    return datetime.combine(day, time(hour, minute), WAREHOUSE_ZONE).astimezone(UTC)


def local_day(instant: datetime) -> date:
    return instant.astimezone(WAREHOUSE_ZONE).date()


@dataclass
class Kit:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    seq: int = 0
    accounts: dict[str, tuple[int, str | None, str]] = field(default_factory=dict)

    # -- ledger ---------------------------------------------------------------------------

    def account(self, account_id: str, code: int, owner: str | None, currency: str) -> str:
        self.accounts[account_id] = (code, owner, currency)
        return account_id

    def transfer(
        self,
        tid: str,
        debit: str,
        credit: str,
        amount: int,
        code: int,
        when: datetime,
        *,
        status: str = "posted",
        pending_id: str | None = None,
    ) -> None:
        (d_code, d_owner, currency), (c_code, c_owner, _) = (
            self.accounts[debit],
            self.accounts[credit],
        )
        event = "pending" if status.startswith("pending") else "posted"
        for account, side in ((debit, "debit"), (credit, "credit")):
            self.seq += 1
            code_, owner, _ = self.accounts[account]
            self.rows["ledger_entries"].append(
                dict(
                    seq=self.seq,
                    transfer_id=tid,
                    account_id=account,
                    account_code=code_,
                    owner_id=owner,
                    currency=currency,
                    event=event,
                    side=side,
                    amount=amount,
                    created_at=when,
                )
            )
        self.rows["ledger_transfers"].append(
            dict(
                id=tid,
                debit_account_id=debit,
                credit_account_id=credit,
                debit_owner_id=d_owner,
                credit_owner_id=c_owner,
                debit_code=d_code,
                credit_code=c_code,
                amount=amount,
                currency=currency,
                code=code,
                flags=0,
                pending_id=pending_id,
                status=status,
                created_at=when,
                last_seq=self.seq,
            )
        )

    def journal(self, first: date, last: date) -> list[JournalTotal]:
        """What store_checks.journal_totals would read from a database holding this journal,
        for the business days first..last."""
        codes = {t["id"]: t["code"] for t in self.rows["ledger_transfers"]}
        sums: dict[tuple[date, int, str, int, str], int] = defaultdict(int)
        for e in self.rows["ledger_entries"]:
            if e["event"] == "posted" and first <= local_day(e["created_at"]) <= last:
                key = (
                    local_day(e["created_at"]),
                    e["account_code"],
                    e["currency"],
                    codes[e["transfer_id"]],
                    e["side"],
                )
                sums[key] += e["amount"]
        return [JournalTotal(*key, amount) for key, amount in sums.items()]

    # -- writing --------------------------------------------------------------------------

    def write(self, root: Path) -> Path:
        for table in schemas.TABLES:
            by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
            for row in self.rows.get(table.name, []):
                value = row[table.dated_by]
                by_day[value if type(value) is date else local_day(value)].append(row)
            for day, rows in by_day.items():
                folder = root / table.name / f"{PARTITION}={day.isoformat()}"
                folder.mkdir(parents=True, exist_ok=True)
                schema = table.schema.with_metadata({SCHEMA_VERSION_KEY: str(table.version)})
                pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "part-0.parquet")
        return root


def seeded(root: Path) -> Kit:
    kit = Kit()
    fill(kit)
    kit.write(root)
    return kit


def fill(kit: Kit) -> None:
    _payments(kit)
    _custody(kit)
    _breaks(kit)
    _statements(kit)
    _collections(kit)


def _payments(kit: Kit) -> None:
    n = 0
    for cur in ("CNY", "USD"):
        kit.account(f"acct_fee_{cur}", 4001, None, cur)
        kit.account(f"acct_transit_{cur}", 2101, None, cur)
        for ch in CHANNELS:
            kit.account(f"acct_clr_{ch}_{cur}", 1101, None, cur)
    kit.account("acct_uw_r1_CNY", 2002, "usr_r1", "CNY")
    for day_no, day in enumerate(DAYS):
        for m_no, merchant in enumerate(MERCHANTS):
            currency = "USD" if merchant == "mch_c" and day_no % 2 else "CNY"
            wallet = kit.account(f"acct_mw_{merchant}_{currency}", 2001, merchant, currency)
            for i in range(3 + m_no):
                n += 1
                channel = CHANNELS[(n + i) % 3]
                amount = 1000 * (i + 1) + 7 * day_no + 13 * m_no
                fee = amount * 6 // 1000
                # 23:30 and 00:30 local: the UTC date differs from the business day.
                when = at(day, (10 + i * 7) % 24, 30)
                oid = f"pay_{n:04d}"
                clearing = f"acct_clr_{channel}_{currency}"
                status = "succeeded" if n % 5 else "failed"
                _order(kit, oid, "payin", merchant, amount, currency, fee, status, channel, when)
                _attempts(kit, oid, "payin", merchant, channel, day, when, n, status)
                if status != "succeeded":
                    continue
                kit.transfer(f"tr_{oid}_cap", clearing, wallet, amount - fee, 1, when)
                kit.transfer(f"tr_{oid}_fee", clearing, f"acct_fee_{currency}", fee, 2, when)
                if n % 3 == 0:
                    _refund(
                        kit,
                        f"rf_{n:04d}",
                        oid,
                        merchant,
                        wallet,
                        clearing,
                        amount // 2,
                        currency,
                        channel,
                        when + timedelta(hours=2),
                    )
        _payout(kit, day, day_no)
    _clawback(kit)


def _order(
    kit: Kit,
    oid: str,
    kind: str,
    merchant: str,
    amount: int,
    currency: str,
    fee: int,
    status: str,
    channel: str | None,
    when: datetime,
    parent: str | None = None,
) -> None:
    failure = None if status != "failed" else ("user" if len(oid) % 2 else "channel")
    kit.rows["payment_orders"].append(
        dict(
            id=oid,
            kind=kind,
            merchant_id=merchant,
            product="online",
            amount=amount,
            currency=currency,
            fee_amount=fee,
            status=status,
            channel=channel,
            failure_class=failure,
            failure_code=None if failure is None else f"{failure}_x",
            parent_id=parent,
            refunded_amount=0,
            party_card_token=None,
            party_id_token=None,
            party_phone_token=None,
            party_account_token=None,
            party_card_masked=None,
            created_at=when,
            updated_at=when,
            finished_at=when,
        )
    )


def _attempts(
    kit: Kit,
    oid: str,
    kind: str,
    merchant: str,
    channel: str,
    day: date,
    when: datetime,
    n: int,
    status: str,
) -> None:
    tries = 2 if n % 4 == 0 else 1
    for t in range(tries):
        last = t == tries - 1
        st = status if last else "failed"
        failure = None if st == "succeeded" else ("user", "merchant", "channel", "system")[n % 4]
        kit.rows["payment_attempts"].append(
            dict(
                id=f"att_{oid}_{t}",
                order_id=oid,
                kind=kind,
                merchant_id=merchant,
                product="online",
                channel=channel if last else CHANNELS[(n + 1) % 3],
                business_date=day,
                status=st,
                failure_class=failure,
                failure_code=None,
                started_at=when,
                finished_at=when,
                latency_ms=None if n % 11 == 0 else 120 + (n * 37) % 900 + t,
            )
        )


def _refund(
    kit: Kit,
    rid: str,
    parent: str,
    merchant: str,
    wallet: str,
    clearing: str,
    amount: int,
    currency: str,
    channel: str,
    when: datetime,
) -> None:
    _order(kit, rid, "refund", merchant, amount, currency, 0, "succeeded", channel, when, parent)
    transit = f"acct_transit_{currency}"
    kit.transfer(f"tr_{rid}_hold", wallet, transit, amount, 5, when, status="pending_posted")
    kit.transfer(f"tr_{rid}_post", wallet, transit, amount, 5, when, pending_id=f"tr_{rid}_hold")
    kit.transfer(f"tr_{rid}_out", transit, clearing, amount, 5, when)


def _payout(kit: Kit, day: date, day_no: int) -> None:
    for i, (status, channel) in enumerate(
        (("succeeded", "unionpay"), ("failed", "unionpay"), ("processing", None))
    ):
        oid = f"po_{day_no}_{i}"
        _order(kit, oid, "payout", "mch_a", 5000 + i, "CNY", 100, status, channel, at(day, 15))


def _clawback(kit: Kit) -> None:
    wallet, receiver = "acct_mw_mch_a_CNY", "acct_uw_r1_CNY"
    kit.transfer("tr_spl_1_1_r1", wallet, receiver, 400, 30, at(DAYS[1], 12))
    kit.transfer("tr_spl_1_2_r1_w", receiver, wallet, 150, 33, at(DAYS[2], 9))
    kit.transfer("tr_spl_1_3_r1", wallet, receiver, 50, 34, at(DAYS[2], 11))


def _custody(kit: Kit) -> None:
    statuses = ("matched", "refunded", "refunded", "unmatched", "refund_failed", "matched")
    for day_no, day in enumerate(DAYS):
        for i, status in enumerate(statuses):
            bank = BANKS[(i + day_no) % 2]
            kit.rows["custody_receipts"].append(
                dict(
                    id=f"rcp_{day_no}_{i}",
                    bank=bank,
                    merchant_id="mch_b",
                    owner=None,
                    amount=20_000 + 100 * i + day_no,
                    currency="CNY",
                    received_at=at(day, 9 + i),
                    business_date=day,
                    status=status,
                    origin="statement",
                    deal_id=None,
                    refund_id=None,
                    payer_account_token=None,
                    updated_at=at(day, 23),
                )
            )


MONTH_END_AT = at(date(2026, 12, 1), 0)
BREAKS = (
    # (business day, status, updated, source, currency, line amount)
    (date(2026, 11, 28), "open", MONTH_END_AT, "alipay", "CNY", 300),
    (date(2026, 11, 23), "investigating", MONTH_END_AT, "alipay", "CNY", 700),  # 7 days
    (date(2026, 11, 22), "open", MONTH_END_AT, "alipay", "CNY", 800),  # 8 days
    (date(2026, 10, 15), "open", MONTH_END_AT, "wechat", "CNY", 1_100),
    (date(2026, 9, 20), "resolved", MONTH_END_AT + timedelta(days=2), "wechat", "CNY", 1_300),
    (date(2026, 9, 1), "resolved", MONTH_END_AT - timedelta(days=1), "wechat", "CNY", 1_700),
    (date(2026, 6, 1), "open", MONTH_END_AT, "bank_north", None, None),
    (date(2026, 12, 1), "open", MONTH_END_AT, "alipay", "CNY", 1_900),  # after the month
)


def _breaks(kit: Kit) -> None:
    for i, (day, status, updated, source, currency, amount) in enumerate(BREAKS):
        kit.rows["recon_breaks"].append(
            dict(
                id=i + 1,
                type="missing_on_our_side",
                status=status,
                source=source,
                business_date=day,
                import_id=None,
                line_no=None,
                order_id=None,
                currency=currency,
                line_amount=amount,
                order_amount=None,
                line_status=None,
                order_status=None,
                line_fee=None,
                order_fee=None,
                direction=None,
                suspense_transfer_id=None,
                adjustment_transfer_id=None,
                created_at=min(at(day, 12), MONTH_END_AT - timedelta(hours=1)),
                updated_at=updated,
            )
        )


def _statements(kit: Kit) -> None:
    for day_no, day in enumerate(DAYS):
        for i in range(6):
            kind = "fee" if i == 5 else "payin"
            matched = i < 3
            kit.rows["recon_lines"].append(
                dict(
                    import_id=f"imp_{day_no}",
                    line_no=i + 1,
                    source=CHANNELS[i % 3],
                    business_date=day,
                    source_ref=None,
                    kind=kind,
                    direction="debit" if kind == "fee" else "credit",
                    amount=10_000 + 10 * i + day_no,
                    currency="CNY",
                    fee=None if kind == "fee" else 6 * (i + 1),
                    status="succeeded",
                    channel_txn_id=None,
                    reference=None,
                    booked_at=None,
                    duplicate=i == 4,
                    order_id=f"pay_x{i}" if matched else None,
                    matched_by=None,
                    account_token=None,
                    bank_kind=None,
                    counter_amount=None,
                    counter_currency=None,
                )
            )


def _collections(kit: Kit) -> None:
    for p in range(4):
        outcomes = (("succeeded",), ("failed", "succeeded"), ("failed", "failed"), ("captured",))[p]
        for a, status in enumerate(outcomes):
            day = DAYS[1 + a]
            kit.rows["collection_attempts"].append(
                dict(
                    id=f"cat_{p}_{a}",
                    plan_id=f"plan_{p % 2}",
                    merchant_id="mch_b",
                    period_no=p,
                    attempt_no=a + 1,
                    method="wallet",
                    status=status,
                    payin_id=None,
                    failure_code=None,
                    amount=300_000,
                    currency="CNY",
                    due_date=DAYS[1],
                    started_at=at(day, 8),
                    finished_at=at(day, 8),
                )
            )
