"""The `paycore` command, run in-process against the test database.

Exit codes: 0 when everything was done, 1 when a transfer was not created (its
result is printed), 2 when the input was refused before touching the ledger.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine, inspect
from typer.testing import CliRunner

from paycore.cli import app
from paycore.ledger import cli as ledger_cli
from paycore.ledger.model import TransferRequest
from paycore.ledger.service import AccountRequest, Ledger
from paycore.platform.db import make_engine
from paycore.tables import metadata

ON_POSTGRES = os.environ.get("PAYCORE_DATABASE_URL", "").startswith("postgresql")


@pytest.fixture
def cli_engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Engine]]:
    """Every engine the CLI opens, disposed after the test.

    The CLI should dispose its engine itself (see the test of that below); disposing
    here too keeps a leaked connection from raising its ResourceWarning in whichever
    later test the garbage collector happens to run.
    """
    engines: list[Engine] = []

    def recording_make_engine(url: str, **kwargs: Any) -> Engine:
        engine = make_engine(url, **kwargs)
        engines.append(engine)
        return engine

    monkeypatch.setattr(ledger_cli, "make_engine", recording_make_engine)
    yield engines
    for engine in engines:
        engine.dispose()


@pytest.fixture
def paycore(database_url: str, cli_engines: list[Engine]) -> Any:
    """Run `paycore ARGS...` against this test's database; returns the click Result."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), env={"PAYCORE_DATABASE_URL": database_url})

    return run


@pytest.fixture
def funded(ledger: Ledger) -> tuple[tuple[int, int, int, int], ...]:
    """acct_a and acct_b with 1,000 already moved from a to b; returns their balances."""
    ledger.create_account(AccountRequest(currency="CNY", id="acct_a"))
    ledger.create_account(AccountRequest(currency="CNY", id="acct_b"))
    [seed] = ledger.create_transfers(
        [TransferRequest(id="tr_seed", debit_account_id="acct_a", credit_account_id="acct_b",
                         amount=1_000, currency="CNY")]
    )  # fmt: skip
    assert seed.result == "created"
    return balances(ledger)


def balances(ledger: Ledger) -> tuple[tuple[int, int, int, int], ...]:
    accounts = [ledger.get_account(account_id) for account_id in ("acct_a", "acct_b")]
    return tuple(account.balances() for account in accounts if account is not None)


def assert_nothing_written(
    ledger: Ledger, before: tuple[tuple[int, int, int, int], ...], *transfer_ids: str
) -> None:
    assert balances(ledger) == before
    for transfer_id in transfer_ids:
        assert ledger.get_transfer(transfer_id) is None
    for account_id in ("acct_a", "acct_b"):
        assert [e.transfer_id for e in ledger.entries(account_id).entries] == ["tr_seed"]
    report = ledger.check()
    assert report.ok, report.problems
    assert report.accounts_checked == 2


def transfer_args(transfer_id: str, *extra: str) -> list[str]:
    return [
        "transfers", "create", "--id", transfer_id, "--debit", "acct_a", "--credit", "acct_b",
        "--currency", "CNY", *extra,
    ]  # fmt: skip


# -- accounts ------------------------------------------------------------------------------


