"""Named maximums, checked on input. Every batch, page and payload has one."""

from __future__ import annotations

AMOUNT_MAX = 2**63 - 1
"""Amounts and balances are signed 64-bit integers in the database."""

TRANSFER_BATCH_MAX = 8190
"""Transfers in one create_transfers call, as in TigerBeetle's batch size."""

ACCOUNT_BATCH_MAX = 8190
METADATA_BYTES_MAX = 4096
"""Serialized JSON size of an account's or transfer's metadata."""

ID_LENGTH_MAX = 64
CODE_MAX = 2**31 - 1
"""Chart-of-accounts codes and transfer reason codes fit a signed 32-bit column."""

TRANSFER_TIMEOUT_S_MAX = 366 * 24 * 3600
"""A hold older than a year is a forgotten hold, not a payment."""

ACCOUNTS_PAGE_MAX = 1000
ACCOUNTS_PAGE_DEFAULT = 100
ENTRIES_PAGE_MAX = 1000
ENTRIES_PAGE_DEFAULT = 100
EXPIRE_SWEEP_MAX = 8190
"""Pending transfers expired by one sweep of the expiry worker."""

PAYMENT_AMOUNT_MAX = 100_000_000_000
"""One pay-in, payout or refund: 1 billion in a two-decimal currency. Larger is a wire."""

PAYIN_EXPIRY_S_DEFAULT = 30 * 60
PAYIN_EXPIRY_S_MIN = 60
PAYIN_EXPIRY_S_MAX = 7 * 24 * 3600
DESCRIPTION_LENGTH_MAX = 256
ORDERS_PAGE_MAX = 200
ORDERS_PAGE_DEFAULT = 50
JANITOR_BATCH_MAX = 500
"""Unresolved orders one janitor sweep queries back."""
IDEMPOTENCY_KEY_LENGTH_MAX = 128
CHANNEL_NAME_LENGTH_MAX = 24
