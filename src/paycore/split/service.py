"""Split settlement (分账) use cases."""

from __future__ import annotations

from sqlalchemy import Engine

from paycore.clock import Clock
from paycore.ledger.service import Ledger
from paycore.payments.service import Payments
from paycore.platform.config import Settings
from paycore.security.crypto import FieldCipher
from paycore.wallets.service import Wallets


class Splits:
    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        payments: Payments,
        wallets: Wallets,
        cipher: FieldCipher,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self._payments = payments
        self._wallets = wallets
        self._cipher = cipher

    def tick(self) -> None:
        """Periodic work, called by the runtime's flows worker every few seconds."""