def test_accounts_create_makes_an_account_that_the_ledger_stores(
    paycore: Any, ledger: Ledger
) -> None:
    result = paycore(
        "accounts", "create", "--currency", "CNY", "--id", "acct_cash", "--code", "1001",
        "--owner", "merchant_1", "--flag", "debits_must_not_exceed_credits",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "created acct_cash" in result.stdout
    account = ledger.get_account("acct_cash")
    assert account is not None
    assert (account.currency, account.code, account.owner_id) == ("CNY", 1001, "merchant_1")
    assert account.balances() == (0, 0, 0, 0)


def test_accounts_create_without_an_id_prints_a_new_acct_id(paycore: Any, ledger: Ledger) -> None:
    result = paycore("accounts", "create", "--currency", "USD")

    assert result.exit_code == 0, result.output
    account_id = result.stdout.split()[-1]
    assert account_id.startswith("acct_")
    assert ledger.get_account(account_id) is not None


def test_accounts_create_again_with_the_same_id_says_it_exists(paycore: Any) -> None:
    first = paycore("accounts", "create", "--currency", "CNY", "--id", "acct_a")

    again = paycore("accounts", "create", "--currency", "CNY", "--id", "acct_a")

    assert first.exit_code == 0
    assert again.exit_code == 0, again.output
    assert "exists acct_a" in again.stdout


def test_accounts_create_with_a_used_id_and_another_currency_exits_2(
    paycore: Any, ledger: Ledger
) -> None:
    paycore("accounts", "create", "--currency", "CNY", "--id", "acct_a")

    result = paycore("accounts", "create", "--currency", "USD", "--id", "acct_a")

    assert result.exit_code == 2
    assert "exists_with_different_currency" in result.stderr
    account = ledger.get_account("acct_a")
    assert account is not None
    assert account.currency == "CNY"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--currency", "XYZ"], "unknown_currency"),
        (["--currency", "cny"], "unknown_currency"),
        (["--currency", "CNY", "--flag", "overdraft"], "unknown_flag"),
        (
            ["--currency", "CNY", "--flag", "debits_must_not_exceed_credits",
             "--flag", "credits_must_not_exceed_debits"],
            "flags_are_mutually_exclusive",
        ),
    ],
    ids=["unknown_currency", "lowercase_currency", "unknown_flag", "both_limit_flags"],
)  # fmt: skip
def test_accounts_create_with_bad_input_exits_2_and_creates_nothing(
    paycore: Any, ledger: Ledger, args: list[str], code: str
) -> None:
    result = paycore("accounts", "create", "--id", "acct_new", *args)

    assert result.exit_code == 2
    assert code in result.stderr
    assert ledger.get_account("acct_new") is None
    assert ledger.check().accounts_checked == 0


def test_accounts_show_prints_the_balances(paycore: Any, funded: Any) -> None:
    result = paycore("accounts", "show", "acct_b")

    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line.split()[3] for line in result.stdout.splitlines()
            if line.startswith("│") and len(line.split()) >= 4}  # fmt: skip
    assert rows["currency"] == "CNY"
    assert rows["status"] == "active"
    assert rows["credits_posted"] == "1000"
    assert rows["debits_posted"] == "0"
    assert "10.00 CNY" in result.stdout


def test_accounts_show_of_a_missing_account_exits_2_with_account_not_found(paycore: Any) -> None:
    result = paycore("accounts", "show", "acct_missing")

    assert result.exit_code == 2
    assert "account_not_found" in result.stderr


# -- transfers -----------------------------------------------------------------------------


def test_transfers_create_moves_money_and_exits_0(
    paycore: Any, ledger: Ledger, funded: Any
) -> None:
    result = paycore(*transfer_args("tr_1", "--amount", "250"))

    assert result.exit_code == 0, result.output
    assert "created" in result.stdout
    transfer = ledger.get_transfer("tr_1")
    assert transfer is not None
    assert transfer.amount == 250
    assert balances(ledger) == ((0, 1_250, 0, 0), (0, 0, 0, 1_250))
    assert ledger.check().ok


def test_transfers_create_of_a_hold_and_its_post(paycore: Any, ledger: Ledger, funded: Any) -> None:
    hold = paycore(*transfer_args("tr_hold", "--amount", "70", "--flag", "pending"))
    post = paycore("transfers", "create", "--id", "tr_post", "--pending-id", "tr_hold",
                   "--flag", "post-pending")  # fmt: skip

    assert hold.exit_code == 0, hold.output
    assert post.exit_code == 0, post.output
    assert balances(ledger) == ((0, 1_070, 0, 0), (0, 0, 0, 1_070))


def test_transfers_create_again_with_the_same_id_exits_0_and_moves_money_once(
    paycore: Any, ledger: Ledger, funded: Any
) -> None:
    paycore(*transfer_args("tr_1", "--amount", "250"))

    again = paycore(*transfer_args("tr_1", "--amount", "250"))

    assert again.exit_code == 0, again.output
    assert "exists" in again.stdout
    assert balances(ledger) == ((0, 1_250, 0, 0), (0, 0, 0, 1_250))


