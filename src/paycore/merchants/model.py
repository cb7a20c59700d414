"""Merchants: who sells through paycore, what it pays in fees, where its webhooks go."""

from __future__ import annotations

import enum
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from paycore.errors import Rejected

FEE_BPS_MAX = 10_000
"""Basis points: 10,000 is the whole amount."""
NAME_LENGTH_MAX = 200
WEBHOOK_URL_LENGTH_MAX = 2048
MERCHANTS_PAGE_MAX = 1000
MERCHANTS_PAGE_DEFAULT = 100
WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_SECRET_BYTES = 32

_MERCHANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""No `:` or spaces: the id is part of encryption contexts and of paths."""


class MerchantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    """Keeps its data and keys; the payments slice refuses its new orders."""


@dataclass(frozen=True, slots=True)
class Merchant:
    id: str
    name: str
    status: MerchantStatus
    fee_bps: int
    webhook_url: str | None
    created_at: datetime

    def __post_init__(self) -> None:
        check_merchant_id(self.id)
        check_name(self.name)
        check_fee_bps(self.fee_bps)
        if self.webhook_url is not None:
            check_webhook_url(self.webhook_url)


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """Where and how to sign a merchant's notifications. The secret is in clear: keep it in
    memory only, never log it."""

    url: str
    secret: str

    def __repr__(self) -> str:
        return f"WebhookEndpoint(url={self.url!r}, secret='***')"


def check_merchant_id(merchant_id: str) -> None:
    if not _MERCHANT_ID.fullmatch(merchant_id):
        raise Rejected("invalid_merchant_id", "1 to 64 of A-Z a-z 0-9 _ -")


def check_name(name: str) -> None:
    if not name.strip():
        raise Rejected("name_must_not_be_empty", "a merchant needs a name")
    if len(name) > NAME_LENGTH_MAX:
        raise Rejected("name_too_long", f"at most {NAME_LENGTH_MAX} characters")


def check_fee_bps(fee_bps: int) -> None:
    if isinstance(fee_bps, bool) or not isinstance(fee_bps, int):
        raise Rejected("fee_bps_out_of_range", "fee_bps is an integer")
    if not 0 <= fee_bps <= FEE_BPS_MAX:
        raise Rejected("fee_bps_out_of_range", f"fee_bps is 0..{FEE_BPS_MAX}")


def check_webhook_url(url: str) -> None:
    """An absolute http(s) URL with a host. No credentials inside: the URL is stored and
    shown in clear (the signing secret is what authenticates paycore to the merchant)."""
    if len(url) > WEBHOOK_URL_LENGTH_MAX:
        raise Rejected("invalid_webhook_url", f"at most {WEBHOOK_URL_LENGTH_MAX} characters")
    if any(c.isspace() for c in url) or not url.isprintable():
        raise Rejected("invalid_webhook_url", "the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise Rejected("invalid_webhook_url", str(exc)) from None
    if parts.scheme not in ("http", "https") or not host:
        raise Rejected("invalid_webhook_url", "an absolute http:// or https:// URL is required")
    if parts.username is not None or parts.password is not None:
        raise Rejected("invalid_webhook_url", "credentials do not belong in the URL")
    if parts.fragment:
        raise Rejected("invalid_webhook_url", "a webhook URL has no #fragment")


def new_webhook_secret() -> str:
    return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(WEBHOOK_SECRET_BYTES)


def webhook_secret_context(merchant_id: str) -> str:
    """Associated data of the encrypted secret: it cannot be moved to another merchant."""
    return f"merchant:{merchant_id}:webhook_secret"
