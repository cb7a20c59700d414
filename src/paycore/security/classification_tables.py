"""The columns of every table paycore declares, each with its JR/T 0171-2020 class and how
it is kept at rest; `classification.py` (the registry) reads this and says what the classes
and protections mean. Plain data: strings only, so the registry can import it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Spec:
    """Columns before they know their table: a few names sharing a class, or one
    personal column with its protection (the values of `Level` and `AtRest`)."""

    names: tuple[str, ...]
    level: str
    at_rest: str = "clear"
    holds: str = ""
    written_by: str = ""


def _plain(level: str, names: str) -> Spec:
    return Spec(tuple(names.split()), level)


def _one(level: str, name: str, at_rest: str, holds: str, written_by: str = "") -> Spec:
    return Spec((name,), level, at_rest, holds, written_by)


C3, C2, C1, NP = "C3", "C2", "C1", "not_personal"
ENC, MASK, BLIND, HASH, CLEAR = "encrypted", "masked", "blind_indexed", "hashed", "clear"

_CARD_ENC = "the tenant's card number, FieldCipher token, context <plan>:card"
_PAYER_ENC = "JSON {account_number, name} of a statement payer, FieldCipher token"
_VIRTUAL_ACCOUNT_ENC = "the number payers transfer to (a buyer's account), FieldCipher token"
_VIRTUAL_ACCOUNT_HMAC = "<key id>:HMAC-SHA256 of the virtual account number (blind key)"
_REQUEST_HASH = "keyed BLAKE2b of the create request, which holds the card/account number"
_RESPONSE_ENC = (
    "FieldCipher token (context idempotency:<merchant id>:<key>) of the order as answered:"
    " party masked, description and metadata as saved"
)
_WEBHOOK_SECRET_ENC = "the merchant's webhook signing secret, FieldCipher token (never in clear)"
_PAYLOAD_ENC = (
    "FieldCipher token (context notification-event:<event id>) of the webhook body: the"
    " order view (party masked, description and metadata as saved)"
)
_PARTY_ENC = (
    "JSON of FieldCipher tokens (context <order id>:<field>): the payer's card_number, name,"
    " id_number, phone; the payee's account_number, name"
)
_ACCOUNT_ENC = "the virtual account a payer credited (if the file names it), FieldCipher token"
_COUNTERPARTY_ENC = "JSON {account_number, name} of the line's payer, FieldCipher token"
_NOTE_ENC = "text the merchant typed for one recipient's reward, FieldCipher token"
_TOKEN = "<key id>:HMAC-SHA256 of a card, ID, phone or account number (blind index key)"
_SUBJECT = "the data subject: the blind-index token of the payer's strongest number"
_REASON = (
    "why a person revealed a payer's data, as typed (numbers masked; may name the payer):"
    " in clear only in records before 0031, NULL since. Never emptied nor dropped: the log"
    " is append-only and those records' hashes cover it (see security/README.md)"
)
_REASON_ENC = (
    "the reason of records since 0031, FieldCipher token, context audit-reason:<seq>; the"
    " hash chain covers the token (verified without a key)"
)
_WARNINGS = "what the parser noticed (may quote a value), card/ID/phone numbers masked"
_ORDER_DETAILS_ENC = (
    "FieldCipher token (context order-details:<order id>) of the JSON {description, metadata}"
    " the merchant typed (card, ID, phone numbers masked before; a name may remain)"
)

TABLE_SPECS: dict[str, tuple[Spec, ...]] = {
    "api_keys": (
        _plain(C1, "id merchant_id scopes label created_at revoked_at last_used_at"),
        _one(C3, "secret_hash", HASH, "SHA-256 hex of the key's 32 random bytes; never the secret"),
    ),
    "bills_account_days": (
        _plain(C1, "account_id day category product channel amount_in amount_out count"),
    ),
    "bills_closed_days": (_plain(NP, "day closed_at entries last_seq"),),
    "bills_day_balances": (
        _plain(
            C1,
            "account_id day debits_pending debits_posted credits_pending credits_posted last_seq",
        ),
    ),
    "bills_export_jobs": (
        _plain(
            C1,
            "id merchant_id request_key request_hash what format filters status rows_total"
            " rows_done attempts lease_id leased_until file_name file_bytes error created_at"
            " started_at finished_at",
        ),
    ),
    "bills_statements": (_plain(C1, "merchant_id month lines hash previous_hash sealed_at"),),
    "channel_callbacks": (_plain(C1, "channel notification_id reference status received_at"),),
    "collection_attempts": (
        _plain(
            C1,
            "id plan_id period_no attempt_no method status payin_id failure_code settle_tries"
            " started_at lease_until finished_at",
        ),
    ),
    "collection_periods": (
        _plain(C1, "plan_id period_no due_date status attempts_made next_attempt_at updated_at"),
    ),
    "collection_plans": (
        _plain(
            C1,
            "id merchant_id reference tenant landlord amount currency fee_bps fee_fixed"
            " fee_amount due_day start_month periods method product max_attempts"
            " retry_interval_s status next_period_no next_due_at created_at updated_at",
        ),
        _one(C2, "card_enc", ENC, _CARD_ENC),
        _one(C2, "card_masked", MASK, "the tenant's card number masked 6+4"),
    ),
    "custody_checks": (
        _plain(NP, "id bank business_date subaccounts_total pool_balance bank_balance checked_at"),
    ),
    "custody_cutoff_lines": (
        _plain(
            C1,
            "receipt_id bank business_date owner amount currency received_at reason refund_id"
            " outcome",
        ),
    ),
    "custody_cutoff_runs": (
        _plain(C1, "bank business_date status started_at finished_at refunds report_path"),
    ),
    "custody_deals": (
        _plain(
            C1,
            "id merchant_id bank buyer seller agency deposit_amount currency funded_amount"
            " status close_attempt closing commission rest_to created_at closed_at",
        ),
    ),
    "custody_receipts": (
        _plain(
            C1,
            "id bank merchant_id owner amount currency received_at business_date status"
            " deal_id cutoff_step move_attempt refund_id error updated_at origin"
            " source_account refund_attempt",
        ),
        _one(C2, "payer_enc", ENC, _PAYER_ENC),
    ),
    "custody_subaccounts": (
        _plain(C1, "bank merchant_id owner role account_id currency created_at"),
        _one(C2, "virtual_account_enc", ENC, _VIRTUAL_ACCOUNT_ENC),
        _one(C2, "virtual_account_hmac", BLIND, _VIRTUAL_ACCOUNT_HMAC),
    ),
    "custody_sweeps": (_plain(NP, "name swept_until"),),
    "finance_days": (
        _plain(
            NP,
            "business_date vouchers derived_at last_seq recon_status recon_at recon_breaks",
        ),
    ),
    "finance_voucher_lines": (
        _plain(NP, "voucher_id line_no gl_account ledger_code debit_minor credit_minor"),
    ),
    "finance_vouchers": (
        _plain(
            NP,
            "id business_date currency voucher_type summary debit_total_minor"
            " credit_total_minor transfer_count body_hash created_at push_status"
            " push_attempts next_push_at lease_id leased_until pushed_at receiver_ref"
            " last_error",
        ),
    ),
    # warehouse/store.py (issue 16): the export's own bookkeeping, no personal value
    "warehouse_watermarks": (
        _plain(NP, "table_name position_seq position_at schema_version updated_at"),
    ),
    "warehouse_runs": (
        _plain(
            NP,
            "id table_name status from_seq to_seq from_at to_at rows files started_at finished_at",
        ),
    ),
    "idempotency_keys": (
        _plain(C1, "merchant_id key object_id status_code created_at"),
        _one(C2, "request_hash", HASH, _REQUEST_HASH),
        _one(C2, "response_enc", ENC, _RESPONSE_ENC),
    ),
    "ledger_accounts": (
        _plain(
            C1,
            "id currency code owner_id origin flags status metadata created_at"
            " debits_pending debits_posted credits_pending credits_posted",
        ),
    ),
    "ledger_check_runs": (
        _plain(NP, "id started_at finished_at ok accounts_checked problems totals trigger"),
    ),
    "ledger_entries": (
        _plain(
            C1,
            "seq account_id transfer_id event side amount debits_pending debits_posted"
            " credits_pending credits_posted created_at",
        ),
    ),
    "ledger_transfer_failures": (_plain(C1, "id result failed_at"),),
    "ledger_transfers": (
        _plain(
            C1,
            "id debit_account_id credit_account_id amount currency flags pending_id"
            " timeout_s code metadata created_at expires_at status",
        ),
    ),
    "merchants": (
        _plain(C1, "id name status fee_bps webhook_url created_at"),
        _one(C3, "webhook_secret_enc", ENC, _WEBHOOK_SECRET_ENC),
    ),
    "notification_attempts": (
        _plain(C1, "id event_id attempted_at url status_code error duration_ms"),
    ),
    "notification_deliveries": (
        _plain(
            C1,
            "event_id merchant_id status attempts next_attempt_at leased_until"
            " last_status_code last_error delivered_at",
        ),
    ),
    "notification_events": (
        _plain(C1, "id merchant_id type object_id created_at"),
        _one(C2, "payload_enc", ENC, _PAYLOAD_ENC),
    ),
    "ops_alerts": (
        _plain(
            NP,
            "id slo severity window burn_rate_long_ppm burn_rate_short_ppm firing started_at"
            " ended_at evaluated_at",
        ),
    ),
    "ops_heartbeats": (
        _plain(NP, "node worker pid beat_at interval_ms started_at restarts last_error"),
    ),
    "ops_incident_events": (_plain(C1, "id incident_id at kind text"),),
    "ops_incidents": (
        _plain(
            C1,
            "id key kind source severity status summary opened_at last_fired_at cleared_at"
            " closed_at impact auto_grade grade cause handling review_notes reviewed_at"
            " reviewed_by",
        ),
    ),
    "ops_probes": (_plain(NP, "id target node ok latency_ms error probed_at"),),
    "ops_sli_minutes": (_plain(NP, "sli node minute_at good total"),),
    "payment_attempts": (
        _plain(
            C1,
            "id order_id kind merchant_id product channel business_date status failure_class"
            " failure_code started_at finished_at latency_ms",
        ),
    ),
    "payment_orders": (
        _plain(
            C1,
            "id kind merchant_id merchant_reference product amount currency fee_amount status"
            " result_unknown channel channel_txn_id failure_class failure_code"
            " failure_message parent_id refunded_amount expires_at created_at updated_at"
            " finished_at next_query_at query_attempts version",
        ),
        _one(C2, "party_enc", ENC, _PARTY_ENC),
        _one(C2, "party_masked", MASK, "the same fields masked (card 6+4, name, ID 1+1, ...)"),
        _one(C2, "details_enc", ENC, _ORDER_DETAILS_ENC, "payments/details.py:seal_order_details"),
    ),
    "recon_break_events": (
        _plain(C1, "id break_id actor from_status to_status note transfer_id at"),
    ),
    "recon_breaks": (
        _plain(
            C1,
            "id dedup_key type status source business_date import_id line_no order_id"
            " currency line_amount order_amount line_status order_status line_fee order_fee"
            " direction run_id suspense_transfer_id adjustment_transfer_id"
            " adjustment_attempts note detail created_at updated_at",
        ),
    ),
    "recon_h2h_files": (_plain(C1, "msg_id channel created_at execution_date tx_count sha256"),),
    "recon_h2h_payouts": (
        _plain(
            C1,
            "order_id channel amount currency msg_id status bank_status failure_code"
            " failure_class bank_reference report_msg_id created_at updated_at",
        ),
    ),
    "recon_h2h_reports": (_plain(C1, "sha256 msg_id original_msg_id applied_at outcome"),),
    "recon_imports": (
        _plain(
            C1,
            "id file_sha256 format source statement_id line_count repeated_lines credits"
            " debits period_start period_end imported_at warning_count",
        ),
        _one(C2, "warnings", MASK, _WARNINGS),
    ),
    "recon_lines": (
        _plain(
            C1,
            "import_id line_no source business_date source_ref kind direction amount"
            " currency fee status channel_txn_id reference booked_at duplicate order_id"
            " matched_by bank_kind counter_amount counter_currency",
        ),
        _one(C2, "account_enc", ENC, _ACCOUNT_ENC),
        _one(C2, "counterparty_enc", ENC, _COUNTERPARTY_ENC),
    ),
    "recon_runs": (
        _plain(
            NP,
            "id source business_date lines matched waiting breaks_new auto_resolved"
            " queried_back judged_through started_at finished_at",
        ),
    ),
    "recon_statements": (
        _plain(
            C1,
            "import_id seq source statement_id account currency business_date opening"
            " closing credits debits",
        ),
    ),
    "rewards_batches": (
        _plain(
            C1,
            "merchant_id batch_id budget_id currency file_sha256 row_count runs created_at"
            " updated_at",
        ),
    ),
    "rewards_budgets": (
        _plain(
            C1,
            "merchant_id budget_id name currency account_id row_amount_max"
            " recipient_total_max version created_at",
        ),
    ),
    "rewards_rows": (
        _plain(
            C1,
            "merchant_id batch_id position budget_id row_number recipient amount amount_text"
            " status reason retryable attempt transfer_id updated_at",
        ),
        _one(C2, "note_enc", ENC, _NOTE_ENC),
    ),
    "split_refunds": (
        _plain(
            C1,
            "id split_id merchant_id amount request claws status failure_code"
            " refund_order_id created_at updated_at refund_attempt",
        ),
    ),
    "split_rules": (
        _plain(
            C1,
            "id merchant_id product currency mode freeze_s receivers commission_bps"
            " commission_amount active created_at",
        ),
    ),
    "split_splits": (
        _plain(
            C1,
            "id merchant_id payin_id rule_id product currency mode freeze_s payin_amount"
            " base legs status failure_code refunded seq pending_op op_pending expires_at"
            " created_at updated_at version",
        ),
    ),
    # security/store_blind.py (issue 15, the blind index)
    "security_blind_index": (
        _plain(C1, "kind object_type object_id merchant_id created_at"),
        _one(C2, "token", BLIND, _TOKEN),
    ),
    "security_blind_backfill": (_plain(C1, "source key_id after_key rows_done updated_at"),),
    # security/store_keys.py (issue 15, envelope encryption)
    "security_data_keys": (
        _plain(C1, "id kek_id created_at retired_at destroyed_at"),
        _one(C3, "wrapped", ENC, "a data key wrapped by the key-encryption key, base64"),
    ),
    "security_subject_keys": (
        # The salt is no key: a subject key is HKDF(the wrapped DEK, salt).
        _plain(C1, "id salt created_at shredded_at"),
        _one(C2, "subject", BLIND, _SUBJECT, "security/store_keys.py:insert_subject_key"),
    ),
    "security_reencrypt_progress": (
        _plain(
            C1, "data_key_id column_name after_key rows_done values_moved finished_at updated_at"
        ),
    ),
    # security/store_audit.py (issue 15, who saw what)
    "audit_log": (
        _plain(
            C1,
            "seq at actor_key_id merchant_id action object_type object_id fields request_id"
            " prev_hash hash",
        ),
        _plain(C1, "format"),  # the record format: NULL (1) clear reason, 2 sealed
        _one(C2, "reason", "frozen", _REASON, "security/store_audit.py:append (before 0031)"),
        _one(C2, "reason_enc", ENC, _REASON_ENC),
    ),
    "audit_chain_head": (_plain(C1, "id seq hash"),),
    # aml/store_cases.py (issue 16, AML cases); subject_id: a merchant id, a ledger owner
    # (pseudonym) or a payer's blind-index token; reasons: rule words and transaction ids
    "aml_cases": (
        _plain(
            C1,
            "id subject_type subject_id score typologies reasons status opened_at updated_at"
            " assignee version previous_case_id",
        ),
    ),
    "aml_case_events": (
        _plain(C1, "case_id seq at actor action from_status to_status details"),
        _one(
            C2,
            "note_enc",
            ENC,
            "an analyst's note (may name people), FieldCipher token, context"
            " aml-case-note:<case id>:<seq>",
        ),
    ),
    "aml_alerts": (
        _plain(C1, "subject_type subject_id period score typologies outcome case_id recorded_at"),
    ),
    "aml_str_drafts": (
        _plain(C1, "case_id draft_no created_at actor"),
        _one(
            C2,
            "document_enc",
            ENC,
            "a suspicious-transaction report draft (JSON; the analyst's conclusion may name"
            " people), FieldCipher token, context aml-str:<case id>:<draft no>",
        ),
    ),
}

PSEUDONYMS = frozenset(
    {
        "collection_plans.tenant",
        "collection_plans.landlord",
        "custody_cutoff_lines.owner",
        "custody_deals.buyer",
        "custody_deals.seller",
        "custody_deals.agency",
        "custody_receipts.owner",
        "custody_subaccounts.owner",
        "ledger_accounts.owner_id",
        "rewards_rows.recipient",
        "aml_cases.subject_id",
        "aml_alerts.subject_id",
    }
)
"""C1 columns holding a merchant's reference for a user: C1 because they name nobody, but
a merchant may choose a phone number as its reference (1-32 letters, digits, `_.-`); the
blind index and the leak guard are what notice that, not this registry."""
