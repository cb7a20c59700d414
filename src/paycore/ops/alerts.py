"""Multi-window burn-rate alerts over the SLOs, their state in ops_alerts, and the status
the API, the CLI and /metrics show.

`BurnRateAlerts.evaluate(now)`:
1. rolls the orders that became final in the last `ROLLUP_S` up into minutes
   (`success:<kind>:<channel>`, node `orders`), recomputed whole each time, so a late
   commit is counted by the next evaluation (index range on payment_orders (kind, status,
   finished_at): ~10 minutes of orders, grouped in SQL);
2. reads every window of every SLI in one grouped range scan of ops_sli_minutes over the
   longest window (3 days: minutes x SLIs x nodes rows, ~4,320 per SLI and node; no raw
   request or order rows);
3. judges each SLO and window pair (pure, slo.py), and records transitions: a firing pair
   is one ops_alerts row, `ended_at` set when it stops (under a lock, so two server
   processes never open the same alert twice);
4. returns the firing pairs as Signals (`burn:<slo>:<pair>`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from paycore.clock import Clock
from paycore.ops import store
from paycore.ops.availability import Availability, availability
from paycore.ops.model import Signal, SignalSource
from paycore.ops.sli import SliRecorder, minute_of
from paycore.ops.slo import Counts, Slo, SloConfig, SloKind, Verdict, judge, to_ppm
from paycore.platform.db import WRITER, one_read

log = logging.getLogger(__name__)

ROLLUP_S = 600
"""How far back each evaluation recounts the orders' outcomes: longer than any commit
lags its `finished_at`."""
ORDERS_NODE = "orders"
SHORT_WINDOW_MAX_S = 1800
LONG_WINDOW_REUSE_S = 60
SLI_RETENTION_DAYS = 35
"""SLI minutes older than this are deleted (hourly): alerts read 3 days at most. Probes
are kept, since availability is reported per year."""
ALERTS_PAGE_MAX = 500


@dataclass(frozen=True, slots=True)
class SloStatus:
    slo: Slo
    counts: Mapping[int, Counts]
    """Per window length in seconds."""
    verdicts: tuple[Verdict, ...]


def window_label(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class BurnRateAlerts:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        config: SloConfig | None = None,
        *,
        recorder: SliRecorder | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.config = config or SloConfig()
        self._recorder = recorder
        self._long_sums: tuple[datetime, dict[str, list[tuple[int, int]]]] | None = None
        self._pruned_at: datetime | None = None

    def evaluate(self, now: datetime | None = None) -> list[Signal]:
        """Recount, judge and record (module docstring); the pairs firing now, as Signals.
        Ops.tick calls it; safe to call from every server process at once."""
        now = now or self.clock.now()
        self.roll_up_orders(now)
        self._prune(now)
        statuses = self.status(now)
        verdicts = [v for s in statuses for v in s.verdicts]
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.lock(conn, store.ALERT_LOCK)
            started = self._transitions(conn, verdicts, now)
        return [_signal(v, started[_key(v)]) for v in verdicts if v.firing]

    def status(self, now: datetime | None = None) -> list[SloStatus]:
        """Every SLO (and each SLI under a `per_sli` one) with its counts and verdicts."""
        now = now or self.clock.now()
        durations = self.config.durations_s()
        sums = self._sums(now, durations)
        return [self._status(slo, sums, durations) for slo in self._expanded(sums)]

    def _sums(self, now: datetime, durations: Sequence[int]) -> dict[str, list[tuple[int, int]]]:
        """Windows up to SHORT_WINDOW_MAX_S read now; the longer ones (most of the rows)
        at most every LONG_WINDOW_REUSE_S of the clock, which delays what a long window
        sees by under a minute, against its hour or more."""
        end = minute_of(now) + timedelta(minutes=1)
        short = [d for d in durations if d <= SHORT_WINDOW_MAX_S]
        long = [d for d in durations if d > SHORT_WINDOW_MAX_S]
        cached = self._long_sums
        with one_read(self.engine) as conn:
            fresh = (
                store.window_sums(conn, starts=[end - timedelta(seconds=d) for d in short], end=end)
                if short
                else {}
            )
            if cached is None or not 0 <= (now - cached[0]).total_seconds() < LONG_WINDOW_REUSE_S:
                starts = [end - timedelta(seconds=d) for d in long]
                cached = (now, store.window_sums(conn, starts=starts, end=end) if long else {})
                self._long_sums = cached
        nothing_short, nothing_long = [(0, 0)] * len(short), [(0, 0)] * len(long)
        return {
            sli: fresh.get(sli, nothing_short) + cached[1].get(sli, nothing_long)
            for sli in fresh.keys() | cached[1].keys()
        }

    def firing(self) -> list[Mapping[str, Any]]:
        with one_read(self.engine) as conn:
            return store.open_alerts(conn)

    def history(self, *, since: datetime | None = None, limit: int = 100) -> list[Any]:
        with one_read(self.engine) as conn:
            return store.alert_history(conn, since=since, limit=min(limit, ALERTS_PAGE_MAX))

    def availability(self, *, start: datetime, end: datetime) -> Availability:
        return availability(self.engine, start=start, end=end)

    def _prune(self, now: datetime) -> None:
        if self._pruned_at is not None and now - self._pruned_at < timedelta(hours=1):
            return
        before = now - timedelta(days=SLI_RETENTION_DAYS)
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.delete_sli_minutes_before(conn, before)
        self._pruned_at = now

    def roll_up_orders(self, now: datetime) -> int:
        """Recount the last ROLLUP_S of final orders into minutes; the counters of the
        recorder (if any) grow by what this recount added. Returns minute rows written."""
        start = minute_of(now - timedelta(seconds=ROLLUP_S))
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            # Locked before reading: a recount's growth is then seen by one process only,
            # and summing every process's counters counts each order once.
            store.lock(conn, store.ROLLUP_LOCK)
            found = sorted(store.order_outcome_minutes(conn, start=start, end=now))
            before = store.sli_minutes_of(conn, node=ORDERS_NODE, start=start)
            rows = [
                {"sli": f"success:{kind}:{channel}", "node": ORDERS_NODE, "minute_at": at}
                | {"good": good, "total": total}
                for kind, channel, at, good, total in found
            ]
            store.set_sli_minutes(conn, rows)
        if self._recorder is not None:
            _count_growth(self._recorder, rows, before)
        return len(rows)

    def _expanded(self, sums: Mapping[str, Any]) -> Iterator[Slo]:
        for slo in self.config.slos:
            yield slo
            if slo.per_sli:
                for sli in sorted(sums):
                    if sli != slo.name and slo.covers(sli):
                        yield slo.narrowed(sli)

    def _status(
        self, slo: Slo, sums: Mapping[str, list[tuple[int, int]]], durations: Sequence[int]
    ) -> SloStatus:
        totals = [Counts() for _ in durations]
        for sli, windows in sums.items():
            if slo.covers(sli):
                totals = [t + Counts(g, n) for t, (g, n) in zip(totals, windows, strict=True)]
        counts = dict(zip(durations, totals, strict=True))
        verdicts = tuple(
            judge(slo, pair, long=counts[pair.long_s], short=counts[pair.short_s])
            for pair in self.config.windows
        )
        return SloStatus(slo, counts, verdicts)

    def _transitions(
        self, conn: Any, verdicts: Sequence[Verdict], now: datetime
    ) -> dict[tuple[str, str], datetime]:
        """Open, refresh and end alert rows; the start of every firing pair."""
        open_rows = {(r["slo"], r["window"]): r for r in store.open_alerts(conn)}
        started: dict[tuple[str, str], datetime] = {}
        for verdict in verdicts:
            key = _key(verdict)
            row = open_rows.pop(key, None)
            burns = {
                "burn_long_ppm": to_ppm(verdict.burn_long),
                "burn_short_ppm": to_ppm(verdict.burn_short),
            }
            if verdict.firing and row is None:
                store.start_alert(conn, _new_row(verdict, now))
                log.warning("burn-rate alert firing: %s %s", *key)
                started[key] = now
            elif verdict.firing and row is not None:
                store.touch_alert(conn, row["id"], now=now, **burns)
                started[key] = row["started_at"]
            elif row is not None:
                store.end_alert(conn, row["id"], now=now)
                log.info("burn-rate alert ended: %s %s", *key)
        for row in open_rows.values():  # an SLO no longer configured, or no longer seen
            store.end_alert(conn, row["id"], now=now)
        return started


def _count_growth(
    recorder: SliRecorder,
    rows: Sequence[Mapping[str, Any]],
    before: Mapping[tuple[str, datetime], Any],
) -> None:
    """What a recount added to each SLI, onto the recorder's counters. A recount can also
    take away (an order's finish moved to another minute); counters never go down, so a
    net decrease is left out."""
    growth: dict[str, list[int]] = {}
    for row in rows:
        old_good, old_total = before.get((row["sli"], row["minute_at"]), (0, 0))
        cell = growth.setdefault(row["sli"], [0, 0])
        cell[0] += row["good"] - old_good
        cell[1] += row["total"] - old_total
    for sli, (good, total) in growth.items():
        if good >= 0 and total - good >= 0 and total > 0:
            recorder.add_to_totals(sli, good=good, total=total)


def _key(verdict: Verdict) -> tuple[str, str]:
    return (verdict.slo.name, verdict.pair.name)


def _new_row(verdict: Verdict, now: datetime) -> dict[str, Any]:
    return {
        "slo": verdict.slo.name,
        "severity": verdict.pair.severity.value,
        "window": verdict.pair.name,
        "burn_rate_long_ppm": to_ppm(verdict.burn_long),
        "burn_rate_short_ppm": to_ppm(verdict.burn_short),
        "started_at": now,
        "evaluated_at": now,
    }


def scope_of(slo_name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(order kinds, channels) an SLO is about: `success:payin:alpha` -> (payin,), (alpha,);
    `probe:payin:alpha` likewise; others name none. A kind, not a product: orders' products
    are what merchants sell (qr, rent), and an SLO on pay-ins covers all of them."""
    parts = slo_name.split(":")
    if parts[0] in ("success", "probe") and len(parts) >= 2 and parts[1] != "health":
        kind = parts[1]
        if kind in ("payin", "payout", "refund"):
            channels = (parts[2],) if len(parts) > 2 else ()
            return (kind,), channels
    return (), ()


def _signal(verdict: Verdict, since: datetime) -> Signal:
    slo, pair = verdict.slo, verdict.pair
    kinds, channels = scope_of(slo.name)
    burn_long = float(verdict.burn_long)  # for a person to read, not to compute with
    summary = (
        f"{slo.name} burning its error budget {burn_long:.1f}x over {pair.name} "
        f"(target {slo.target_ppm / 10_000:g}%, alert at {float(pair.factor):g}x)"
    )
    return Signal(
        key=f"burn:{slo.name}:{pair.name}",
        source=SignalSource.ALERT,
        kind="burn_rate",
        severity=pair.severity,
        summary=summary,
        since=since,
        kinds=kinds,
        channels=channels,
        details={
            "slo": slo.name,
            "slo_kind": slo.kind.value,
            "window": pair.name,
            "target_ppm": slo.target_ppm,
            "burn_rate_long_ppm": to_ppm(verdict.burn_long),
            "burn_rate_short_ppm": to_ppm(verdict.burn_short),
        },
    )


__all__ = ["BurnRateAlerts", "SloKind", "SloStatus", "scope_of", "window_label"]
