"""Every kind of file paycore writes (or keeps), its fields, their JR/T 0171-2020 class and
how they are protected at rest today. Pure data; the classes are those of
`classification.py`, whose docstring says what each means.

Found by reading every writer in src/paycore (open(..., "w"), csv.writer, xlsxwriter,
write_text, write_bytes, os.replace of a received file). Field names are those the writer
uses (its column constant, or the dataclass it renders), so the test can hold them to the
code. Files only a person asked for on the command line (`--out`, `--result`) are written
where that person said, in clear: paycore does not keep them, but it wrote them.

Not declared: recon/camt_writer.py:write_camt053 and recon/wechat.py:write_wechat_bill,
which write synthetic statements for tests, the bench and the demo only, never a real
payer's data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from paycore.security.classification import (
    AtRest,
    Field,
    FileKind,
    Level,
)
from paycore.security.classification_warehouse import WAREHOUSE_KINDS

C3, C2, C1, NP = Level.C3, Level.C2, Level.C1, Level.NOT_PERSONAL
MASK, CLEAR, SEALED = AtRest.MASKED, AtRest.CLEAR, AtRest.ENCRYPTED

_Entry = tuple[str, Level, AtRest, str]  # name, class, at rest, what it holds


def _kind(name: str, path: str, written_by: str, fields: list[_Entry], note: str = "") -> FileKind:
    return FileKind(
        name=name,
        path=path,
        written_by=written_by,
        fields=tuple(
            Field(name, field, level, at_rest, holds, written_by, in_file=True)
            for field, level, at_rest, holds in fields
        ),
        note=note,
    )


def _plain(level: Level, names: str) -> list[_Entry]:
    return [(name, level, CLEAR, "") for name in names.split()]


_ORDER_COLUMNS = "id kind created_at bill_date merchant_reference product channel status"
_ORDER_MONEY = "currency amount_minor fee_minor refunded_minor parent_id finished_at"
_ORDER_TEXT = "text the merchant typed about the order: may name the payer"
_STATEMENT = "Txn Date,Bank Txn No,Merchant Ref,Type,Amount,Fee,Currency,Status,Finished At"
_SUMMARY = (
    "Total Count,Currency,Payin Amount,Refund Amount,Payout Amount,Return Amount,"
    "Credit Amount,Fee Amount,Net Amount"
)
_EXPORTS = "<data dir>/exports/<job>.csv|xlsx; or streamed over HTTP; or --out (CLI)"
_EXPORT_WRITER = "bills/exports.py:write_file (jobs: bills/export_jobs.py)"

FILE_KINDS: tuple[FileKind, ...] = (
    _kind(
        "bills_export_orders",
        _EXPORTS,
        _EXPORT_WRITER,
        [
            *_plain(C1, _ORDER_COLUMNS),
            *_plain(C1, _ORDER_MONEY),
            ("counterparty", C2, MASK, "the payer's or payee's name, masked"),
            ("description", C2, SEALED, _ORDER_TEXT),
        ],
        "kept sealed (security/files.py) under the data dir, purged after 7 days",
    ),
    _kind(
        "bills_export_transfers",
        _EXPORTS,
        _EXPORT_WRITER,
        _plain(
            C1,
            "id created_at bill_date account_id direction counterparty category currency"
            " amount_minor code status pending_id order_id",
        ),
        "counterparty is a ledger account id",
    ),
    _kind(
        "bills_export_lines",
        _EXPORTS,
        _EXPORT_WRITER,
        _plain(
            C1,
            "account_id line product channel currency amount_minor amount_in_minor"
            " amount_out_minor count",
        ),
    ),
    _kind(
        "bill_page",
        "--out of `paycore bills page`; the demo's bill under the data dir",
        "bills/cli_page.py:render; demo/bill.py:_write",
        _plain(C1, "document"),
        "a merchant's month: totals per product and owner reference, no payer data",
    ),
    _kind(
        "channel_statement",
        "<data dir>/recon/<channel>/<day>.statement (the sandbox bank's CSV statement)",
        "recon/daily.py:DailyClose.close_day; demo/reconciliation.py:_fetch_today",
        [
            *[(name, C1, CLEAR, "") for name in _STATEMENT.split(",")],
            ("Account", C2, SEALED, "the virtual account credited: one buyer's account"),
            ("Counterparty Account", C2, SEALED, "the payer's bank account number"),
            ("Counterparty Name", C2, SEALED, "the payer's name"),
            *[(f"Summary/{name}", NP, CLEAR, "") for name in _SUMMARY.split(",")],
        ],
        "rendered by sandbox_bank/statement.py:render_statement; kept sealed as"
        " <day>.statement.enc (security/files.py), purged after 180 days",
    ),
    _kind(
        "h2h_inbound_statement",
        "<h2h files dir>/inbound/processed|rejected/<name> (camt.053/054 from the bank)",
        "recon/inbox.py:_move",
        [
            *_plain(C1, "Stmt/Acct/Id Ntry/Amt Ntry/BookgDt Ntry/NtryRef Refs/EndToEndId"),
            ("RltdPties/Dbtr/Nm", C2, SEALED, "the payer's name"),
            ("RltdPties/DbtrAcct/Id", C2, SEALED, "the payer's account number"),
            ("RltdPties/Cdtr/Nm", C2, SEALED, "the payee's name"),
            ("RltdPties/CdtrAcct/Id", C2, SEALED, "the payee's account number"),
        ],
        "received from the bank, kept sealed as <name>.enc, purged after 180 days",
    ),
    _kind(
        "h2h_rejected_note",
        "<h2h files dir>/inbound/rejected/<name>.error.txt",
        "recon/inbox.py:_move",
        _plain(C1, "code detail"),
    ),
    _kind(
        "h2h_pain001",
        "<h2h files dir>/<msg id>.pain.001.xml.enc (a payout batch for the bank)",
        "recon/h2h_service.py:H2hFiles._write (sealed by recon/h2h_outbound.py:keep)",
        [
            *_plain(C1, "msg_id created_at execution_date debtor_name debtor_account"),
            *_plain(C1, "debtor_agent_bic end_to_end_id amount_minor currency"),
            ("creditor_name", C2, SEALED, "the payee's name, decrypted for the file"),
            ("creditor_account", C2, SEALED, "the payee's account number, decrypted"),
            ("creditor_agent_bic", C1, CLEAR, ""),
        ],
        "validated in memory, then sealed (security/files.py); opened only on a hand-over"
        " (HTTP with pii:reveal, a reason and an audit record; CLI --out with a reason);"
        " the bank reads the handed-over copy (host-to-host links protect it in transit:"
        " SFTP/PGP, not built); purged after 7 days, as are clear files of before",
    ),
    _kind(
        "rewards_result",
        "--result of `paycore rewards pay`; GET /v1/reward-batches/{id}/result.csv",
        "rewards/cli.py:pay (rows from rewards/results.py:BatchResults.result_csv)",
        _plain(C1, "row recipient amount status reason transfer_id"),
        "written where the operator asks; paycore does not keep it. No note (C2): the"
        " merchant has it in their own input file, which `row` joins to this one",
    ),
    _kind(
        "custody_cutoff_report",
        "<report dir>/cutoff_<bank>_<date>.csv",
        "custody/report_file.py:write_report",
        _plain(C1, "receipt payer amount_minor currency received_at reason refund_id outcome"),
        "payer is the owner reference (a pseudonym), not the payer's account",
    ),
    _kind(
        "finance_voucher_push",
        "the body pushed to the finance system (HTTP, signed)",
        "finance/push.py:document_of",
        _plain(
            NP,
            "id business_date voucher_type currency summary debit_total_minor"
            " credit_total_minor transfer_count lines body_hash",
        ),
        "day totals per general-ledger account: no person",
    ),
    _kind(
        "dr_backup",
        "--to DIR of `paycore dr backup`: the database copy and paycore-backup.json",
        "dr/service.py:DisasterRecovery.backup",
        [
            ("database", C2, SEALED, "every table as stored, tokens and clear columns alike"),
            *_plain(
                NP,
                "version kind source_url created_at point fingerprint files base_lsn took_s"
                " encrypted sealed",
            ),
        ],
        "sealed by default on both databases (dr/sealing.py): SQLite's copy as paycore.db.enc,"
        " every file of PostgreSQL's base backup and WAL as <name>.enc, a data key each;"
        " only paycore-backup.json is clear. --no-encrypt makes a clear backup on purpose"
        " (the manifest's `encrypted` says so)",
    ),
    _kind(
        "trial_balance_csv",
        "--csv of `paycore ledger trial-balance`",
        "ledger/cli.py (rows from chart.py:to_csv)",
        _plain(
            NP,
            "currency code name accounts debits_posted credits_posted debit_balance"
            " credit_balance debits_pending credits_pending",
        ),
    ),
    _kind(
        "ops_documents",
        "--out of `paycore ops report`; the alert rules file",
        "ops/cli_report.py:weekly; ops/rules.py:write_rules",
        _plain(NP, "weekly_report alert_rules"),
    ),
    _kind(
        "field_keys_file",
        "<data dir>/keys/field-keys.json (mode 0600; only when PAYCORE_FIELD_KEYS is unset)",
        "security/crypto.py:_development_keys (security/keyfiles.py:write_private_json)",
        [
            ("active", C1, CLEAR, ""),
            ("keys", C3, CLEAR, "the AES-256 field keys themselves, base64, unwrapped"),
        ],
        "DEFECT: C3 in clear (development fallback; envelope encryption replaces it)",
    ),
    _kind(
        "blind_index_key_file",
        "<data dir>/keys/blind-index-key.json (mode 0600; when no key is configured)",
        "security/blind.py:_development_keys (security/keyfiles.py:write_private_json)",
        [("keys", C3, CLEAR, "the HMAC keys of the blind index, unwrapped")],
        "DEFECT: C3 in clear (development fallback)",
    ),
    _kind(
        "sandbox_bank_keys",
        "<sandbox bank data dir>/ bank and merchant key pairs, PEM (private: mode 0600)",
        "sandbox_bank/keys.py:prepare_data_dir (channels/signing.py:save_private_key)",
        [
            ("private_key", C3, CLEAR, "Ed25519 signing keys, PKCS#8 PEM, unencrypted"),
            ("public_key", NP, CLEAR, ""),
        ],
        "DEFECT: C3 in clear (the sandbox's; a real bank key must live in an HSM)",
    ),
    _kind(
        "sandbox_finance_secret",
        "<sandbox finance data dir>/push_secret (mode 0600)",
        "sandbox_finance/keys.py:prepare_secret",
        [("secret", C3, CLEAR, "the HMAC secret pushes are signed with, hex")],
        "DEFECT: C3 in clear (the sandbox's)",
    ),
)

FILE_KINDS = (*FILE_KINDS, *WAREHOUSE_KINDS)  # security/classification_warehouse.py

KINDS: Mapping[str, FileKind] = {kind.name: kind for kind in FILE_KINDS}


def file_fields() -> Iterator[Field]:
    for kind in FILE_KINDS:
        yield from kind.fields
