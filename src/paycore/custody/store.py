"""Tables and SQL of the custody slice: sub-accounts, receipts, deals, cut-off runs, checks.

Balances are not here: they are ledger accounts. These tables say whose account is whose
and how far each receipt has come through the cut-off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)

from paycore.custody.model import (
    CutoffStep,
    Deal,
    Receipt,
    ReceiptOrigin,
    ReceiptStatus,
    RestTo,
)
from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata

subaccounts = Table(
    "custody_subaccounts",
    metadata,
    Column("bank", String(24), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("owner", String(32), nullable=False),
    Column("role", String(8), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The number as a FieldCipher token (context custody-va:<account_id>) and its blind
    # token (kind account_number), by which matching finds the sub-account a payer paid.
    Column("virtual_account_enc", Text, nullable=True),
    Column("virtual_account_hmac", String(96), nullable=True),
    PrimaryKeyConstraint("bank", "merchant_id", "owner"),
    UniqueConstraint("bank", "virtual_account_hmac", name="ux_custody_subaccounts_virtual_hmac"),
)

receipts = Table(
    "custody_receipts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("bank", String(24), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("owner", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("deal_id", String(64), nullable=True),
    Column("cutoff_step", String(16), nullable=True),
    Column("move_attempt", Integer, nullable=False),
    Column("refund_id", String(64), nullable=True),
    Column("error", String(256), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    # `payin`, or `statement`: money a bank statement showed on a virtual account with no
    # order; its payer (sealed) is who the cut-off pays it back to.
    Column("origin", String(16), nullable=False, server_default="payin"),
    Column("payer_enc", Text, nullable=True),
    # Where the money came from when not the merchant's wallet (suspense, for `statement`).
    Column("source_account", String(64), nullable=True),
    # The cut-off's refunds that failed without reaching the bank: each retry is a new
    # order, keyed by this count (issue 10).
    Column("refund_attempt", Integer, nullable=False, server_default="0"),
    Index("ix_custody_receipts_day", "bank", "business_date", "status"),
    Index("ix_custody_receipts_merchant", "merchant_id", "id"),
)

deals = Table(
    "custody_deals",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("bank", String(24), nullable=False),
    Column("buyer", String(32), nullable=False),
    Column("seller", String(32), nullable=False),
    Column("agency", String(32), nullable=False),
    Column("deposit_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("funded_amount", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    Column("close_attempt", Integer, nullable=False),
    # A close in flight (written before its transfers): replayed first after a crash.
    Column("closing", Boolean, nullable=False),
    Column("commission", BigInteger, nullable=True),
    Column("rest_to", String(8), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
)

cutoff_runs = Table(
    "custody_cutoff_runs",
    metadata,
    Column("bank", String(24), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("refunds", Integer, nullable=False),
    Column("report_path", String(512), nullable=True),
    PrimaryKeyConstraint("bank", "business_date"),
)

cutoff_lines = Table(
    "custody_cutoff_lines",
    metadata,
    # One line per receipt: a receipt is refunded by one run, once.
    Column("receipt_id", String(64), primary_key=True),
    Column("bank", String(24), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("owner", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("reason", String(128), nullable=False),
    Column("refund_id", String(64), nullable=True),
    Column("outcome", String(64), nullable=False),
    Index("ix_custody_cutoff_lines_run", "bank", "business_date"),
)

checks = Table(
    "custody_checks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("bank", String(24), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("subaccounts_total", BigInteger, nullable=False),
    Column("pool_balance", BigInteger, nullable=False),
    Column("bank_balance", BigInteger, nullable=True),
    Column("checked_at", UTCDateTime, nullable=False),
    Index("ix_custody_checks_day", "bank", "business_date"),
)

sweeps = Table(
    "custody_sweeps",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("swept_until", UTCDateTime, nullable=False),
)


# -- sub-accounts ----------------------------------------------------------------------------


def get_subaccount(
    conn: Connection, *, bank: str, merchant_id: str, owner: str
) -> Mapping[str, Any] | None:
    row = conn.execute(
        select(subaccounts).where(
            subaccounts.c.bank == bank,
            subaccounts.c.merchant_id == merchant_id,
            subaccounts.c.owner == owner,
        )
    ).first()
    return dict(row._mapping) if row else None


def subaccount_by_virtual_account(
    conn: Connection, *, bank: str, hmacs: Sequence[str]
) -> Mapping[str, Any] | None:
    """The sub-account whose number has one of `hmacs` (its blind tokens, one per blind
    key)."""
    found = subaccounts.c.virtual_account_hmac.in_(list(hmacs))
    row = conn.execute(select(subaccounts).where(subaccounts.c.bank == bank, found)).first()
    return dict(row._mapping) if row else None


SubaccountKey = tuple[str, str, str]
"""(bank, merchant_id, owner): the primary key, by which the blind re-hash pages."""


def sealed_subaccounts_after(
    conn: Connection, after: SubaccountKey | None, *, limit: int
) -> list[dict[str, Any]]:
    """The next rows with a sealed number in primary-key order (keyset pages)."""
    c = subaccounts.c
    query = select(
        c.bank, c.merchant_id, c.owner, c.virtual_account_enc, c.virtual_account_hmac
    ).where(c.virtual_account_enc.is_not(None))
    if after is not None:
        query = query.where(tuple_(c.bank, c.merchant_id, c.owner) > tuple_(*map(literal, after)))
    rows = conn.execute(query.order_by(c.bank, c.merchant_id, c.owner).limit(limit))
    return [dict(r._mapping) for r in rows]


def replace_virtual_account_hmac(
    conn: Connection, key: SubaccountKey, *, old: str | None, new: str
) -> bool:
    """Moves one row's blind token, only if it still holds `old` (a row written meanwhile
    is left as written); whether it moved."""
    c = subaccounts.c
    same = c.virtual_account_hmac.is_(None) if old is None else c.virtual_account_hmac == old
    query = (
        update(subaccounts)
        .where(c.bank == key[0], c.merchant_id == key[1], c.owner == key[2], same)
        .values(virtual_account_hmac=new)
    )
    return bool(conn.execute(query).rowcount)


def count_sealed_subaccounts(conn: Connection) -> int:
    c = subaccounts.c
    return int(conn.execute(select(func.count(c.virtual_account_enc))).scalar_one())


def insert_subaccount(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(subaccounts).values(**values))


def list_subaccounts(
    conn: Connection, *, bank: str, merchant_id: str | None, limit: int
) -> list[dict[str, Any]]:
    query = select(subaccounts).where(subaccounts.c.bank == bank)
    if merchant_id is not None:
        query = query.where(subaccounts.c.merchant_id == merchant_id)
    rows = conn.execute(query.order_by(subaccounts.c.merchant_id, subaccounts.c.owner).limit(limit))
    return [dict(r._mapping) for r in rows]


# -- receipts --------------------------------------------------------------------------------


def _receipt(row: Any) -> Receipt:
    m = row._mapping
    return Receipt(
        id=m["id"],
        bank=m["bank"],
        merchant_id=m["merchant_id"],
        owner=m["owner"],
        amount=m["amount"],
        currency=m["currency"],
        received_at=m["received_at"],
        business_date=m["business_date"],
        status=ReceiptStatus(m["status"]),
        deal_id=m["deal_id"],
        cutoff_step=CutoffStep(m["cutoff_step"]) if m["cutoff_step"] else None,
        move_attempt=m["move_attempt"],
        refund_id=m["refund_id"],
        error=m["error"],
        origin=ReceiptOrigin(m["origin"]),
        payer_enc=m["payer_enc"],
        source_account=m["source_account"],
        refund_attempt=m["refund_attempt"],
    )


def insert_receipt(conn: Connection, receipt: Receipt, now: datetime) -> bool:
    """Insert unless present; True when this call inserted it."""
    if conn.execute(select(receipts.c.id).where(receipts.c.id == receipt.id)).first():
        return False
    conn.execute(
        insert(receipts).values(
            id=receipt.id,
            bank=receipt.bank,
            merchant_id=receipt.merchant_id,
            owner=receipt.owner,
            amount=receipt.amount,
            currency=receipt.currency,
            received_at=receipt.received_at,
            business_date=receipt.business_date,
            status=receipt.status.value,
            move_attempt=receipt.move_attempt,
            updated_at=now,
            origin=receipt.origin.value,
            payer_enc=receipt.payer_enc,
            source_account=receipt.source_account,
        )
    )
    return True


def get_receipt(conn: Connection, receipt_id: str) -> Receipt | None:
    row = conn.execute(select(receipts).where(receipts.c.id == receipt_id)).first()
    return _receipt(row) if row else None


def list_receipts(
    conn: Connection,
    *,
    merchant_id: str | None = None,
    bank: str | None = None,
    business_date: date | None = None,
    statuses: Sequence[ReceiptStatus] | None = None,
    steps: Sequence[CutoffStep] | None = None,
    before_date: date | None = None,
    limit: int,
) -> list[Receipt]:
    query = select(receipts)
    if merchant_id is not None:
        query = query.where(receipts.c.merchant_id == merchant_id)
    if bank is not None:
        query = query.where(receipts.c.bank == bank)
    if business_date is not None:
        query = query.where(receipts.c.business_date == business_date)
    if before_date is not None:
        query = query.where(receipts.c.business_date < before_date)
    if statuses is not None:
        query = query.where(receipts.c.status.in_([s.value for s in statuses]))
    if steps is not None:
        query = query.where(receipts.c.cutoff_step.in_([s.value for s in steps]))
    rows = conn.execute(query.order_by(receipts.c.received_at, receipts.c.id).limit(limit))
    return [_receipt(r) for r in rows]


def update_receipt(
    conn: Connection,
    receipt_id: str,
    *,
    now: datetime,
    expect_status: ReceiptStatus | None = None,
    expect_step: CutoffStep | None = None,
    expect_refund_id: str | None = None,
    expect_refund_attempt: int | None = None,
    **values: Any,
) -> bool:
    """A conditional update: True when the receipt was in the expected state and changed."""
    query = update(receipts).where(receipts.c.id == receipt_id)
    if expect_refund_id is not None:
        query = query.where(receipts.c.refund_id == expect_refund_id)
    if expect_refund_attempt is not None:
        query = query.where(receipts.c.refund_attempt == expect_refund_attempt)
    if expect_status is not None:
        query = query.where(receipts.c.status == expect_status.value)
    if expect_step is not None:
        query = query.where(receipts.c.cutoff_step == expect_step.value)
    plain = {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}
    return conn.execute(query.values(updated_at=now, **plain)).rowcount == 1


def open_refunds(conn: Connection, *, bank: str, business_date: date) -> int:
    """Receipts of the day the cut-off is still sending back (not paid, not handed over)."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(receipts)
            .where(
                receipts.c.bank == bank,
                receipts.c.business_date == business_date,
                receipts.c.status == ReceiptStatus.REFUNDING.value,
            )
        ).scalar_one()
    )


