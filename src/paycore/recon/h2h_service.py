"""Use cases of a host-to-host bank: export the waiting payouts as a pain.001 file, and
apply the bank's pain.002 status report to them.

A payout goes into exactly one file: the file's rows are claimed in the transaction that
creates it, and a later export either starts a new file with the payouts still waiting or
hands out the last file again, byte for byte (it is rebuilt from the database when the
copy on disk is gone). The file is kept sealed at rest (h2h_outbound.py) and opened only to
be handed over (`open_file`). A status report decides payouts in one transaction, remembered by
the report's SHA-256; the orders are then settled through the payments slice's normal
path (`Settler.apply`), after commit, so the hold is posted or voided by the state
machine. Settling is idempotent, so a crash in between is repaired by the next run of the
same report or by the janitor, whose query now finds the decision.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from paycore import ids
from paycore.channels.h2h import BIC_PATTERN, H2hBankChannel, result_of
from paycore.channels.model import FailureClass
from paycore.clock import Clock
from paycore.errors import InvariantViolation, Rejected
from paycore.payments.model import OrderKind
from paycore.payments.service import Payments
from paycore.platform.db import WRITER
from paycore.recon import h2h_outbound
from paycore.recon import h2h_store as store
from paycore.recon.h2h_reports import ReportOutcome, decisions, outcome_of
from paycore.recon.pain import (
    ACCEPTED,
    ACCOUNT_PROBLEMS,
    REJECTED,
    REPORT_BYTES_MAX,
    CreditTransfer,
    Pain001Batch,
    StatusReport,
    build_pain001,
    malformed,
    parse_pain002,
)
from paycore.security.files import FieldSealer

log = logging.getLogger(__name__)

FILE_TXS_MAX = 10_000
"""Payouts in one pain.001; more waiting go into the next file."""


@dataclass(frozen=True, slots=True)
class ExportedFile:
    msg_id: str
    path: Path
    tx_count: int
    new: bool  # False: the same file handed out again
    sha256: str  # of the clear XML, as the database keeps it


class H2hFiles:
    def __init__(
        self,
        *,
        engine: Engine,
        payments: Payments,
        clock: Clock,
        business_tz: ZoneInfo | None = None,
        cipher: FieldSealer | None = None,
    ) -> None:
        """Without a `cipher` status reports apply, but no pain.001 can be exported."""
        self.engine = engine
        self.payments = payments
        self.clock = clock
        self.business_tz = business_tz or ZoneInfo("Asia/Shanghai")
        self.cipher = cipher

    # -- pain.001 out --------------------------------------------------------------------

    def export(
        self, channel: H2hBankChannel, now: datetime | None = None, *, msg_id: str | None = None
    ) -> ExportedFile:
        """The waiting payouts as a new file, else the last file again (or `msg_id`'s)."""
        now = now or self.clock.now()
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if msg_id is not None:
                row = store.get_file(conn, msg_id)
                if row is None or row["channel"] != channel.name:
                    raise Rejected("h2h_file_not_found", f"no file {msg_id} on {channel.name}")
                new = False
            else:
                row, new = self._claim_new_file(conn, channel, now)
            payouts = store.payouts_in_file(conn, row["msg_id"])
        path, digest = self._write(channel, row, payouts)
        return ExportedFile(row["msg_id"], path, len(payouts), new, digest)

    def open_file(self, exported: ExportedFile) -> bytes:
        """The clear XML of an exported file, for the one hand-over that asked for it."""
        try:
            return h2h_outbound.open_kept(exported.path, self._sealer(), sha256=exported.sha256)
        except FileNotFoundError:  # purged between the export and now
            raise Rejected(
                "h2h_file_not_found", f"{exported.msg_id} is gone from disk: export it again"
            ) from None

    def _sealer(self) -> FieldSealer:
        if self.cipher is None:  # a wiring defect: a payout file is never kept in clear
            raise InvariantViolation("H2hFiles needs the field cipher to keep a pain.001")
        return self.cipher

    def _claim_new_file(
        self, conn: Any, channel: H2hBankChannel, now: datetime
    ) -> tuple[Mapping[str, Any], bool]:
        waiting = store.waiting_ids(conn, channel=channel.name, limit=FILE_TXS_MAX)
        if waiting:
            msg_id = ids.new_id("msg")  # 30 characters: MsgId is Max35Text
            store.insert_file(
                conn,
                msg_id=msg_id,
                channel=channel.name,
                created_at=now,
                execution_date=now.astimezone(self.business_tz).date(),
            )
            claimed = store.claim_for_file(conn, order_ids=waiting, msg_id=msg_id, now=now)
            store.set_file_count(conn, msg_id=msg_id, tx_count=claimed)
            row = store.get_file(conn, msg_id)
            if row is None:  # pragma: no cover - inserted above in this transaction
                raise InvariantViolation(f"file {msg_id} vanished")
            return row, True
        latest = store.latest_file(conn, channel=channel.name)
        if latest is None:
            raise Rejected("nothing_to_export", f"no payout waits on {channel.name}")
        return latest, False

    def _write(
        self, channel: H2hBankChannel, row: Mapping[str, Any], payouts: list[dict[str, Any]]
    ) -> tuple[Path, str]:
        settings = channel.settings
        batch = Pain001Batch(
            msg_id=row["msg_id"],
            created_at=row["created_at"],
            execution_date=row["execution_date"],
            debtor_name=settings.debtor_name,
            debtor_account=settings.debtor_account,
            debtor_agent_bic=settings.debtor_agent_bic,
            transfers=[self._transfer(p) for p in payouts],
        )
        data = build_pain001(batch)
        digest = hashlib.sha256(data).hexdigest()
        path = h2h_outbound.keep(settings.files_dir, row["msg_id"], data, self._sealer())
        if row.get("sha256") != digest:
            with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store.set_file_hash(conn, msg_id=row["msg_id"], sha256=digest)
        return path, digest

    def _transfer(self, payout: Mapping[str, Any]) -> CreditTransfer:
        order = self.payments.get(
            merchant_id=None, order_id=payout["order_id"], kind=OrderKind.PAYOUT
        )
        party = self.payments.reveal_party(order)
        bank_code = str(order.party_masked.get("bank_code") or "")
        return CreditTransfer(
            end_to_end_id=order.id,
            amount_minor=payout["amount"],
            currency=payout["currency"],
            creditor_name=party.get("name", ""),
            creditor_account=party.get("account_number", ""),
            creditor_agent_bic=bank_code if _is_bic(bank_code) else "",
        )

    # -- pain.002 in ---------------------------------------------------------------------

    def apply_status_report(self, path: Path) -> ReportOutcome:
        """Decide the payouts of one status report, then settle their orders."""
        try:
            if path.stat().st_size > REPORT_BYTES_MAX:
                raise malformed(f"over {REPORT_BYTES_MAX} bytes", field="size")
            data = path.read_bytes()
        except OSError as error:
            raise Rejected("file_not_found", f"{path}: {error.strerror}") from None
        return self.apply_status_report_bytes(data)

    def apply_status_report_bytes(self, data: bytes) -> ReportOutcome:
        if len(data) > REPORT_BYTES_MAX:
            raise malformed(f"over {REPORT_BYTES_MAX} bytes", field="size")
        digest = hashlib.sha256(data).hexdigest()
        with self.engine.connect() as conn:
            known = store.get_report(conn, digest)
        if known is not None:
            outcome = outcome_of(known)
        else:
            outcome = self._decide(parse_pain002(data), digest)
        outcome.settle_errors = self._settle(outcome.original_msg_id)
        return outcome

    def _decide(self, report: StatusReport, digest: str) -> ReportOutcome:
        now = self.clock.now()
        outcome = ReportOutcome(report.msg_id, report.original_msg_id)
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if store.get_report(conn, digest) is not None:  # the same report, concurrently
                return outcome_of(store.get_report(conn, digest) or {})
            if store.get_file(conn, report.original_msg_id) is None:
                raise Rejected(
                    "h2h_file_not_found", f"the report is about {report.original_msg_id}"
                )
            rows = {p["order_id"]: p for p in store.payouts_in_file(conn, report.original_msg_id)}
            for order_id, (status, reason, reference) in decisions(report, rows).items():
                row = rows.get(order_id)
                if row is None:
                    outcome.unknown.append(order_id)
                    continue
                self._decide_one(conn, outcome, row, status, reason, reference, report, now)
            store.insert_report(
                conn,
                sha256=digest,
                msg_id=report.msg_id,
                original_msg_id=report.original_msg_id,
                applied_at=now,
                outcome=outcome.view(),
            )
        if outcome.unknown:
            log.warning("pain.002 %s names unknown payouts %s", report.msg_id, outcome.unknown[:5])
        return outcome

    def _decide_one(
        self,
        conn: Any,
        outcome: ReportOutcome,
        row: Mapping[str, Any],
        status: str,
        reason: str | None,
        reference: str | None,
        report: StatusReport,
        now: datetime,
    ) -> None:
        order_id = row["order_id"]
        if status in ACCEPTED or status == REJECTED:
            final = store.SUCCEEDED if status in ACCEPTED else store.FAILED
            failure_class = None
            if final == store.FAILED:
                user = reason in ACCOUNT_PROBLEMS
                failure_class = (FailureClass.USER if user else FailureClass.CHANNEL).value
            decided = store.decide_payout(
                conn,
                order_id=order_id,
                status=final,
                bank_status=status,
                failure_code=(reason or "rejected") if final == store.FAILED else None,
                failure_class=failure_class,
                bank_reference=reference,
                report_msg_id=report.msg_id,
                now=now,
            )
            if not decided and row["status"] != final:
                outcome.conflicts.append(order_id)
            elif final == store.SUCCEEDED:
                outcome.succeeded += 1
            else:
                outcome.failed += 1
        else:
            store.note_pending(conn, order_id=order_id, bank_status=status, now=now)
            outcome.pending += 1

    def _settle(self, msg_id: str) -> int:
        """Bring every decided payout of the file to its order; returns the errors."""
        with self.engine.connect() as conn:
            decided = [p for p in store.payouts_in_file(conn, msg_id) if p["status"] in store.FINAL]
        errors = 0
        for payout in decided:
            order = self.payments.settler.load(payout["order_id"])
            if order is None:
                errors += 1
                continue
            try:
                self.payments.settler.apply(order, result_of(payout))
            except (InvariantViolation, Rejected) as error:
                log.error("h2h: settling %s failed: %s", order.id, error)
                errors += 1
        return errors


def _is_bic(code: str) -> bool:
    return bool(BIC_PATTERN.fullmatch(code))


def h2h_channel(channels: Any, name: str) -> H2hBankChannel:
    """The named channel of the registry, if it is a host-to-host bank."""
    try:
        channel = channels.get(name)
    except Rejected:
        channel = None
    if not isinstance(channel, H2hBankChannel):
        raise Rejected("h2h_channel_not_found", f"no host-to-host channel {name!r}")
    return channel


def h2h_files(runtime: Any) -> H2hFiles:
    """The service over a Runtime's engine, payments, clock and field cipher."""
    return H2hFiles(
        engine=runtime.engine,
        payments=runtime.payments,
        clock=runtime.clock,
        cipher=runtime.cipher,
    )
