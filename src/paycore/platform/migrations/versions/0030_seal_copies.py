"""Security: idempotent responses and webhook payloads sealed at rest (issue 15).

Both are copies of an order's view (C2):

- idempotency_keys: response_enc (FieldCipher token of the stored answer, bound to the
  key row); response becomes nullable and is written NULL from now on;
- notification_events: payload_enc (the event's payload sealed, bound to the event);
  payload becomes nullable and is written NULL from now on.

Rows written before keep their clear value, still read as before, until `paycore
security encrypt-backfill` moves them; migration 0032 drops the emptied clear columns.
No backfill here: it needs the field keys (an HSM's KEK in production), and outboxes
and idempotency tables are large and hot (an online, resumable job suits them).

Revision ID: 0030_seal_copies
Revises: 0029_seal_order_details
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument

revision = "0030_seal_copies"
down_revision = "0029_seal_order_details"
branch_labels = None
depends_on = None

_SEALED = (("idempotency_keys", "response"), ("notification_events", "payload"))


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("response_enc", sa.Text(), nullable=True))
    with op.batch_alter_table("notification_events") as batch:
        batch.alter_column("payload", existing_type=JSONDocument, nullable=True)
        batch.add_column(sa.Column("payload_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    # Values already sealed would be lost (and new rows have no clear copy): refuse.
    conn = op.get_bind()
    for table, column in _SEALED:
        sealed = conn.execute(
            sa.text(f"SELECT COUNT(*) FROM {table} WHERE {column}_enc IS NOT NULL")
        ).scalar_one()
        if sealed:
            raise RuntimeError(f"{table}.{column}_enc holds {sealed} sealed values: not downgraded")
    with op.batch_alter_table("notification_events") as batch:
        batch.drop_column("payload_enc")
        batch.alter_column("payload", existing_type=JSONDocument, nullable=False)
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("response_enc")
