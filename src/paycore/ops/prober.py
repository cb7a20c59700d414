"""The prober inside `serve`: availability measured, not assumed.

Every `probe.interval_s` it makes, at once and each under the `probe.timeout_s` deadline:
- a synthetic pay-in through each channel routed for pay-ins (`payin:<channel>`), by the
  Payments service itself, pinned to that one channel. A channel whose breaker is open
  is a failed probe (`no_channel_available`): it is not available.
  Suspending merchant `mch_probe` pauses these pay-ins (not counted as failures);
- `GET /healthz` (`health`) and `GET /v1/balances` with the probe merchant's read-only key
  (`read`), over HTTP against the server's own public URL.
Each result is a row of ops_probes and counts for the SLI `probe:<target>`.

**The probe's money.** Probes pay `probe.amount_minor` (1 fen by default, product `probe`)
from a fixed test card to the probe merchant `mch_probe` (created on first use, fee 0).
It is an ordinary pay-in: the channel clears it, the ledger credits mch_probe's wallet
with it, reconciliation matches it like any other; the ledger check and the cross-slice
check see a settled pay-in and its `_cap` transfer, as for any merchant. The money stays
in that wallet (2 x 1 fen a minute per channel at the default interval); finance may pay
it out or write it off like any merchant balance. Reports that want merchants' traffic
alone leave out merchant `PROBE_MERCHANT_ID`.

**Never hangs.** Probes run in a small thread pool and the round waits at most the
deadline; a probe still running when its next turn comes is not started twice but
recorded as failed (`still_running`), so a hung channel cannot pile up threads.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

import httpx
from sqlalchemy import Engine

from paycore import ids, limits
from paycore.channels.model import Operation, Payer
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.merchants.model import MerchantStatus
from paycore.merchants.service import Merchants
from paycore.ops import store
from paycore.ops.heartbeat import node_name
from paycore.ops.sli import SliRecorder
from paycore.ops.slo import ProbeConfig
from paycore.payments.model import PROBE_MERCHANT_ID
from paycore.payments.service import PayinCommand, Payments
from paycore.platform.db import WRITER
from paycore.security.crypto import FieldCipher
from paycore.security.service import ApiKeys

log = logging.getLogger(__name__)

PROBE_PAYER = Payer(card_number="6200000000000005", name="paycore probe")
"""A test card (passes the Luhn check), never a person's."""
TARGET_HEALTH = "health"
TARGET_READ = "read"
HEALTH_PATH = "/healthz"
READ_PATH = "/v1/balances"
ERROR_LENGTH_MAX = 256
PROBE_THREADS_MAX = 16
"""Probes run at once: every channel's pay-in plus health and read, up to 14 channels."""
_BAD_CLASSES = ("channel", "system")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    target: str
    ok: bool
    latency_ms: int
    error: str = ""


class _OneChannel:
    """Routing that offers one channel, when its breaker lets traffic through."""

    def __init__(self, channel: str, allows_traffic: Callable[[str], bool]) -> None:
        self._channel = channel
        self._allows = allows_traffic

    def candidates(self, product: str, currency: str, operation: Any) -> list[str]:
        return [self._channel] if self._allows(self._channel) else []


