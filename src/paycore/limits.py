"""Named maximums, checked on input. Every batch, page and payload has one."""

from __future__ import annotations

from datetime import date

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
INTEGER_COLUMN_MAX = 2**31 - 1
"""Serial ids and positions in INTEGER columns (recon breaks, reward rows): a path id or
cursor past it names nothing, and PostgreSQL would refuse to compare with it."""

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
JSON_DEPTH_MAX = 64
"""Nesting of any JSON document read from outside (bodies, callbacks, files). paycore's
own documents nest a few levels; metadata is free-form but bounded here and by size."""
PLATFORM_PAYMENT_TRIES_MAX = 3
"""Orders, in all, that paycore's own flows (the custody cut-off, refunds after split)
make for one refund or payout that keeps failing without reaching the bank (never
received, no channel up); after the last a person settles it (`needs_attention`)."""
PLATFORM_PAYMENT_RETRY_AFTER_S = 60
"""How long such a flow waits after a failed order before it makes the next one (a channel
that is down is given time to come back)."""
BUSINESS_DATE_MIN = date(2000, 1, 1)
BUSINESS_DATE_MAX = date(2099, 12, 31)
"""Every date or instant paycore accepts (business dates, months, query ranges, expiries)
lies in these years: outside them it is a typo, and near year 1 or 9999 the date
arithmetic of a slice (a day after, a month after, a time zone) would overflow. A
slice's own horizon (a plan's last period) must end inside them too."""
