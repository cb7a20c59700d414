"""The cut-off's report as a CSV file beside the database's report lines."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from paycore.custody.model import CustodyBank, ReportLine

HEADER = (
    *("receipt", "payer", "amount_minor", "currency", "received_at"),
    *("reason", "refund_id", "outcome"),
)


def write_report(
    folder: Path, bank: CustodyBank, business_date: date, lines: Sequence[ReportLine]
) -> Path:
    """The whole day's report, rewritten from its lines (so a rerun writes the same)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cutoff_{bank.name}_{business_date.isoformat()}.csv"
    # A file of its own per writer: every worker process may write the same report.
    fd, partial = tempfile.mkstemp(dir=folder, prefix=path.name, suffix=".part")
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for line in lines:
            writer.writerow(
                [
                    line.receipt_id,
                    line.owner,
                    line.amount,
                    line.currency,
                    line.received_at.isoformat(),
                    line.reason,
                    line.refund_id or "",
                    line.outcome,
                ]
            )
    os.replace(partial, path)  # readers never see half a report
    return path
