"""Tables of the finance slice: accounting vouchers derived from the journal, their lines,
their push state (the outbox the push relay drains), and the daily reconciliation of
pushed vouchers against the ledger (migration 0024_finance)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from paycore.platform.db import JSONDocument, UTCDateTime
from paycore.platform.schema import metadata

vouchers = Table(
    "finance_vouchers",
    metadata,
    # Derived from (business date, group, currency): a replay yields the same id.
    Column("id", String(64), primary_key=True),
    Column("business_date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    # What the voucher books, e.g. the transfer reason it summarizes (payin_capture, fee...)
    Column("voucher_type", String(32), nullable=False),
    Column("summary", String(256), nullable=False),
    Column("debit_total_minor", BigInteger, nullable=False),
    Column("credit_total_minor", BigInteger, nullable=False),
    Column("transfer_count", BigInteger, nullable=False),
    # SHA-256 of the canonical voucher body: the same id must always carry the same body.
    Column("body_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The outbox: pending -> pushed; attempts and the lease make the push resumable.
    Column("push_status", String(16), nullable=False),
    Column("push_attempts", Integer, nullable=False),
    Column("next_push_at", UTCDateTime, nullable=False),
    Column("lease_id", String(32), nullable=True),
    Column("leased_until", UTCDateTime, nullable=True),
    Column("pushed_at", UTCDateTime, nullable=True),
    Column("receiver_ref", String(64), nullable=True),
    Column("last_error", String(256), nullable=False),
)
Index("ix_finance_vouchers_date", vouchers.c.business_date)
Index("ix_finance_vouchers_push", vouchers.c.push_status, vouchers.c.next_push_at)

voucher_lines = Table(
    "finance_voucher_lines",
    metadata,
    Column("voucher_id", String(64), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("gl_account", String(32), nullable=False),
    # The ledger account code the line summarizes (the chart maps codes to GL accounts).
    Column("ledger_code", Integer, nullable=False),
    Column("debit_minor", BigInteger, nullable=False),
    Column("credit_minor", BigInteger, nullable=False),
    PrimaryKeyConstraint("voucher_id", "line_no", name="pk_finance_voucher_lines"),
)

derived_days = Table(
    "finance_days",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("vouchers", Integer, nullable=False),
    Column("derived_at", UTCDateTime, nullable=False),
    # The last daily reconciliation against the ledger and the receiver.
    Column("recon_status", String(16), nullable=False),
    Column("recon_at", UTCDateTime, nullable=True),
    Column("recon_breaks", JSONDocument, nullable=False),
)
