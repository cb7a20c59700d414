"""The finance push relay: drains pending vouchers to the finance system, losing none and
booking none twice.

Never a transaction around the network:

1. claim: a short transaction leases up to PUSH_BATCH_MAX due vouchers (SKIP LOCKED on
   PostgreSQL, BEGIN IMMEDIATE on SQLite), so any number of relays take disjoint ones;
2. push: each voucher's document is POSTed, outside any transaction, with short timeouts;
3. record: each outcome in its own short transaction, only while the lease holds.

The receiver books by voucher id, so every failure between 2 and 3 is safe to repeat: a
relay that dies, or whose write of "pushed" fails (the seed's incident: 16 vouchers left
unpushed after a database write failed), leaves its lease to run out; the voucher is
claimed again, pushed again, answered `duplicate` with the same receiver ref, and marked
pushed then. A voucher is never marked pushed without the receiver's acknowledgement.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine

from paycore.clock import Clock, SystemClock
from paycore.errors import Rejected
from paycore.finance import store_push
from paycore.finance.model import Voucher, VoucherLine, voucher_body
from paycore.finance.receiver_client import (
    PUSH_TIMEOUT_S,
    FinanceReceiverClient,
    PushKind,
    PushOutcome,
)
from paycore.finance.store_push import Backlog, Claimed
from paycore.platform.db import WRITER

log = logging.getLogger(__name__)

PUSH_BATCH_MAX = 20
"""Vouchers one claim leases. Pushed one after another, so the lease must outlast a batch
whose every push times out: PUSH_LEASE_S > PUSH_BATCH_MAX * the client's timeout (2 s)."""
PUSH_LEASE_S = 60.0
PUSH_BACKOFF_BASE_S = 2.0
PUSH_BACKOFF_MAX_S = 300.0
"""A failed push is due again after 2, 4, 8 ... s, at most 5 minutes apart."""
PUSH_INTERVAL_S = 5.0
"""How often an idle relay looks for due vouchers."""
NOT_REJECTED = "finance_voucher_not_rejected"
LOCAL_HASH_MISMATCH = "local_body_hash_mismatch"
"""last_error of a voucher whose lines no longer hash to its body_hash: never pushed."""


class Receiver(Protocol):
    def push(self, document: Mapping[str, Any]) -> PushOutcome: ...


@dataclass(slots=True)
class PushReport:
    """What one `push_due` did."""

    claimed: int = 0
    acked: int = 0
    duplicates: int = 0
    retried: int = 0
    rejected: int = 0
    released: int = 0  # claimed, not pushed (the receiver failed earlier in the batch)
    unrecorded: int = 0  # pushed, outcome not written (a database error): re-pushed later
    lost_leases: int = 0  # outcome not written: another relay holds the voucher now
    errors: list[str] = field(default_factory=list)

    @property
    def finished(self) -> int:
        """Vouchers this report is done with: booked, or refused for good."""
        return self.acked + self.duplicates + self.rejected


_COUNTS = ("claimed", "acked", "duplicates", "retried", "rejected", "released", "unrecorded",
           "lost_leases")  # fmt: skip


def voucher_of(claimed: Claimed) -> Voucher:
    """The claimed row and its lines as the model's voucher (its body and hash are the
    model's: the same function that hashed it at derivation)."""
    row = claimed.voucher
    return Voucher(
        id=row.id,
        business_date=row.business_date,
        voucher_type=row.voucher_type,
        currency=row.currency,
        summary=row.summary,
        lines=tuple(
            VoucherLine(
                line.line_no, line.gl_account, line.ledger_code, line.debit_minor, line.credit_minor
            )
            for line in claimed.lines
        ),
        transfer_count=row.transfer_count,
    )


def document_of(claimed: Claimed) -> dict[str, Any]:
    """The voucher as the finance system receives it: the model's body (deterministic:
    lines by number, dates ISO) and the stored body_hash, which must be its hash."""
    return {**voucher_body(voucher_of(claimed)), "body_hash": claimed.voucher.body_hash}


def backoff_s(attempts: int) -> float:
    """Delay before the next push after `attempts` failed ones (1, 2, ...)."""
    exponent = min(max(attempts - 1, 0), 30)
    return float(min(PUSH_BACKOFF_BASE_S * 2.0**exponent, PUSH_BACKOFF_MAX_S))


