"""Migration 0019 gives existing accounts an origin: `flow` in a flow's namespace, else `api`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from paycore.platform.db import make_engine, upgrade

_INSERT = text(
    "INSERT INTO ledger_accounts (id, currency, code, owner_id, flags, status, metadata, "
    "created_at, debits_pending, debits_posted, credits_pending, credits_posted) "
    "VALUES (:id, 'CNY', 0, NULL, 0, 'active', '{}', '2026-01-01 00:00:00.000000', 0, 0, 0, 0)"
)


def test_existing_accounts_get_the_origin_their_id_tells(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0018_flow_retries")
    engine = make_engine(url)
    ids = ["acct_mw_m1_CNY", "acct_fee_CNY", "acct_cs_abc", "acct_a", "acct_mwx", "acct-000001"]
    with engine.begin() as conn:
        for account_id in ids:
            conn.execute(_INSERT, {"id": account_id})

    upgrade(url, "0019_ledger_ownership")

    with engine.connect() as conn:
        origins = dict(conn.execute(text("SELECT id, origin FROM ledger_accounts")).tuples().all())
    engine.dispose()
    assert origins == {
        "acct_mw_m1_CNY": "flow",
        "acct_fee_CNY": "flow",
        "acct_cs_abc": "flow",
        "acct_a": "api",
        "acct_mwx": "api",  # `_` is not a wildcard: only the exact prefix counts
        "acct-000001": "api",
    }
