"""Security: payment orders' description and metadata sealed at rest.

`payment_orders.details_enc` (Text): one FieldCipher token per order, the JSON
`{"description", "metadata"}` under the context `order-details:<order id>`
(payments/details.py); NULL for an order with neither. The clear `description` and
`metadata` become nullable and are written NULL from now on; rows written before keep
them until `paycore security encrypt-backfill` seals them
(`payments.details.seal_order_details`) and empties them; migration 0032 drops them.
Not sealed here: a migration does not reach the KEK (an HSM in production), and a large
table wants the online, resumable backfill rather than one schema transaction.

On SQLite the nullability change rebuilds the table (batch mode); the partial index of
unresolved orders is dropped and made again around it, so it keeps its WHERE clause.

Revision ID: 0029_seal_order_details
Revises: 0028_encrypt_c2
Create Date: 2026-12-06
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument

revision = "0029_seal_order_details"
down_revision = "0028_encrypt_c2"
branch_labels = None
depends_on = None

_UNRESOLVED = sa.text("status IN ('created', 'processing')")


def upgrade() -> None:
    op.add_column("payment_orders", sa.Column("details_enc", sa.Text(), nullable=True))
    _without_due_index(lambda: _nullable(True))


def downgrade() -> None:
    # Values already sealed would be lost: refuse rather than silently drop them.
    conn = op.get_bind()
    sealed = conn.execute(
        sa.text("SELECT COUNT(*) FROM payment_orders WHERE details_enc IS NOT NULL")
    ).scalar_one()
    if sealed:
        raise RuntimeError(
            f"payment_orders.details_enc holds {sealed} sealed values: not downgraded"
        )
    conn.execute(sa.text("UPDATE payment_orders SET description = '' WHERE description IS NULL"))
    conn.execute(sa.text("UPDATE payment_orders SET metadata = '{}' WHERE metadata IS NULL"))
    _without_due_index(lambda: _nullable(False))
    with op.batch_alter_table("payment_orders") as batch:
        batch.drop_column("details_enc")


def _nullable(nullable: bool) -> None:
    with op.batch_alter_table("payment_orders") as batch:
        batch.alter_column("description", existing_type=sa.String(256), nullable=nullable)
        batch.alter_column("metadata", existing_type=JSONDocument, nullable=nullable)


def _without_due_index(change: Callable[[], None]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.drop_index("ix_payment_orders_due", table_name="payment_orders")
    change()
    if sqlite:
        op.create_index(
            "ix_payment_orders_due",
            "payment_orders",
            ["next_query_at"],
            sqlite_where=_UNRESOLVED,
        )
