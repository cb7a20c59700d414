"""`serve`'s AML round: score the warehouse and open (or add to) a case for every alert.

Once per PAYCORE_AML_SCORE_INTERVAL_S (daily by default), after the warehouse export has
had its turns: the period is the month being scored (Asia/Shanghai), so a subject alerted
on again in the same month adds to its case instead of opening another, and opening is
idempotent (aml/cases_open.py): a round that runs twice changes nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from paycore.aml.cases import Cases
from paycore.aml.cases_open import Opening
from paycore.aml.service import score_warehouse
from paycore.clock import Clock
from paycore.warehouse.schemas import WAREHOUSE_ZONE

log = logging.getLogger(__name__)


@dataclass
class AmlRounds:
    cases: Cases
    warehouse: Path
    clock: Clock

    def period(self) -> str:
        return self.clock.now().astimezone(WAREHOUSE_ZONE).strftime("%Y-%m")

    def round(self) -> Opening | None:
        """One round; None when there is no warehouse yet (nothing exported)."""
        if not self.warehouse.is_dir():
            return None
        scoring = score_warehouse(self.warehouse)
        opening = self.cases.open_cases(scoring.alerts, period=self.period())
        log.info(
            "AML round %s: %d alerts, %d cases opened, %d added to",
            self.period(),
            len(scoring.alerts),
            len(opening.opened),
            len(opening.added),
        )
        return opening

    def run(self, stop: threading.Event, interval_s: float) -> None:
        while not stop.wait(interval_s):
            self.round()
