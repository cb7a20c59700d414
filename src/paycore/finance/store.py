"""Tables of the finance slice: accounting vouchers derived from the journal, their lines,
their push state (the outbox the push relay drains), and the daily reconciliation of
pushed vouchers against the ledger (migration 0024_finance)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
    insert,
    or_,
    select,
    update,
)

from paycore.finance.model import AmountKey, Voucher, VoucherLine
from paycore.platform.db import JSONDocument, UTCDateTime
from paycore.platform.schema import metadata

PUSH_PENDING = "pending"
"""A new voucher: the push relay sends it from `next_push_at` on."""
PUSH_PUSHED = "pushed"
"""The finance system acknowledged it."""
PUSH_REJECTED = "rejected"
"""The finance system refused it for good (409, an invalid document): pushing is over
until a person requeues it; the reconciliation shows why."""
RECON_PENDING = "pending"
RECON_OK = "ok"
RECON_BREAKS = "breaks"
RECON_UNAVAILABLE = "unavailable"
"""The worker's last try could not ask the finance system: only the ledger was checked."""

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
    # The journal's seq the day ends at: the next day starts after it (the day's entries
    # are a seq range, read by the primary key, never by a scan of created_at).
    Column("last_seq", BigInteger, nullable=False),
    # The last daily reconciliation against the ledger and the receiver.
    Column("recon_status", String(16), nullable=False),
    Column("recon_at", UTCDateTime, nullable=True),
    Column("recon_breaks", JSONDocument, nullable=False),
)


# -- derived days and their vouchers ---------------------------------------------------------


def last_day(conn: Connection) -> tuple[date, int] | None:
    """The latest derived day and the seq it ends at."""
    row = conn.execute(
        select(derived_days.c.business_date, derived_days.c.last_seq)
        .order_by(derived_days.c.business_date.desc())
        .limit(1)
    ).first()
    return (row[0], int(row[1])) if row else None


def day(conn: Connection, business_date: date) -> Any:
    return conn.execute(
        select(derived_days).where(derived_days.c.business_date == business_date)
    ).first()


def seq_before(conn: Connection, business_date: date) -> int:
    """Where a derived day's range starts: the previous derived day's end, 0 for the first."""
    found = conn.execute(
        select(derived_days.c.last_seq)
        .where(derived_days.c.business_date < business_date)
        .order_by(derived_days.c.business_date.desc())
        .limit(1)
    ).scalar()
    return int(found) if found is not None else 0


def insert_day(
    conn: Connection,
    *,
    business_date: date,
    derived: Sequence[Voucher],
    last_seq: int,
    now: datetime,
) -> None:
    """The day, its vouchers (pending push from now) and their lines, in the caller's
    transaction. The day's primary key makes a second worker's insert fail whole."""
    conn.execute(
        insert(derived_days).values(
            business_date=business_date,
            vouchers=len(derived),
            derived_at=now,
            last_seq=last_seq,
            recon_status=RECON_PENDING,
            recon_at=None,
            recon_breaks={"receiver_checked": False, "breaks": []},
        )
    )
    if not derived:
        return
    conn.execute(insert(vouchers), [_voucher_row(v, now) for v in derived])
    conn.execute(
        insert(voucher_lines),
        [
            {
                "voucher_id": v.id,
                "line_no": line.line_no,
                "gl_account": line.gl_account,
                "ledger_code": line.ledger_code,
                "debit_minor": line.debit_minor,
                "credit_minor": line.credit_minor,
            }
            for v in derived
            for line in v.lines
        ],
    )


def _voucher_row(v: Voucher, now: datetime) -> dict[str, Any]:
    return {
        "id": v.id,
        "business_date": v.business_date,
        "currency": v.currency,
        "voucher_type": v.voucher_type,
        "summary": v.summary,
        "debit_total_minor": v.debit_total_minor,
        "credit_total_minor": v.credit_total_minor,
        "transfer_count": v.transfer_count,
        "body_hash": v.body_hash,
        "created_at": now,
        "push_status": PUSH_PENDING,
        "push_attempts": 0,
        "next_push_at": now,
        "lease_id": None,
        "leased_until": None,
        "pushed_at": None,
        "receiver_ref": None,
        "last_error": "",
    }


def stored_hashes(conn: Connection, business_date: date) -> dict[str, str]:
    rows = conn.execute(
        select(vouchers.c.id, vouchers.c.body_hash).where(vouchers.c.business_date == business_date)
    ).all()
    return {r[0]: r[1] for r in rows}


def voucher_rows(conn: Connection, business_date: date) -> list[Any]:
    return list(
        conn.execute(
            select(vouchers)
            .where(vouchers.c.business_date == business_date)
            .order_by(vouchers.c.id)
        ).all()
    )