def mark_due(conn: Connection, *, bank: str, business_date: date, now: datetime) -> int:
    """Every receipt of the day still unmatched becomes due for refund, in one statement."""
    result = conn.execute(
        update(receipts)
        .where(
            receipts.c.bank == bank,
            receipts.c.business_date == business_date,
            receipts.c.status == ReceiptStatus.UNMATCHED.value,
        )
        .values(
            status=ReceiptStatus.REFUNDING.value, cutoff_step=CutoffStep.DUE.value, updated_at=now
        )
    )
    return int(result.rowcount)


# -- deals -----------------------------------------------------------------------------------


def _deal(row: Any) -> Deal:
    m = row._mapping
    return Deal(
        id=m["id"],
        merchant_id=m["merchant_id"],
        bank=m["bank"],
        buyer=m["buyer"],
        seller=m["seller"],
        agency=m["agency"],
        deposit_amount=m["deposit_amount"],
        currency=m["currency"],
        funded_amount=m["funded_amount"],
        status=m["status"],
        created_at=m["created_at"],
        close_attempt=m["close_attempt"],
        commission=m["commission"],
        rest_to=RestTo(m["rest_to"]) if m["rest_to"] else None,
        closed_at=m["closed_at"],
    )


def insert_deal(conn: Connection, deal: Deal) -> None:
    conn.execute(
        insert(deals).values(
            id=deal.id,
            merchant_id=deal.merchant_id,
            bank=deal.bank,
            buyer=deal.buyer,
            seller=deal.seller,
            agency=deal.agency,
            deposit_amount=deal.deposit_amount,
            currency=deal.currency,
            funded_amount=0,
            status="open",
            close_attempt=1,
            closing=False,
            created_at=deal.created_at,
        )
    )