@pytest.mark.parametrize(
    ("extra", "exit_code", "message"),
    [
        (["--amount", "1.5"], 2, "wrong_type"),
        (["--amount", "abc"], 2, "wrong_type"),
        (["--amount", ""], 2, "wrong_type"),
        (["--amount", "²"], 2, "wrong_type"),
        (["--amount", "\u0661\u0660\u0660"], 2, "wrong_type"),
        (["--amount", "0"], 1, "amount_must_be_positive"),
        (["--amount", "-5"], 1, "amount_must_be_positive"),
        (["--amount=-5"], 1, "amount_must_be_positive"),
        ([], 1, "amount_must_be_positive"),
        (["--amount", "100", "--flag", "urgent"], 2, "unknown_flag"),
    ],
    ids=[
        "float",
        "letters",
        "empty",
        "superscript",
        "arabic_indic",
        "zero",
        "negative",
        "negative_equals",
        "missing",
        "flag",
    ],
)
def test_transfers_create_with_bad_input_exits_non_zero_and_writes_nothing(
    paycore: Any, ledger: Ledger, funded: Any, extra: list[str], exit_code: int, message: str
) -> None:
    result = paycore(*transfer_args("tr_bad", *extra))

    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert_nothing_written(ledger, funded, "tr_bad")


@pytest.mark.parametrize("currency", ["XYZ", "cny"])
def test_transfers_create_in_an_unknown_currency_exits_1_and_writes_nothing(
    paycore: Any, ledger: Ledger, funded: Any, currency: str
) -> None:
    result = paycore("transfers", "create", "--id", "tr_bad", "--debit", "acct_a",
                     "--credit", "acct_b", "--amount", "100", "--currency", currency)  # fmt: skip

    assert result.exit_code == 1, result.output
    assert "unknown_currency" in result.stdout
    assert_nothing_written(ledger, funded, "tr_bad")


@pytest.mark.parametrize(
    ("side", "message"),
    [("--debit", "debit_account_not_found"), ("--credit", "credit_account_not_found")],
)
def test_transfers_create_with_a_missing_account_exits_1_and_writes_nothing(
    paycore: Any, ledger: Ledger, funded: Any, side: str, message: str
) -> None:
    args = {"--debit": "acct_a", "--credit": "acct_b", side: "acct_missing"}

    result = paycore(
        "transfers", "create", "--id", "tr_bad", "--amount", "100", "--currency", "CNY",
        *(part for pair in args.items() for part in pair),
    )  # fmt: skip

    assert result.exit_code == 1, result.output
    assert message in result.stdout
    assert_nothing_written(ledger, funded, "tr_bad")
    assert ledger.get_account("acct_missing") is None


def test_transfers_create_from_a_file_posts_the_whole_batch(
    paycore: Any, ledger: Ledger, funded: Any, tmp_path: Path
) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"transfers": [
        {"id": "tr_1", "debit_account_id": "acct_a", "credit_account_id": "acct_b",
         "amount": 10, "currency": "CNY", "flags": ["linked"]},
        {"id": "tr_2", "debit_account_id": "acct_b", "credit_account_id": "acct_a",
         "amount": 4, "currency": "CNY", "metadata": {"reason": "refund"}},
    ]}))  # fmt: skip

    result = paycore("transfers", "create", "--file", str(batch))

    assert result.exit_code == 0, result.output
    assert "tr_1" in result.stdout
    assert "tr_2" in result.stdout
    assert balances(ledger) == ((0, 1_010, 0, 4), (0, 4, 0, 1_010))
    second = ledger.get_transfer("tr_2")
    assert second is not None
    assert dict(second.metadata) == {"reason": "refund"}
    assert ledger.check().ok