class Prober:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        config: ProbeConfig,
        payments: Payments,
        cipher: FieldCipher,
        merchants: Merchants,
        api_keys: ApiKeys,
        channels: Callable[[], Sequence[str]],
        allows_traffic: Callable[[str], bool],
        http: httpx.Client,
        recorder: SliRecorder | None = None,
        node: str | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.config = config
        self._payments = payments
        self._cipher = cipher
        self._merchants = merchants
        self._api_keys = api_keys
        self._channels = channels
        self._allows = allows_traffic
        self._http = http
        self._recorder = recorder
        self.node = node or node_name()
        self._per_channel: dict[str, Payments] = {}
        self._key: tuple[str, str] | None = None
        self._merchant_ready = False
        self._running: dict[str, Future[ProbeResult]] = {}
        self._owned_http = False
        self._pool = ThreadPoolExecutor(max_workers=PROBE_THREADS_MAX, thread_name_prefix="probe")

    @classmethod
    def for_runtime(
        cls,
        runtime: Any,
        config: ProbeConfig,
        recorder: SliRecorder | None = None,
        *,
        http: httpx.Client | None = None,
    ) -> Prober:
        """Built on a Runtime's services; HTTP probes go to its public URL (or `http`)."""
        registry = runtime.channels.registry
        router = runtime.channels.router
        owned = http is None
        if http is None:
            http = httpx.Client(
                base_url=runtime.settings.public_url, timeout=httpx.Timeout(config.timeout_s)
            )
        prober = cls(
            engine=runtime.engine,
            clock=runtime.clock,
            config=config,
            payments=runtime.payments,
            cipher=runtime.cipher,
            merchants=runtime.merchants,
            api_keys=runtime.api_keys,
            channels=lambda: payin_channels(router, registry.names()),
            allows_traffic=registry.allows_traffic,
            http=http,
            recorder=recorder,
        )
        prober._owned_http = owned
        return prober

    def run(self, stop: threading.Event) -> None:
        """The worker: a round every interval until stopped; a failing round is logged."""
        while not stop.wait(self.config.interval_s):
            try:
                self.probe_once()
            except Exception:
                log.exception("probe round failed")

    def probe_once(self) -> list[ProbeResult]:
        """One round: every probe, each within the deadline; recorded, then returned."""
        channels = [] if self._payins_paused() else self._channels()
        jobs: dict[str, Callable[[], ProbeResult]] = {
            f"payin:{channel}": self._payin_job(channel) for channel in channels
        }
        jobs[TARGET_HEALTH] = lambda: self._get(TARGET_HEALTH, HEALTH_PATH, auth=False)
        jobs[TARGET_READ] = lambda: self._get(TARGET_READ, READ_PATH, auth=True)
        results = self._run_all(jobs)
        self._record(results)
        return results

    def close(self, *, wait_for_probes: bool = False) -> None:
        """Revoke this process's read key. Probes still running are left to finish on
        their own (a hung channel call must not hang the shutdown) unless asked."""
        self._pool.shutdown(wait=wait_for_probes, cancel_futures=True)
        if self._owned_http:
            self._http.close()
        if self._key is not None:
            with contextlib.suppress(Rejected):  # already revoked by an operator
                self._api_keys.revoke(self._key[0])
            self._key = None

    # -- running -------------------------------------------------------------------------

    def _run_all(self, jobs: dict[str, Callable[[], ProbeResult]]) -> list[ProbeResult]:
        deadline_ms = int(self.config.timeout_s * 1000)
        results: dict[str, ProbeResult] = {}
        started: dict[str, Future[ProbeResult]] = {}
        for target, job in jobs.items():
            previous = self._running.get(target)
            if previous is not None and not previous.done():
                results[target] = ProbeResult(target, False, deadline_ms, "still_running")
                continue
            future = self._pool.submit(_guarded, target, job)
            self._running[target] = future
            started[target] = future
        wait(started.values(), timeout=self.config.timeout_s)
        for target, future in started.items():
            if future.done():
                results[target] = future.result()
            else:
                results[target] = ProbeResult(target, False, deadline_ms, "timeout")
        return [results[target] for target in jobs]

    def _record(self, results: Sequence[ProbeResult]) -> None:
        now = self._clock.now()
        rows = [
            {
                "target": r.target[:64],
                "node": self.node,
                "ok": r.ok,
                "latency_ms": r.latency_ms,
                "error": r.error[:ERROR_LENGTH_MAX],
                "probed_at": now,
            }
            for r in results
        ]
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            for row in rows:
                store.insert_probe(conn, row)
        if self._recorder is not None:
            for r in results:
                self._recorder.record(f"probe:{r.target}", good=r.ok, at=now)

    # -- the probes ----------------------------------------------------------------------

    def _payin_job(self, channel: str) -> Callable[[], ProbeResult]:
        return lambda: self._payin(channel)

    def _payin(self, channel: str) -> ProbeResult:
        target = f"payin:{channel}"
        self._ensure_merchant()
        cmd = PayinCommand(
            merchant_id=PROBE_MERCHANT_ID,
            product=self.config.product,
            amount=self.config.amount_minor,
            currency=self.config.currency,
            payer=PROBE_PAYER,
            description="paycore availability probe",
            expires_in_s=limits.PAYIN_EXPIRY_S_MIN,
        )
        started = time.monotonic()
        created = self._payments_through(channel).create_payin(
            cmd, idempotency_key=ids.new_id("probe")
        )
        latency_ms = _ms_since(started)
        body = created.body
        failure = body.get("failure") or {}
        if created.status_code >= 500 or failure.get("class") in _BAD_CLASSES:
            code = failure.get("code") or body.get("code") or f"http_{created.status_code}"
            return ProbeResult(target, False, latency_ms, str(code))
        return ProbeResult(target, True, latency_ms)

    def _get(self, target: str, path: str, *, auth: bool) -> ProbeResult:
        headers = {"Authorization": f"Bearer {self._read_key()}"} if auth else {}
        started = time.monotonic()
        response = self._http.get(path, headers=headers)  # the client's own timeout
        latency_ms = _ms_since(started)
        if response.status_code != 200:
            return ProbeResult(target, False, latency_ms, f"http_{response.status_code}")
        return ProbeResult(target, True, latency_ms)

    def _payments_through(self, channel: str) -> Payments:
        """The Payments service with routing pinned to `channel` (same ledger, same store,
        same settlement): the probe takes the path a merchant's pay-in takes."""
        pinned = self._per_channel.get(channel)
        if pinned is None:
            ctx = replace(self._payments.ctx, router=_OneChannel(channel, self._allows))
            pinned = Payments(ctx, cipher=self._cipher, merchant_fee_bps=self._fee_bps)
            self._per_channel[channel] = pinned
        return pinned

    def _payins_paused(self) -> bool:
        """An operator pauses the probes' pay-ins, without a restart, by suspending the
        probe merchant; the health and read probes go on."""
        merchant = self._merchants.get(PROBE_MERCHANT_ID)
        return merchant is not None and merchant.status is not MerchantStatus.ACTIVE

    def _fee_bps(self, merchant_id: str) -> int | None:
        """As for any merchant: None (refused) when suspended."""
        merchant = self._merchants.get(merchant_id)
        active = merchant is not None and merchant.status is MerchantStatus.ACTIVE
        return merchant.fee_bps if merchant is not None and active else None

    def _ensure_merchant(self) -> None:
        if self._merchant_ready:
            return
        if self._merchants.get(PROBE_MERCHANT_ID) is None:
            try:
                self._merchants.create(name="paycore prober", merchant_id=PROBE_MERCHANT_ID)
            except Rejected as error:
                if error.code != "merchant_exists":  # another process made it first
                    raise
        self._merchant_ready = True

    def _read_key(self) -> str:
        if self._key is None:
            self._ensure_merchant()
            key, clear = self._api_keys.issue(
                merchant_id=PROBE_MERCHANT_ID, scopes=["payments:read"], label="prober"
            )
            self._key = (key.id, clear)
        return self._key[1]


def payin_channels(router: Any, registered: Sequence[str]) -> list[str]:
    """Channels some route offers for pay-ins, in the order routes name them."""
    names: list[str] = []
    for route in getattr(router, "routes", ()):
        if route.serves(Operation.PAYIN):
            for candidate in route.candidates:
                if candidate.channel in registered and candidate.channel not in names:
                    names.append(candidate.channel)
    return names


def _guarded(target: str, job: Callable[[], ProbeResult]) -> ProbeResult:
    """A probe that raises is a failed probe, with the error's type and code only (an
    exception's text may quote a request)."""
    started = time.monotonic()
    try:
        return job()
    except Rejected as error:
        return ProbeResult(target, False, _ms_since(started), error.code)
    except httpx.TimeoutException:
        return ProbeResult(target, False, _ms_since(started), "timeout")
    except Exception as error:
        log.warning("probe %s failed: %s", target, type(error).__name__)
        return ProbeResult(target, False, _ms_since(started), type(error).__name__)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
