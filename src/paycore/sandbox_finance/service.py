"""`FinanceReceiver`: books pushed vouchers once by id, lists them, misbehaves on request.

    receiver = FinanceReceiver(ReceiverConfig(data_dir=path), clock=clock)
    receiver.authenticate(headers, body)
    answer = receiver.receive(body)      # or ReceiverDown / FailedAfterStore

Idempotent by voucher id: the first POST books it and gets a receiver ref; the same id
with the same body hash again is answered `duplicate` with that ref; with another hash it
is refused `voucher_conflict` and nothing changes.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from paycore import ids, strict_json
from paycore.clock import Clock, SystemClock
from paycore.errors import Rejected
from paycore.sandbox_finance import store
from paycore.sandbox_finance.keys import prepare_secret, read_secret
from paycore.sandbox_finance.model import (
    BAD_SIGNATURE,
    DATABASE_FILE,
    DEFAULT_KEY_ID,
    DEFAULT_PORT,
    INVALID_VOUCHER,
    KEY_ID_HEADER,
    LIST_MAX,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    UNKNOWN_KEY,
    VOUCHER_CONFLICT,
    Fault,
    FaultMix,
    Result,
    Voucher,
    canonical_json,
    check_signature,
    draw_fault,
    voucher_of,
)


class ReceiverDown(Exception):
    """The `down` fault: answered 503, nothing read or booked."""


class FailedAfterStore(Exception):
    """The `fail_after_store` fault: the voucher is booked, the answer is a 500."""


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    seed: int | None = None  # None: a different fault sequence on every start
    key_id: str = DEFAULT_KEY_ID
    faults: FaultMix = field(default_factory=FaultMix)

    @property
    def database_path(self) -> Path:
        return self.data_dir / DATABASE_FILE


@dataclass(frozen=True, slots=True)
class Answer:
    acks: tuple[dict[str, Any], ...]
    slow_s: float  # hold the answer this long (the `slow` fault); the voucher is booked


class FinanceReceiver:
    def __init__(self, config: ReceiverConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        prepare_secret(config.data_dir)
        self._secret = read_secret(config.data_dir)
        self._engine = store.open_engine(config.database_path)
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()  # the RNG and the fault mix
        self.faults = config.faults

    def close(self) -> None:
        self._engine.dispose()

    def set_faults(self, changes: Mapping[str, Any]) -> FaultMix:
        with self._lock:
            self.faults = self.faults.updated(changes)
            return self.faults

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raises Rejected(unknown_key | bad_signature | stale_signature)."""
        signature = headers.get(SIGNATURE_HEADER.lower())
        timestamp = headers.get(TIMESTAMP_HEADER.lower())
        if not signature or not timestamp:
            raise Rejected(BAD_SIGNATURE, "the request is not signed")
        if headers.get(KEY_ID_HEADER.lower(), "") != self.config.key_id:
            raise Rejected(UNKNOWN_KEY, f"no key id {headers.get(KEY_ID_HEADER.lower())!r}")
        # Wall time on both ends, not the injected clock: freshness is the transport's
        # concern, and a test's ManualClock stands still in 2026.
        check_signature(
            self._secret, timestamp=timestamp, body=body, signature=signature, now_s=time.time()
        )

    @property
    def down(self) -> bool:
        """Down for good (down_rate 1), not now and then: lists are refused too."""
        return self.faults.down_rate >= 1

    def receive(self, body: bytes) -> Answer:
        """Book the voucher in `body` once; see the module's docstring and FaultMix."""
        with self._lock:
            fault, slow = draw_fault(self.faults, self._rng)
            slow_s = self.faults.slow_ms / 1000 if slow else 0.0
        if fault is Fault.DOWN:
            raise ReceiverDown("the finance system is down")
        try:
            document = strict_json.loads(body)
        except strict_json.MalformedJson as exc:
            raise Rejected(INVALID_VOUCHER, f"the body is not JSON: {exc.detail}") from exc
        voucher = voucher_of(document)
        acks = [self._book(voucher, document)]
        if fault is Fault.DOUBLE_ACK:  # the finance system processed the message twice
            acks.append(self._book(voucher, document))
        if fault is Fault.FAIL_AFTER_STORE:
            raise FailedAfterStore("booked, then failed before answering")
        return Answer(tuple(acks), slow_s)

    def _book(self, voucher: Voucher, document: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        voucher_id, body_hash = voucher.voucher_id, voucher.body_hash
        inserted, row = store.book(
            self._engine,
            {
                "voucher_id": voucher_id,
                "business_date": voucher.business_date,
                "currency": voucher.currency,
                "voucher_type": voucher.voucher_type,
                "debit_total_minor": voucher.debit_total_minor,
                "body_hash": body_hash,
                "body": canonical_json(document).decode(),
                "receiver_ref": ids.new_id("fv"),
                "booked_at": now,
            },
        )
        if not inserted and row.body_hash != body_hash:
            store.record_receipt(
                self._engine, voucher_id=voucher_id, result=Result.CONFLICT, at=now
            )
            raise Rejected(
                VOUCHER_CONFLICT,
                f"voucher {voucher_id} was booked with body hash {row.body_hash}, not {body_hash}",
            )
        result = Result.BOOKED if inserted else Result.DUPLICATE
        store.record_receipt(self._engine, voucher_id=voucher_id, result=result, at=now)
        return {
            "voucher_id": voucher_id,
            "result": result.value,
            "receiver_ref": row.receiver_ref,
            "body_hash": row.body_hash,
        }

    def booked(self, business_date: date) -> list[dict[str, Any]]:
        rows = store.booked_on(self._engine, business_date, limit=LIST_MAX)
        return [
            {
                "voucher_id": row.voucher_id,
                "body_hash": row.body_hash,
                "receiver_ref": row.receiver_ref,
                "booked_at": row.booked_at.isoformat(),
            }
            for row in rows
        ]

    def receipts(self) -> dict[str, dict[str, int]]:
        return store.receipt_counts(self._engine)
