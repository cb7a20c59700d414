"""Security: the clear C2 columns are dropped once encrypt-backfill has emptied them.

Since 0028-0030 every one of these columns is written NULL (its value goes to the sealed
column beside it); rows written before hold clear values until `paycore security
encrypt-backfill` seals them. This migration refuses while any row still holds one, and
names the command to run: it runs in a transaction of its own (migrations/env.py), so
the migrations before it stay applied and the backfill can run against them; then
`paycore db upgrade` again. The backfill is not run here: it needs the key provider (an
HSM in production) and is an online, resumable job, which a schema transaction is not.

audit_log.reason stays: the log is append-only and hash-chained, records written before
0031 keep their reason (personal numbers masked) and are never rewritten.

Revision ID: 0032_drop_clear_c2
Revises: 0031_seal_audit_reason
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0032_drop_clear_c2"
down_revision = "0031_seal_audit_reason"
branch_labels = None
depends_on = None

CLEAR_COLUMNS = (
    ("custody_subaccounts", "virtual_account"),
    ("recon_lines", "account"),
    ("rewards_rows", "note"),
    ("payment_orders", "description"),
    ("payment_orders", "metadata"),
    ("idempotency_keys", "response"),
    ("notification_events", "payload"),
)
"""Kept in step with security/columns_backfill.py (a test checks it)."""


class ClearValuesLeft(RuntimeError):
    pass


def upgrade() -> None:
    conn = op.get_bind()
    left = {
        f"{table}.{column}": count
        for table, column in CLEAR_COLUMNS
        if (count := _clear_count(conn, table, column))
    }
    if left:
        listed = ", ".join(f"{name}: {count}" for name, count in left.items())
        raise ClearValuesLeft(
            f"rows still hold clear personal data ({listed}): run `paycore security"
            " encrypt-backfill` until it reports 0 left, then `paycore db upgrade` again"
        )
    with op.batch_alter_table("custody_subaccounts") as batch:
        batch.drop_constraint("ux_custody_subaccounts_virtual", type_="unique")
        batch.drop_column("virtual_account")
    for table in ("recon_lines", "rewards_rows", "payment_orders"):
        with op.batch_alter_table(table) as batch:
            for name, column in CLEAR_COLUMNS:
                if name == table:
                    batch.drop_column(column)
    for table, column in CLEAR_COLUMNS:
        if table in ("idempotency_keys", "notification_events"):
            with op.batch_alter_table(table) as batch:
                batch.drop_column(column)


def _clear_count(conn: sa.Connection, table: str, column: str) -> int:
    t = sa.table(table, sa.column(column))
    query = sa.select(sa.func.count()).select_from(t).where(t.c[column].is_not(None))
    return int(conn.execute(query).scalar_one())


def downgrade() -> None:
    # The columns come back empty and nullable: the values live sealed beside them.
    with op.batch_alter_table("custody_subaccounts") as batch:
        batch.add_column(sa.Column("virtual_account", sa.String(32), nullable=True))
        batch.create_unique_constraint(
            "ux_custody_subaccounts_virtual", ["bank", "virtual_account"]
        )
    op.add_column("recon_lines", sa.Column("account", sa.String(34), nullable=True))
    op.add_column("rewards_rows", sa.Column("note", sa.String(256), nullable=True))
    op.add_column("payment_orders", sa.Column("description", sa.String(256), nullable=True))
    op.add_column("payment_orders", sa.Column("metadata", sa.JSON(), nullable=True))
    op.add_column("idempotency_keys", sa.Column("response", sa.JSON(), nullable=True))
    op.add_column("notification_events", sa.Column("payload", sa.JSON(), nullable=True))
