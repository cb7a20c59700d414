"""A pain.002 status report's outcome, and the decision it makes for each payout of the
file it answers (recon/h2h_service.py applies them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from paycore.recon.pain import REJECTED, StatusReport, payment_information_id

LISTED_IDS_MAX = 100
"""Unknown or conflicting ids listed in a report's outcome (the counts are complete)."""


@dataclass
class ReportOutcome:
    report_msg_id: str
    original_msg_id: str
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    unknown: list[str] = field(default_factory=list)  # EndToEndIds not in that file
    conflicts: list[str] = field(default_factory=list)  # already decided otherwise
    settle_errors: int = 0
    duplicate: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "report_msg_id": self.report_msg_id,
            "original_msg_id": self.original_msg_id,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "pending": self.pending,
            "unknown": self.unknown[:LISTED_IDS_MAX],
            "conflicts": self.conflicts[:LISTED_IDS_MAX],
            "settle_errors": self.settle_errors,
            "duplicate": self.duplicate,
        }


def decisions(
    report: StatusReport, rows: Mapping[str, Mapping[str, Any]]
) -> dict[str, tuple[str, str | None, str | None]]:
    """(status, reason, bank reference) per EndToEndId. A rejected group or PmtInf
    rejects every payout in it, whatever its own line says."""
    decisions = {
        tx.end_to_end_id: (tx.status, tx.reason, tx.bank_reference) for tx in report.transactions
    }
    for order_id, row in rows.items():
        info = report.payment_informations.get(
            payment_information_id(report.original_msg_id, row["currency"])
        )
        for group in (info, report.group):
            if group is not None and group.status == REJECTED:
                own = decisions.get(order_id)
                decisions[order_id] = (REJECTED, group.reason or (own and own[1]), None)
                break
    return decisions


def outcome_of(stored: Mapping[str, Any]) -> ReportOutcome:
    view = stored.get("outcome") or {}
    return ReportOutcome(
        report_msg_id=str(stored.get("msg_id", "")),
        original_msg_id=str(stored.get("original_msg_id", "")),
        succeeded=int(view.get("succeeded", 0)),
        failed=int(view.get("failed", 0)),
        pending=int(view.get("pending", 0)),
        unknown=list(view.get("unknown", [])),
        conflicts=list(view.get("conflicts", [])),
        duplicate=True,
    )
