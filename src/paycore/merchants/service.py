"""Merchants: create, read, suspend, and their webhook endpoint with its signing secret.

The secret is generated here, returned in clear once (at creation and at each rotation)
and stored only encrypted (FieldCipher, context `merchant:<id>:webhook_secret`). The
notifications slice reads it back through `webhook_endpoint`.
"""

from __future__ import annotations

import builtins

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from paycore.clock import Clock, SystemClock
from paycore.errors import Rejected
from paycore.ids import new_id
from paycore.merchants import store
from paycore.merchants.model import (
    MERCHANTS_PAGE_DEFAULT,
    MERCHANTS_PAGE_MAX,
    Merchant,
    MerchantStatus,
    WebhookEndpoint,
    check_webhook_url,
    new_webhook_secret,
    webhook_secret_context,
)
from paycore.platform.db import WRITER
from paycore.security.crypto import FieldCipher


class Merchants:
    """Thread-safe; one per process and database."""

    def __init__(self, engine: Engine, cipher: FieldCipher, clock: Clock | None = None) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITER)
        self.cipher = cipher
        self._clock = clock or SystemClock()

    def create(
        self,
        *,
        name: str,
        fee_bps: int = 0,
        webhook_url: str | None = None,
        merchant_id: str | None = None,
    ) -> tuple[Merchant, str]:
        """The new merchant and its webhook signing secret (`whsec_...`), shown only now.
        An id that is taken is `merchant_exists` (409)."""
        merchant = Merchant(
            id=merchant_id if merchant_id is not None else new_id("mch"),
            name=name,
            status=MerchantStatus.ACTIVE,
            fee_bps=fee_bps,
            webhook_url=webhook_url,
            created_at=self._clock.now(),
        )
        secret = new_webhook_secret()
        sealed = self.cipher.encrypt(secret, context=webhook_secret_context(merchant.id))
        try:
            with self._writer.begin() as conn:
                store.insert_merchant(conn, merchant, webhook_secret_enc=sealed)
        except IntegrityError:
            raise Rejected("merchant_exists", f"merchant {merchant.id} already exists") from None
        return merchant, secret

    def get(self, merchant_id: str) -> Merchant | None:
        with self._engine.connect() as conn:
            return store.get(conn, merchant_id)

    def set_status(self, merchant_id: str, status: MerchantStatus | str) -> Merchant:
        try:
            wanted = MerchantStatus(status)
        except ValueError:
            raise Rejected(
                "invalid_status", f"one of {[s.value for s in MerchantStatus]}"
            ) from None
        with self._writer.begin() as conn:
            if not store.set_status(conn, merchant_id, wanted):
                raise Rejected("merchant_not_found", f"no merchant {merchant_id}")
            merchant = store.get(conn, merchant_id)
        if merchant is None:  # pragma: no cover - updated above in the same transaction
            raise Rejected("merchant_not_found", f"no merchant {merchant_id}")
        return merchant

    def set_webhook(self, merchant_id: str, url: str | None) -> str:
        """Point the webhooks at `url` (None: no webhooks) and rotate the signing secret;
        returns the new secret, shown only now. The old secret stops working at once."""
        if url is not None:
            check_webhook_url(url)
        secret = new_webhook_secret()
        sealed = self.cipher.encrypt(secret, context=webhook_secret_context(merchant_id))
        with self._writer.begin() as conn:
            if not store.set_webhook(conn, merchant_id, url=url, secret_enc=sealed):
                raise Rejected("merchant_not_found", f"no merchant {merchant_id}")
        return secret

    def webhook_endpoint(self, merchant_id: str) -> WebhookEndpoint | None:
        """URL and clear signing secret, or None for an unknown merchant or one without a
        webhook URL."""
        with self._engine.connect() as conn:
            found = store.webhook(conn, merchant_id)
        if found is None:
            return None
        url, sealed = found
        if url is None:
            return None
        secret = self.cipher.decrypt(sealed, context=webhook_secret_context(merchant_id))
        return WebhookEndpoint(url=url, secret=secret)

    def list(
        self, *, limit: int = MERCHANTS_PAGE_DEFAULT, after: str | None = None
    ) -> builtins.list[Merchant]:
        """Merchants in id order, keyset-paged: pass the last id seen as `after`."""
        if not 1 <= limit <= MERCHANTS_PAGE_MAX:
            raise Rejected("limit_out_of_range", f"limit is 1..{MERCHANTS_PAGE_MAX}")
        with self._engine.connect() as conn:
            return store.page(conn, limit=limit, after=after)
