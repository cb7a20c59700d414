"""Security: audit log reasons sealed at rest (issue 15).

- audit_log.reason_enc (FieldCipher token, context `audit-reason:<seq>`) and
  audit_log.format (NULL: format 1, the reason in clear; 2: sealed, the chain hashes the
  token) are added; audit_log.reason becomes nullable and is NULL in every new record.

Records written before stay as they are: the log is append-only, so their clear reason
is neither moved nor emptied (a rewrite would also break the hash chain they verify by).

The append-only triggers must survive: on PostgreSQL ADD COLUMN and DROP NOT NULL keep
them (and fire no row trigger); on SQLite making a column nullable rebuilds the table
(copy, drop, rename), which drops its triggers with it, so they are made again here, in
the same transaction.

Revision ID: 0031_seal_audit_reason
Revises: 0030_seal_copies
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0031_seal_audit_reason"
down_revision = "0030_seal_copies"
branch_labels = None
depends_on = None

# As migration 0027 made them (SQLite only: PostgreSQL's are not touched).
_SQLITE_TRIGGERS = tuple(
    f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
    f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {verb} refused'); END"
    for verb in ("UPDATE", "DELETE")
)


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _drop_sqlite_triggers() -> None:
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{verb}")


def _make_sqlite_triggers() -> None:
    for statement in _SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    if _is_sqlite():
        # The rebuild copies rows with INSERT ... SELECT and drops the old table (which
        # fires no DELETE trigger); dropping the triggers first makes that explicit.
        _drop_sqlite_triggers()
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("reason", existing_type=sa.Text(), nullable=True)
        batch.add_column(sa.Column("reason_enc", sa.Text(), nullable=True))
        batch.add_column(sa.Column("format", sa.SmallInteger(), nullable=True))
    if _is_sqlite():
        _make_sqlite_triggers()


def downgrade() -> None:
    # A sealed record cannot be turned back into a clear one without rewriting the log
    # (and its chain): refuse rather than lose reasons.
    sealed = (
        op.get_bind()
        .execute(sa.text("SELECT COUNT(*) FROM audit_log WHERE reason_enc IS NOT NULL"))
        .scalar_one()
    )
    if sealed:
        raise RuntimeError(f"audit_log holds {sealed} sealed reasons: not downgraded")
    if _is_sqlite():
        _drop_sqlite_triggers()
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("format")
        batch.drop_column("reason_enc")
        batch.alter_column("reason", existing_type=sa.Text(), nullable=False)
    if _is_sqlite():
        _make_sqlite_triggers()
