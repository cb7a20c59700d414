"""Security: the last C2 columns in clear get encrypted columns beside them (issue 15).

- custody_subaccounts: virtual_account_enc (FieldCipher token) and virtual_account_hmac
  (blind token, unique per bank: matching finds a sub-account by it);
- recon_lines: account_enc; rewards_rows: note_enc;
- recon_imports.warnings: personal numbers masked in place (warnings stay readable for
  operators; they are redacted, not encrypted).

The clear columns become nullable and stay until `paycore security encrypt-backfill` has
moved every value (it empties them); a later migration drops them. The backfill is not in
this migration: it needs the field keys (an HSM's KEK in production, which a migration
does not reach) and recon_lines may hold millions of rows, which want an online,
resumable job rather than one schema transaction.

Revision ID: 0028_encrypt_c2
Revises: 0027_audit_log
Create Date: 2026-12-06
"""

import json

import sqlalchemy as sa
from alembic import op

from paycore.security.masking import redact_personal_numbers

revision = "0028_encrypt_c2"
down_revision = "0027_audit_log"
branch_labels = None
depends_on = None

_WARNINGS_PAGE = 500


def upgrade() -> None:
    with op.batch_alter_table("custody_subaccounts") as batch:
        batch.alter_column("virtual_account", existing_type=sa.String(32), nullable=True)
        batch.add_column(sa.Column("virtual_account_enc", sa.Text(), nullable=True))
        batch.add_column(sa.Column("virtual_account_hmac", sa.String(96), nullable=True))
        batch.create_unique_constraint(
            "ux_custody_subaccounts_virtual_hmac", ["bank", "virtual_account_hmac"]
        )
    op.add_column("recon_lines", sa.Column("account_enc", sa.Text(), nullable=True))
    with op.batch_alter_table("rewards_rows") as batch:
        batch.alter_column("note", existing_type=sa.String(256), nullable=True)
        batch.add_column(sa.Column("note_enc", sa.Text(), nullable=True))
    _redact_warnings(op.get_bind())


def _redact_warnings(conn: sa.Connection) -> None:
    """Keyset pages by id; a page is rewritten only where redaction changed something."""
    imports = sa.table("recon_imports", sa.column("id", sa.String), sa.column("warnings"))
    after = ""
    while True:
        page = conn.execute(
            sa.select(imports.c.id, imports.c.warnings)
            .where(imports.c.id > after, imports.c.warnings.is_not(None))
            .order_by(imports.c.id)
            .limit(_WARNINGS_PAGE)
        ).all()
        for import_id, text in page:
            redacted = json.dumps(
                [redact_personal_numbers(str(w)) for w in json.loads(text)], ensure_ascii=False
            )
            if redacted != text:
                conn.execute(
                    sa.update(imports).where(imports.c.id == import_id).values(warnings=redacted)
                )
        if len(page) < _WARNINGS_PAGE:
            return
        after = page[-1][0]


def downgrade() -> None:
    # Values already sealed would be lost: refuse rather than silently drop them.
    conn = op.get_bind()
    for table, column in (
        ("custody_subaccounts", "virtual_account_enc"),
        ("recon_lines", "account_enc"),
        ("rewards_rows", "note_enc"),
    ):
        sealed = conn.execute(
            sa.text(f"SELECT COUNT(*) FROM {table} WHERE {column} IS NOT NULL")
        ).scalar_one()
        if sealed:
            raise RuntimeError(f"{table}.{column} holds {sealed} sealed values: not downgraded")
    with op.batch_alter_table("rewards_rows") as batch:
        batch.drop_column("note_enc")
        batch.alter_column("note", existing_type=sa.String(256), nullable=False)
    op.drop_column("recon_lines", "account_enc")
    with op.batch_alter_table("custody_subaccounts") as batch:
        batch.drop_constraint("ux_custody_subaccounts_virtual_hmac", type_="unique")
        batch.drop_column("virtual_account_hmac")
        batch.drop_column("virtual_account_enc")
        batch.alter_column("virtual_account", existing_type=sa.String(32), nullable=False)
