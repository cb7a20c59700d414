"""The ledger's self-check on a schedule, with its history.

`Ledger.check` recomputes every balance from the journal; this runs it every
`interval_s` (an hour by default) inside `serve`, keeps each result, logs a failure
loudly and feeds `/metrics`. A check also runs on demand (`paycore ledger check`) and is
recorded the same way. Several server processes may each run one: a check only reads.

Other slices register checks of their own (`flows`): what the balances cannot show, such
as a payout still in flight whose hold was voided. Their findings are recorded with the
run as problems, and any finding fails it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine

from paycore import ids
from paycore.clock import Clock
from paycore.ledger import store_checks
from paycore.ledger.service import CheckReport, Ledger
from paycore.platform.db import WRITER

log = logging.getLogger(__name__)

PROBLEMS_KEPT = 100
HISTORY_MAX = 200


class Finding(Protocol):
    """What a registered check reports: a stable code, the record and the transfer."""

    @property
    def code(self) -> str: ...
    @property
    def subject_id(self) -> str: ...
    @property
    def transfer_id(self) -> str: ...
    @property
    def detail(self) -> str: ...


SliceCheck = Callable[[], Sequence[Finding]]


@dataclass(frozen=True, slots=True)
class CheckRun:
    id: str
    started_at: datetime
    finished_at: datetime
    ok: bool
    accounts_checked: int
    problems: list[str]
    trigger: str
    findings: tuple[Finding, ...] = ()  # of this run only; history keeps them as problems


class LedgerChecks:
    def __init__(
        self,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        *,
        interval_s: float = 3600.0,
        flows: Sequence[SliceCheck] = (),
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self.interval_s = interval_s
        self._flows = list(flows)

    def register(self, flow: SliceCheck) -> None:
        self._flows.append(flow)

    def run(self, *, trigger: str = "command") -> tuple[CheckRun, CheckReport]:
        started = self._clock.now()
        report = self._ledger.check()
        findings = self._findings()
        problems = report.problems + [_as_problem(f) for f in findings]
        run = CheckRun(
            id=ids.new_id("chk"),
            started_at=started,
            finished_at=self._clock.now(),
            ok=report.ok and not findings,
            accounts_checked=report.accounts_checked,
            problems=problems[:PROBLEMS_KEPT],
            trigger=trigger,
            findings=findings,
        )
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store_checks.insert_check(
                conn,
                {
                    "id": run.id,
                    "started_at": run.started_at,
                    "finished_at": run.finished_at,
                    "ok": run.ok,
                    "accounts_checked": run.accounts_checked,
                    "problems": run.problems,
                    "totals": {c: list(t) for c, t in report.totals.items()},
                    "trigger": trigger,
                },
            )
        if not run.ok:
            log.error("ledger check failed: %d problems, first: %s", len(problems),
                      problems[0])  # fmt: skip
        return run, report

    def _findings(self) -> tuple[Finding, ...]:
        found: list[Finding] = []
        for flow in self._flows:
            try:
                found.extend(flow())
            except Exception as exc:  # a check that cannot run must not pass for one that did
                log.exception("a registered check could not run")
                name = getattr(flow, "__name__", type(flow).__name__)
                found.append(_Unchecked(name, type(exc).__name__))
        return tuple(found)

    def due(self) -> bool:
        with self._engine.connect() as conn:
            last = store_checks.last_started(conn)
        return last is None or self._clock.now() - last >= timedelta(seconds=self.interval_s)

    def tick(self) -> CheckRun | None:
        """Run the check if the last one (by any process) is older than the interval."""
        return self.run(trigger="schedule")[0] if self.due() else None

    def history(self, *, limit: int = 20) -> list[CheckRun]:
        with self._engine.connect() as conn:
            rows = store_checks.recent_checks(conn, limit=max(1, min(limit, HISTORY_MAX)))
        return [_run(row) for row in rows]


@dataclass(frozen=True, slots=True)
class _Unchecked:
    subject_id: str
    detail: str
    code: str = "check_could_not_run"
    transfer_id: str = "-"


def _as_problem(finding: Finding) -> str:
    return f"{finding.code}: {finding.subject_id} ({finding.transfer_id}) {finding.detail}"


def _run(row: dict[str, Any]) -> CheckRun:
    return CheckRun(
        id=row["id"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        ok=row["ok"],
        accounts_checked=row["accounts_checked"],
        problems=list(row["problems"]),
        trigger=row["trigger"],
    )


def run_check_worker(checks: LedgerChecks, *, poll_s: float, stop: threading.Event) -> None:
    while not stop.wait(poll_s):
        try:
            checks.tick()
        except Exception:
            log.exception("scheduled ledger check could not run")