def test_transfers_create_from_a_file_exits_1_when_a_transfer_fails(
    paycore: Any, ledger: Ledger, funded: Any, tmp_path: Path
) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"transfers": [
        {"id": "tr_1", "debit_account_id": "acct_a", "credit_account_id": "acct_b",
         "amount": 10, "currency": "CNY"},
        {"id": "tr_2", "debit_account_id": "acct_a", "credit_account_id": "acct_a",
         "amount": 4, "currency": "CNY"},
    ]}))  # fmt: skip

    result = paycore("transfers", "create", "--file", str(batch))

    assert result.exit_code == 1, result.output
    assert "accounts_must_be_different" in result.stdout
    assert ledger.get_transfer("tr_1") is not None
    assert ledger.get_transfer("tr_2") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"amount": 1.5}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": 2**63}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"flags": ["urgent"]}, "flags"),
        ({"colour": "red"}, "colour"),
    ],
    ids=["float_amount", "zero_amount", "oversized_amount", "currency", "flag", "unknown_field"],
)
def test_transfers_create_from_an_invalid_file_exits_2_and_writes_nothing(
    paycore: Any,
    ledger: Ledger,
    funded: Any,
    tmp_path: Path,
    content: dict[str, Any],
    message: str,
) -> None:
    valid = {"id": "tr_1", "debit_account_id": "acct_a", "credit_account_id": "acct_b",
             "amount": 10, "currency": "CNY"}  # fmt: skip
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps({"transfers": [valid, {**valid, "id": "tr_bad", **content}]}))

    result = paycore("transfers", "create", "--file", str(batch))

    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert_nothing_written(ledger, funded, "tr_1", "tr_bad")


@pytest.mark.parametrize(
    "content",
    ['{"transfers": [', '{"transfers": []}', "[]"],
    ids=["malformed_json", "empty_batch", "not_an_object"],
)
def test_transfers_create_from_an_unusable_file_exits_2_and_writes_nothing(
    paycore: Any, ledger: Ledger, funded: Any, tmp_path: Path, content: str
) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(content)

    result = paycore("transfers", "create", "--file", str(batch))

    assert result.exit_code == 2, result.output
    assert "error" in result.stderr
    assert_nothing_written(ledger, funded)


def test_transfers_create_from_a_missing_file_exits_2_with_file_unreadable(
    paycore: Any, ledger: Ledger, funded: Any, tmp_path: Path
) -> None:
    result = paycore("transfers", "create", "--file", str(tmp_path / "nowhere.json"))

    assert result.exit_code == 2
    assert "file_unreadable" in result.stderr
    assert_nothing_written(ledger, funded)


# -- ledger and database -------------------------------------------------------------------


def test_ledger_check_exits_0_and_prints_the_totals(paycore: Any, funded: Any) -> None:
    result = paycore("ledger", "check")

    assert result.exit_code == 0, result.output
    assert "accounts checked: 2" in result.stdout
    assert "ledger balances" in result.stdout
    assert "CNY" in result.stdout


def test_ledger_check_on_an_empty_ledger_exits_0(paycore: Any) -> None:
    result = paycore("ledger", "check")

    assert result.exit_code == 0, result.output
    assert "accounts checked: 0" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["accounts", "create", "--currency", "CNY", "--id", "acct_new"],
        ["accounts", "show", "acct_a"],
        ["accounts", "show", "acct_missing"],
        transfer_args("tr_1", "--amount", "5"),
        ["ledger", "check"],
    ],
    ids=["accounts_create", "accounts_show", "accounts_show_missing", "transfers_create", "check"],
)
def test_every_command_closes_its_database_connections_before_it_returns(
    paycore: Any, cli_engines: list[Engine], funded: Any, args: list[str]
) -> None:
    result = paycore(*args)

    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert len(cli_engines) == 1
    assert cli_engines[0].pool.checkedout() == 0
    assert cli_engines[0].pool.checkedin() == 0, "open_ledger never disposes its engine"