def get_deal(conn: Connection, deal_id: str) -> tuple[Deal, bool] | None:
    """The deal and whether a close is in flight."""
    row = conn.execute(select(deals).where(deals.c.id == deal_id)).first()
    return (_deal(row), bool(row._mapping["closing"])) if row else None


def list_deals(conn: Connection, *, merchant_id: str | None, limit: int) -> list[Deal]:
    query = select(deals)
    if merchant_id is not None:
        query = query.where(deals.c.merchant_id == merchant_id)
    return [_deal(r) for r in conn.execute(query.order_by(deals.c.id.desc()).limit(limit))]


def update_deal(
    conn: Connection,
    deal_id: str,
    *,
    expect_closing: bool | None = None,
    expect_attempt: int | None = None,
    **values: Any,
) -> bool:
    """A conditional update (compare-and-set on the close in flight): True when it changed."""
    query = update(deals).where(deals.c.id == deal_id)
    if expect_closing is not None:
        query = query.where(deals.c.status == "open", deals.c.closing.is_(expect_closing))
    if expect_attempt is not None:
        query = query.where(deals.c.close_attempt == expect_attempt)
    plain = {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}
    return conn.execute(query.values(**plain)).rowcount == 1


def fund_deal(conn: Connection, deal: Deal, amount: int) -> bool:
    """Add a matched receipt to the deal unless the deposit would be exceeded (race-safe)."""
    result = conn.execute(
        update(deals)
        .where(
            deals.c.id == deal.id,
            deals.c.status == "open",
            deals.c.closing.is_(False),
            deals.c.funded_amount + amount <= deals.c.deposit_amount,
        )
        .values(funded_amount=deals.c.funded_amount + amount)
    )
    return result.rowcount == 1