def voucher_row(conn: Connection, voucher_id: str) -> Any:
    return conn.execute(select(vouchers).where(vouchers.c.id == voucher_id)).first()


def lines_of(conn: Connection, voucher_ids: Sequence[str]) -> dict[str, list[VoucherLine]]:
    found: dict[str, list[VoucherLine]] = {i: [] for i in voucher_ids}
    rows = conn.execute(
        select(voucher_lines)
        .where(voucher_lines.c.voucher_id.in_(list(voucher_ids)))
        .order_by(voucher_lines.c.voucher_id, voucher_lines.c.line_no)
    ).all()
    for r in rows:
        found[r.voucher_id].append(
            VoucherLine(r.line_no, r.gl_account, r.ledger_code, r.debit_minor, r.credit_minor)
        )
    return found


def as_voucher(row: Any, lines: Sequence[VoucherLine]) -> Voucher:
    """A stored voucher, as the push relay sends it (`model.voucher_body`)."""
    return Voucher(
        id=row.id,
        business_date=row.business_date,
        voucher_type=row.voucher_type,
        currency=row.currency,
        summary=row.summary,
        lines=tuple(lines),
        transfer_count=int(row.transfer_count),
    )


def load_vouchers(conn: Connection, business_date: date) -> list[Voucher]:
    rows = voucher_rows(conn, business_date)
    lines = lines_of(conn, [r.id for r in rows])
    return [as_voucher(r, lines[r.id]) for r in rows]


def load_voucher(conn: Connection, voucher_id: str) -> Voucher | None:
    row = voucher_row(conn, voucher_id)
    return as_voucher(row, lines_of(conn, [voucher_id])[voucher_id]) if row else None


def line_sums(conn: Connection, business_date: date) -> dict[AmountKey, tuple[int, int]]:
    """(currency, GL account, ledger code) -> (debits, credits) over all the day's lines."""
    rows = conn.execute(
        select(
            vouchers.c.currency,
            voucher_lines.c.gl_account,
            voucher_lines.c.ledger_code,
            func.sum(voucher_lines.c.debit_minor),
            func.sum(voucher_lines.c.credit_minor),
        )
        .select_from(voucher_lines.join(vouchers, vouchers.c.id == voucher_lines.c.voucher_id))
        .where(vouchers.c.business_date == business_date)
        .group_by(vouchers.c.currency, voucher_lines.c.gl_account, voucher_lines.c.ledger_code)
    ).all()
    return {(r[0], r[1], int(r[2])): (int(r[3]), int(r[4])) for r in rows}


def record_recon(
    conn: Connection, business_date: date, *, status: str, breaks: Any, now: datetime
) -> None:
    conn.execute(
        update(derived_days)
        .where(derived_days.c.business_date == business_date)
        .values(recon_status=status, recon_breaks=breaks, recon_at=now)
    )


def recon_days(conn: Connection, statuses: Sequence[str]) -> dict[str, tuple[int, date | None]]:
    """status -> (days, the oldest day) of the derived days last reconciled so."""
    rows = conn.execute(
        select(
            derived_days.c.recon_status,
            func.count(),
            func.min(derived_days.c.business_date),
        )
        .where(derived_days.c.recon_status.in_(list(statuses)))
        .group_by(derived_days.c.recon_status)
    ).all()
    return {r[0]: (int(r[1]), r[2]) for r in rows}


def days_to_reconcile(
    conn: Connection, *, retry_before: datetime, unavailable_before: datetime, limit: int
) -> list[date]:
    """Days never reconciled, with breaks last seen before `retry_before`, or whose finance
    system could not answer before `unavailable_before`, none of whose vouchers still waits
    to be pushed (before that, a voucher is missing at the receiver by design). A rejected
    voucher has finished pushing: its day is reconciled and shows the break."""
    waiting = (
        select(vouchers.c.id)
        .where(
            vouchers.c.business_date == derived_days.c.business_date,
            vouchers.c.push_status == PUSH_PENDING,
        )
        .exists()
    )
    status, recon_at = derived_days.c.recon_status, derived_days.c.recon_at
    rows = conn.execute(
        select(derived_days.c.business_date)
        .where(
            or_(
                status == RECON_PENDING,
                (status == RECON_BREAKS) & (recon_at < retry_before),
                (status == RECON_UNAVAILABLE) & (recon_at < unavailable_before),
            ),
            ~waiting,
        )
        .order_by(derived_days.c.business_date)
        .limit(limit)
    ).all()
    return [r[0] for r in rows]