@pytest.mark.skipif(ON_POSTGRES, reason="creates its own SQLite file")
def test_db_upgrade_creates_the_schema_in_a_fresh_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "paycore.db"
    url = f"sqlite:///{path}"
    runner = CliRunner()

    first = runner.invoke(app, ["db", "upgrade"], env={"PAYCORE_DATABASE_URL": url})
    again = runner.invoke(app, ["db", "upgrade"], env={"PAYCORE_DATABASE_URL": url})

    assert first.exit_code == 0, first.output
    assert again.exit_code == 0, again.output
    assert path.exists()
    engine = make_engine(url)
    try:
        expected = {table.name for table in metadata.sorted_tables}
        assert expected <= set(inspect(engine).get_table_names())
        ledger = Ledger(engine)
        try:
            _, created = ledger.create_account(AccountRequest(currency="CNY", id="acct_a"))
            assert created
            assert ledger.check().ok
        finally:
            ledger.close()
    finally:
        engine.dispose()


def test_accounts_history_lists_each_entry_with_the_balances_after_it(
    paycore: Any, funded: tuple[tuple[int, int, int, int], ...]
) -> None:
    result = paycore("accounts", "history", "acct_b", "--oldest-first")

    assert result.exit_code == 0, result.output
    assert "tr_seed" in result.output and "posted" in result.output and "1000" in result.output


def test_accounts_status_freezes_an_account_and_a_transfer_from_it_is_then_refused(
    paycore: Any, funded: tuple[tuple[int, int, int, int], ...], ledger: Ledger
) -> None:
    frozen = paycore("accounts", "status", "acct_a", "frozen")
    refused = paycore(
        "transfers", "create", "--id", "tr_after", "--debit", "acct_a", "--credit", "acct_b",
        "--amount", "5", "--currency", "CNY",
    )  # fmt: skip

    assert frozen.exit_code == 0 and "frozen" in frozen.output
    assert refused.exit_code == 1 and "account_frozen" in refused.output
    assert balances(ledger) == funded


def test_ledger_expire_releases_holds_whose_timeout_has_run_out(
    paycore: Any, funded: tuple[tuple[int, int, int, int], ...], ledger: Ledger
) -> None:
    [hold] = ledger.create_transfers(
        [TransferRequest(id="tr_hold", debit_account_id="acct_a", credit_account_id="acct_b",
                         amount=300, currency="CNY", flags=2, timeout_s=1)]
    )  # fmt: skip
    # The test ledger's clock stands at 2026-01-01; the CLI's is the real one, long after.
    assert hold.result == "created"
    assert ledger.get_transfer("tr_hold").status == "pending"  # type: ignore[union-attr]

    result = paycore("ledger", "expire")

    assert result.exit_code == 0, result.output
    transfer = ledger.get_transfer("tr_hold")
    assert transfer is not None and transfer.status == "pending_expired"
    assert balances(ledger) == funded


def test_accounts_list_shows_an_owners_accounts_only(paycore: Any, ledger: Ledger) -> None:
    ledger.create_accounts(
        [
            AccountRequest(currency="CNY", id="acct_x1", owner_id="merchant_1"),
            AccountRequest(currency="CNY", id="acct_x2", owner_id="merchant_1"),
            AccountRequest(currency="CNY", id="acct_y1", owner_id="merchant_2"),
        ]
    )

    result = paycore("accounts", "list", "--owner", "merchant_1")

    assert result.exit_code == 0, result.output
    assert "acct_x1" in result.output and "acct_x2" in result.output
    assert "acct_y1" not in result.output


def test_accounts_show_at_an_instant_shows_the_balances_of_that_instant(
    paycore: Any, funded: tuple[tuple[int, int, int, int], ...]
) -> None:
    # The seed transfer was posted at the test clock's start, 2026-01-01T00:00:00Z.
    before = paycore("accounts", "show", "acct_b", "--at", "2025-12-31T23:59:59")
    after = paycore("accounts", "show", "acct_b", "--at", "2026-01-01T00:00:01")

    assert before.exit_code == 0 and after.exit_code == 0, before.output + after.output
    assert "credits_posted  │ 0 " in before.output
    assert "credits_posted  │ 1000 " in after.output
