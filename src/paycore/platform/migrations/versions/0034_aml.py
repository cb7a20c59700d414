"""AML: alerts, cases, their append-only trail and suspicious-transaction report drafts.

- aml_alerts: one row per subject and scoring period, what `open_cases` did with it (the
  record that makes a second run of the same period a no-op).
- aml_cases: one per investigation; at most one active (open/investigating) per subject,
  by a partial unique index on both databases. `version` is the optimistic-concurrency
  counter: every change bumps it and appends the event of that seq.
- aml_case_events: the trail, append-only by the database itself: triggers refuse UPDATE
  and DELETE (and TRUNCATE on PostgreSQL), as for audit_log (0027). Notes are sealed
  (note_enc, FieldCipher token, context aml-case-note:<case id>:<seq>).
- aml_str_drafts: each draft of a case's report, the whole document sealed (it quotes the
  analyst's conclusion), context aml-str:<case id>:<draft no>.

Revision ID: 0034_aml
Revises: 0033_warehouse
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from paycore.platform.db import UTCDateTime

revision = "0034_aml"
down_revision = "0033_warehouse"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_ACTIVE = "status IN ('open', 'investigating')"
_REFUSE_FUNCTION = """
CREATE FUNCTION aml_case_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'aml_case_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
_POSTGRES_TRIGGERS = (
    "CREATE TRIGGER aml_case_events_append_only BEFORE UPDATE OR DELETE ON aml_case_events "
    "FOR EACH ROW EXECUTE FUNCTION aml_case_events_refuse_change()",
    "CREATE TRIGGER aml_case_events_no_truncate BEFORE TRUNCATE ON aml_case_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION aml_case_events_refuse_change()",
)
_SQLITE_TRIGGERS = tuple(
    f"CREATE TRIGGER aml_case_events_no_{verb.lower()} BEFORE {verb} ON aml_case_events "
    f"BEGIN SELECT RAISE(ABORT, 'aml_case_events is append-only: {verb} refused'); END"
    for verb in ("UPDATE", "DELETE")
)


def upgrade() -> None:
    op.create_table(
        "aml_cases",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("typologies", _JSON, nullable=False),
        sa.Column("reasons", _JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("previous_case_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_aml_cases_status", "aml_cases", ["status", "opened_at", "id"])
    op.create_index(
        "ix_aml_cases_subject", "aml_cases", ["subject_type", "subject_id", "opened_at"]
    )
    op.create_index(
        "ux_aml_cases_active_subject",
        "aml_cases",
        ["subject_type", "subject_id"],
        unique=True,
        postgresql_where=sa.text(_ACTIVE),
        sqlite_where=sa.text(_ACTIVE),
    )
    op.create_table(
        "aml_case_events",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("details", _JSON, nullable=False),
        sa.Column("note_enc", sa.Text, nullable=True),
    )
    op.create_table(
        "aml_alerts",
        sa.Column("subject_type", sa.String(16), primary_key=True),
        sa.Column("subject_id", sa.String(128), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("typologies", _JSON, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_aml_alerts_case", "aml_alerts", ["case_id"])
    op.create_table(
        "aml_str_drafts",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("draft_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("document_enc", sa.Text, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_REFUSE_FUNCTION)
        for statement in _POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("aml_str_drafts")
    op.drop_index("ix_aml_alerts_case", table_name="aml_alerts")
    op.drop_table("aml_alerts")
    op.drop_table("aml_case_events")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION aml_case_events_refuse_change()")
    op.drop_index("ux_aml_cases_active_subject", table_name="aml_cases")
    op.drop_index("ix_aml_cases_subject", table_name="aml_cases")
    op.drop_index("ix_aml_cases_status", table_name="aml_cases")
    op.drop_table("aml_cases")
