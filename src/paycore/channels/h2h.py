"""A bank reached host-to-host (银企直连) through files: payouts only.

`pay_out` records the payout for the next pain.001 file and answers `processing`: the
bank decides later, in a pain.002 status report (`paycore.recon.pain`). Until then
`query` answers `processing`, so the janitor keeps the order and its hold as they are.
Everything is in the database, so a restart loses nothing. Pay-ins and refunds are
refused as `ChannelUnavailable` (certainly not processed: the router fails over).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from paycore.channels.model import (
    BadNotification,
    ChannelResult,
    ChannelStatus,
    ChannelUnavailable,
    FailureClass,
    Notification,
    Operation,
    PayinRequest,
    PayoutRequest,
    RefundRequest,
)
from paycore.clock import Clock, SystemClock
from paycore.errors import Rejected
from paycore.money import is_known_currency
from paycore.platform.db import WRITER, make_engine
from paycore.recon import h2h_store as store

log = logging.getLogger(__name__)

BIC_PATTERN = re.compile(r"[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?")
ACCOUNT_PATTERN = re.compile(r"[A-Za-z0-9]{4,34}")
SETTINGS_KEYS = frozenset({"debtor_name", "debtor_account", "debtor_agent_bic", "files_dir"})
NAME_LENGTH_MAX = 70  # pain.001 Nm is Max140Text; banks commonly take 70


@dataclass(frozen=True, slots=True)
class H2hSettings:
    """Who pays (our account at the bank) and where the files go."""

    debtor_name: str
    debtor_account: str  # an IBAN, or the bank's own account number
    files_dir: Path
    debtor_agent_bic: str = ""  # empty: the file names no BIC (a domestic bank)

    @classmethod
    def parse(cls, options: Mapping[str, str], *, default_dir: Path) -> H2hSettings:
        """From a channel's `"h2h": {...}` configuration; Rejected naming the bad key."""
        unknown = sorted(set(options) - SETTINGS_KEYS)
        if unknown:
            _bad("h2h", f"unknown key {', '.join(map(repr, unknown))}")
        name = options.get("debtor_name", "").strip()
        if not 1 <= len(name) <= NAME_LENGTH_MAX:
            _bad("h2h.debtor_name", f"1 to {NAME_LENGTH_MAX} characters")
        account = options.get("debtor_account", "")
        if not ACCOUNT_PATTERN.fullmatch(account):
            _bad("h2h.debtor_account", "4 to 34 letters or digits")
        bic = options.get("debtor_agent_bic", "")
        if bic and not BIC_PATTERN.fullmatch(bic):
            _bad("h2h.debtor_agent_bic", "a BIC of 8 or 11 characters")
        files_dir = Path(options.get("files_dir") or default_dir)
        return cls(name, account, files_dir, bic)


def _bad(where: str, detail: str) -> None:
    raise Rejected("invalid_channel_config", f"{where}: {detail}")


class H2hBankChannel:
    """The `Channel` of a file-based bank. Holds no state in memory but its settings."""

    def __init__(
        self,
        name: str,
        settings: H2hSettings,
        *,
        engine: Engine | None = None,
        database_url: str = "",
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self._engine = engine
        self._owned_engine: Engine | None = None
        self._database_url = database_url
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()

    def bind(self, *, engine: Engine, clock: Clock) -> None:
        """Share the process's engine and clock (the composition root calls this)."""
        self._engine = engine
        self._clock = clock

    @property
    def engine(self) -> Engine:
        if self._engine is not None:
            return self._engine
        with self._lock:  # built from configuration only when no engine was bound
            if self._owned_engine is None:
                if not self._database_url:
                    from paycore.platform.config import Settings

                    self._database_url = Settings.from_env().database_url
                self._owned_engine = make_engine(self._database_url, pool_size=2)
            return self._owned_engine

    # -- the Channel protocol -----------------------------------------------------------

    def pay_out(self, request: PayoutRequest) -> ChannelResult:
        if not is_known_currency(request.currency):
            return _declined("unsupported_currency", FailureClass.MERCHANT)
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.record_payout(
                conn,
                order_id=request.reference,
                channel=self.name,
                amount=request.amount_minor,
                currency=request.currency,
                now=self._clock.now(),
            )
        log.info("h2h %s: payout %s waits for the next file", self.name, request.reference)
        return ChannelResult(ChannelStatus.PROCESSING)

    def pay_in(self, request: PayinRequest) -> ChannelResult:
        raise ChannelUnavailable(self.name, "a host-to-host bank takes payouts only")

    def refund(self, request: RefundRequest) -> ChannelResult:
        raise ChannelUnavailable(self.name, "a host-to-host bank takes payouts only")

    def query(self, operation: Operation, reference: str) -> ChannelResult:
        """What the bank's status reports said; `processing` until one decided.
        NOT_FOUND only for a payout never recorded here: the bank cannot have it."""
        if operation is not Operation.PAYOUT:
            return ChannelResult(ChannelStatus.NOT_FOUND)
        with self.engine.connect() as conn:
            row = store.get_payout(conn, reference)
        if row is None:
            return ChannelResult(ChannelStatus.NOT_FOUND)
        return result_of(row)

    def close(self, reference: str) -> ChannelResult:
        return ChannelResult(ChannelStatus.NOT_FOUND)  # no pay-ins here to close

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        raise BadNotification(
            self.name, "malformed_notification", "this bank answers in pain.002 files"
        )

    def fetch_statement(self, day: date) -> bytes:
        raise ChannelUnavailable(
            self.name, "the bank's camt.053 arrives as a file in files_dir/inbound/"
        )

    def probe(self) -> None:
        """Healthy while its files can be written: there is no online endpoint."""
        try:
            self.settings.files_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ChannelUnavailable(self.name, f"files_dir: {error.strerror}") from None

    def close_connections(self) -> None:
        if self._owned_engine is not None:
            self._owned_engine.dispose()


def result_of(row: Mapping[str, object]) -> ChannelResult:
    """A recorded payout as a channel answer."""
    reference = row.get("bank_reference")
    txn_id = str(reference) if reference else None
    if row["status"] == store.SUCCEEDED:
        return ChannelResult(ChannelStatus.SUCCEEDED, channel_txn_id=txn_id)
    if row["status"] == store.FAILED:
        failure_class = row.get("failure_class") or FailureClass.CHANNEL.value
        return ChannelResult(
            ChannelStatus.FAILED,
            channel_txn_id=txn_id,
            failure_code=str(row.get("failure_code") or "rejected"),
            failure_class=FailureClass(str(failure_class)),
        )
    return ChannelResult(ChannelStatus.PROCESSING)


def _declined(code: str, failure_class: FailureClass) -> ChannelResult:
    return ChannelResult(ChannelStatus.FAILED, failure_code=code, failure_class=failure_class)


def load_h2h_channel(
    name: str, options: Mapping[str, str], *, data_dir: str, database_url: str = ""
) -> H2hBankChannel:
    """A channel from configuration; its engine comes from PAYCORE_DATABASE_URL unless
    the composition root binds its own (`bind`)."""
    settings = H2hSettings.parse(options, default_dir=Path(data_dir) / f"h2h-{name}")
    return H2hBankChannel(name, settings, database_url=database_url)
