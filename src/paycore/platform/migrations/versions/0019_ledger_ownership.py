"""Ledger accounts say who opened them: a paycore flow or a caller of the ledger's API.

`ledger_accounts.origin` is `flow` or `api`. API keys move money only between `api`
accounts; a flow's accounts, and the holds between them, are out of their reach (issue 10:
a merchant voided its own payout's hold and spent the money twice).

Existing accounts: those under a flow's id namespace (the prefixes of
`paycore.ledger.model.FLOW_ACCOUNT_PREFIXES`, spelled out here as they were when this ran)
become `flow`; every other account was opened through the API or the CLI and becomes `api`.

Revision ID: 0019_ledger_ownership
Revises: 0018_flow_retries
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_ledger_ownership"
down_revision = "0018_flow_retries"
branch_labels = None
depends_on = None

FLOW_ACCOUNT_PREFIXES = (
    "acct_mw_",
    "acct_clr_",
    "acct_fee_",
    "acct_transit_",
    "acct_splitcom_",
    "acct_uw_",
    "acct_ur_",
    "acct_rb_",
    "acct_cus_",
    "acct_cs_",
    "acct_suspense_",
)


def upgrade() -> None:
    with op.batch_alter_table("ledger_accounts") as batch:
        batch.add_column(sa.Column("origin", sa.String(8), nullable=False, server_default="flow"))
    # substr, not LIKE: `_` is a LIKE wildcard.
    flow = " OR ".join(
        f"substr(id, 1, {len(prefix)}) = '{prefix}'" for prefix in FLOW_ACCOUNT_PREFIXES
    )
    op.execute(f"UPDATE ledger_accounts SET origin = 'api' WHERE NOT ({flow})")


def downgrade() -> None:
    with op.batch_alter_table("ledger_accounts") as batch:
        batch.drop_column("origin")
