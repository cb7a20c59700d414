"""Each recon run records the last business day whose orders it judged, so the next run of
the source judges every day since then (a skipped run or a late file leaves no day unjudged).

Revision ID: 0015_recon_judged
Revises: 0014_recon_custody
Create Date: 2026-11-25
"""

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision = "0015_recon_judged"
down_revision = "0014_recon_custody"
branch_labels = None
depends_on = None

# Runs before this revision always used the default cross-day window of one day.
_WINDOW_DAYS_BEFORE = 1


def upgrade() -> None:
    op.add_column("recon_runs", sa.Column("judged_through", sa.Date, nullable=True))
    # Earlier runs judged exactly their day minus the window: say so, so the first run
    # after the upgrade catches up from there rather than starting afresh. A handful of
    # rows a day, so row by row in Python keeps the date arithmetic portable.
    runs = sa.table(
        "recon_runs",
        sa.column("business_date", sa.Date),
        sa.column("judged_through", sa.Date),
    )
    bind = op.get_bind()
    days = bind.execute(sa.select(runs.c.business_date).distinct()).scalars().all()
    for day in days:
        bind.execute(
            runs.update()
            .where(runs.c.business_date == day)
            .values(judged_through=day - timedelta(days=_WINDOW_DAYS_BEFORE))
        )
    with op.batch_alter_table("recon_runs") as batch:
        batch.alter_column("judged_through", existing_type=sa.Date, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("recon_runs") as batch:
        batch.drop_column("judged_through")