class FinancePush:
    """Pushes due vouchers. Run one or several, in any number of processes."""

    def __init__(
        self,
        engine: Engine,
        receiver: Receiver,
        *,
        clock: Clock | None = None,
        lease_s: float = PUSH_LEASE_S,
        batch_max: int = PUSH_BATCH_MAX,
    ) -> None:
        self._engine = engine
        self._receiver = receiver
        self._clock = clock or SystemClock()
        self._lease_s = lease_s
        self._batch_max = batch_max

    def _write(self, step: Any, **kwargs: Any) -> Any:
        """One short transaction around one store step."""
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            return step(conn, **kwargs)

    def claim(self, now: datetime) -> tuple[str, list[Claimed]]:
        lease_id = secrets.token_hex(8)
        leased_until = now + timedelta(seconds=self._lease_s)
        claimed = self._write(
            store_push.claim_due, now=now, lease_id=lease_id, leased_until=leased_until,
            limit=self._batch_max,
        )  # fmt: skip
        return lease_id, claimed

    def push_due(self, now: datetime | None = None) -> PushReport:
        """Claim one batch, push it, record each outcome. See the module's docstring."""
        now = now or self._clock.now()
        lease_id, batch = self.claim(now)
        report = PushReport(claimed=len(batch))
        for index, claimed in enumerate(batch):
            outcome = self._push_one(claimed)
            try:
                self._record(claimed, lease_id, outcome, report)
            except Exception as exc:  # the write failed: the lease runs out, it is re-pushed
                log.exception(
                    "finance push outcome not recorded", extra={"voucher_id": claimed.voucher.id}
                )
                report.unrecorded += 1
                report.errors.append(f"{claimed.voucher.id}: {type(exc).__name__}")
                self._release(batch[index + 1 :], lease_id, now, report)
                break
            if outcome.kind is PushKind.RETRYABLE:  # the rest would likely fail alike
                retry_at = now + timedelta(seconds=backoff_s(claimed.voucher.push_attempts + 1))
                self._release(batch[index + 1 :], lease_id, retry_at, report)
                break
        return report

    def _push_one(self, claimed: Claimed) -> PushOutcome:
        voucher = voucher_of(claimed)
        if voucher.body_hash != claimed.voucher.body_hash:  # lines edited or lost since
            return PushOutcome(PushKind.PERMANENT, error=LOCAL_HASH_MISMATCH)
        return self._receiver.push({**voucher_body(voucher), "body_hash": voucher.body_hash})

    def _record(
        self, claimed: Claimed, lease_id: str, outcome: PushOutcome, report: PushReport
    ) -> None:
        voucher = claimed.voucher
        if outcome.booked:
            held = self._write(
                store_push.mark_pushed, voucher_id=voucher.id, lease_id=lease_id,
                pushed_at=self._clock.now(), receiver_ref=outcome.receiver_ref or "",
            )  # fmt: skip
            if held:
                report.acked += outcome.kind is PushKind.ACKED
                report.duplicates += outcome.kind is PushKind.DUPLICATE
        else:
            retry = outcome.kind is PushKind.RETRYABLE
            delay = timedelta(seconds=backoff_s(voucher.push_attempts + 1))
            held = self._write(
                store_push.mark_failed, voucher_id=voucher.id, lease_id=lease_id,
                error=outcome.error, next_push_at=self._clock.now() + delay if retry else None,
            )  # fmt: skip
            report.errors.append(f"{voucher.id}: {outcome.error}")
            if held:
                report.retried += retry
                report.rejected += not retry
            if held and not retry:
                log.error(
                    "finance voucher refused",
                    extra={"voucher_id": voucher.id, "error": outcome.error},
                )
        if not held:
            report.lost_leases += 1
            log.warning("finance push lease lost", extra={"voucher_id": voucher.id})

    def _release(
        self, rest: Sequence[Claimed], lease_id: str, next_push_at: datetime, report: PushReport
    ) -> None:
        if not rest:
            return
        ids = [claimed.voucher.id for claimed in rest]
        try:
            report.released += self._write(
                store_push.release, voucher_ids=ids, lease_id=lease_id, next_push_at=next_push_at
            )
        except Exception:  # their leases run out instead
            log.exception("finance push release failed", extra={"vouchers": len(ids)})

    def push_all(
        self,
        now: datetime | None = None,
        *,
        rounds_max: int = 1000,
        on_batch: Callable[[PushReport], None] | None = None,
    ) -> PushReport:
        """push_due until a batch claims nothing or meets trouble that a retry later may
        clear (a refused voucher is final and does not stop the rest): for the CLI and
        tests. `on_batch` sees each batch's report (a progress bar)."""
        total = PushReport()
        for _ in range(rounds_max):
            report = self.push_due(now)
            for name in _COUNTS:
                setattr(total, name, getattr(total, name) + getattr(report, name))
            total.errors.extend(report.errors)
            if on_batch is not None:
                on_batch(report)
            if report.claimed == 0 or report.claimed > report.finished:
                break
        return total

    def run(self, stop: threading.Event, interval_s: float = PUSH_INTERVAL_S) -> None:
        """Push until `stop` is set. A full batch is followed at once by the next; otherwise
        waits `interval_s`. Errors are logged and retried: the leases make them safe."""
        while not stop.is_set():
            try:
                report = self.push_due()
            except Exception:
                log.exception("finance push step failed; retrying")
                stop.wait(interval_s)
                continue
            if (
                report.claimed < self._batch_max
                or report.claimed > report.acked + report.duplicates
            ):
                stop.wait(interval_s)

    def requeue(self, voucher_id: str) -> None:
        """Push a rejected voucher again; Rejected(finance_voucher_not_rejected) otherwise."""
        if not self._write(store_push.requeue, voucher_id=voucher_id, now=self._clock.now()):
            raise Rejected(NOT_REJECTED, f"voucher {voucher_id} is not rejected")

    def close(self) -> None:
        close = getattr(self._receiver, "close", None)
        if close is not None:
            close()

    def backlog(self, *, overdue_s: float) -> Backlog:
        """Pending vouchers, those overdue by more than `overdue_s`, rejected ones."""
        overdue_before = self._clock.now() - timedelta(seconds=overdue_s)
        with self._engine.connect() as conn:
            return store_push.backlog(conn, overdue_before=overdue_before)


def open_relay(
    engine: Engine, clock: Clock, *, url: str, secret_file: Path, timeout_s: float = PUSH_TIMEOUT_S
) -> FinancePush:
    """The relay `serve` runs: pushing to the finance system at `url`, signing with the
    secret in `secret_file` (the sandbox receiver's `<data dir>/push_secret`)."""
    secret = secret_file.read_text().strip().encode()
    client = FinanceReceiverClient(url, secret=secret, timeout_s=timeout_s)
    return FinancePush(engine, client, clock=clock)
