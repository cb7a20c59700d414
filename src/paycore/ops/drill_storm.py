"""month-end-storm (the 3/1 incident: the bill center's pool exhausted by month-end
queries): merchants' readers ask for their month's statement over and over through the
HTTP app, in-process, while pay-ins run.

Bill admission (bills/admission.py) turns most of them away with 429 and the reports pool
is never exhausted; the pay-ins keep succeeding; the bills-pool-saturated detector opens an
incident, which closes once the readers stop. Expected: every bill answer 200 or 429, at
least one 429, no pay-in failed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from paycore.ops.detectors import bills_reading
from paycore.ops.drill_sandbox import Sandbox
from paycore.ops.drill_traffic import Traffic
from paycore.ops.drills import Driver
from paycore.web.app import create_app

STORM_MERCHANTS = 5
STORM_READERS = 24
"""Readers asking at once, each again as soon as answered (no Retry-After honoured: the
storm of a month-end morning)."""
REFUSALS_PER_TICK = 25
"""The storm's pace on the drill's clock: each drill second holds at least this many
refusals (more than the detector's 20 a tick), whatever the machine's speed."""
PACE_WAIT_S = 5.0
"""Real seconds a tick waits for them at most."""
STORM_AFTER_DETECTION_S = 10
"""Drill seconds the storm goes on after the incident opened."""
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
STORM_ROUTE = "/v1/bills/{merchant}/statements/{month}"


class Storm:
    """Readers in threads, each asking for its merchant's statement until `stop()`."""

    def __init__(self, client: TestClient, keys: list[tuple[str, str]], month: str) -> None:
        self._client = client
        self._keys = keys
        self._month = month
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.codes: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(STORM_READERS, thread_name_prefix="drill-reader")

    def start(self) -> None:
        for n in range(STORM_READERS):
            self._pool.submit(self._reader, self._keys[n % len(self._keys)])

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)

    def pace(self) -> None:
        """Wait until the storm has made REFUSALS_PER_TICK more refusals (a drill second)."""
        with self._lock:
            target = self.statuses[429] + REFUSALS_PER_TICK
        deadline = time.monotonic() + PACE_WAIT_S
        while time.monotonic() < deadline and not self._stop.is_set():
            with self._lock:
                if self.statuses[429] >= target:
                    return
            time.sleep(0.005)

    def _reader(self, target: tuple[str, str]) -> None:
        merchant, key = target
        path = STORM_ROUTE.format(merchant=merchant, month=self._month)
        headers = {"Authorization": f"Bearer {key}"}
        while not self._stop.is_set():
            response = self._client.get(path, headers=headers)
            code = ""
            if response.status_code != 200:
                code = str(response.json().get("code", ""))
            with self._lock:
                self.statuses[response.status_code] += 1
                if code:
                    self.codes[code] += 1


def run(driver: Driver, box: Sandbox, traffic: Traffic) -> None:
    runtime = box.runtime
    month = box.clock.now().astimezone(BUSINESS_TZ).strftime("%Y-%m")
    keys = []
    for n in range(STORM_MERCHANTS):
        merchant, _secret = runtime.merchants.create(name=f"Drill storm {n}")
        _key, clear = runtime.api_keys.issue(merchant_id=merchant.id, label="drill")
        keys.append((merchant.id, clear))
    traffic.payins(3)
    with TestClient(create_app(runtime=runtime)) as client:
        storm = Storm(client, keys, month)
        driver.beside_tick.append(lambda: _payin_or_fail(driver, traffic))
        storm.start()
        driver.beside_tick.append(storm.pace)
        driver.fault(f"{STORM_READERS} readers of {STORM_MERCHANTS} merchants' bills at once")
        try:
            driver.await_incidents()
            driver.tick_until(lambda: False, within_s=STORM_AFTER_DETECTION_S)
        finally:
            storm.stop()
            driver.beside_tick.remove(storm.pace)
        driver.recover("the readers stopped")
        driver.await_closed()
        driver.beside_tick.clear()
    _judge(driver, storm)
    reading = bills_reading(runtime.bills_admission, runtime.reports_engine)
    driver.timeline.facts["pool_waits"] = reading.waits_total
    if reading.waits_total:
        driver.fail(f"{reading.waits_total} bills waited for a reports connection: exhausted")


def _payin_or_fail(driver: Driver, traffic: Traffic) -> None:
    status = traffic.payin()
    if status != "succeeded":
        driver.fail(f"a pay-in during the storm ended {status}")


def _judge(driver: Driver, storm: Storm) -> None:
    answers = dict(storm.statuses)
    driver.timeline.facts.update(
        bills_answered=sum(answers.values()),
        bills_ok=answers.get(200, 0),
        bills_refused=answers.get(429, 0),
    )
    driver.note(f"bill answers by status: {answers}; refusals: {dict(storm.codes)}")
    unexpected = {s: n for s, n in answers.items() if s not in (200, 429)}
    if unexpected:
        driver.fail(f"bill answers other than 200 or 429: {unexpected}")
    if not answers.get(429):
        driver.fail("admission refused no bill: the storm never reached its limits")
    if set(storm.codes) - {"bills_busy", "bills_rate_limited"}:
        driver.fail(f"refusals other than admission's: {dict(storm.codes)}")
