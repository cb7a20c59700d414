"""SLOs as configuration, and the arithmetic of multi-window burn-rate alerts. Pure.

An SLO names the SLIs it covers by prefix: `success:payin` covers `success:payin:<channel>`
(minutes of effective pay-in outcomes per channel), `probe` covers `probe:<target>`,
`api_availability` and `latency:<family>` are single SLIs. Targets are exact, in parts per
million. An SLO with `per_sli` is also evaluated for each SLI under it on its own, so a
single channel burning its budget is seen even when the others hide it in the total.

Alerting follows the SRE workbook ("Alerting on SLOs", multiwindow, multi-burn-rate):
burn rate = error ratio / (1 - target); a pair fires when the burn rate over both its
long and its short window exceeds the pair's factor. The documented defaults are
`DEFAULT_SLOS`, `ALERT_WINDOWS` and `DEFAULT_PROBE` (ops/README.md).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, TypeGuard

from paycore.errors import Rejected
from paycore.ops.model import Severity

PPM = 1_000_000
CODE = "invalid_slo_config"
NAME_LENGTH_MAX = 48
"""ops_sli_minutes.sli is 64 characters: an SLO's name plus `:<channel>` must fit."""
SLOS_MAX = 100
LATENCY_THRESHOLD_MS_MAX = 600_000


class SloKind(enum.StrEnum):
    SUCCESS = "success"
    """Effective success rate of orders of one kind (payin, payout, refund), per channel."""
    AVAILABILITY = "availability"
    """Requests to the API that did not answer 5xx."""
    LATENCY = "latency"
    """Requests of a route family answered within `threshold_ms`."""
    PROBE = "probe"
    """The prober's synthetic pay-ins, health and read calls that worked."""


@dataclass(frozen=True, slots=True)
class WindowPair:
    name: str
    long_s: int
    short_s: int
    factor: Fraction
    severity: Severity


ALERT_WINDOWS: tuple[WindowPair, ...] = (
    WindowPair("1h/5m", 3600, 300, Fraction(144, 10), Severity.PAGE),
    WindowPair("6h/30m", 6 * 3600, 1800, Fraction(6), Severity.PAGE),
    WindowPair("1d/2h", 86400, 2 * 3600, Fraction(3), Severity.TICKET),
    WindowPair("3d/6h", 3 * 86400, 6 * 3600, Fraction(1), Severity.TICKET),
)
"""The SRE workbook's table: 2% of a 30-day budget in 1 h, 5% in 6 h (page); 10% in 1 d,
10% in 3 d (ticket)."""


@dataclass(frozen=True, slots=True)
class Slo:
    name: str
    kind: SloKind
    target_ppm: int
    description: str = ""
    threshold_ms: int | None = None
    """Latency SLOs only: a request slower than this is bad."""
    prefixes: tuple[str, ...] = ()
    """Latency SLOs only: the request paths of the route family."""
    per_sli: bool = False

    @property
    def target(self) -> Fraction:
        return Fraction(self.target_ppm, PPM)

    @property
    def budget(self) -> Fraction:
        """The error budget, 1 - target (never 0: a target of 100% is refused)."""
        return 1 - self.target

    def covers(self, sli: str) -> bool:
        return sli == self.name or sli.startswith(self.name + ":")

    def narrowed(self, sli: str) -> Slo:
        """The same objective over one SLI under it (a channel, a probe target)."""
        return Slo(sli, self.kind, self.target_ppm, self.description, self.threshold_ms)


def _latency(family: str, threshold_ms: int, *prefixes: str) -> Slo:
    return Slo(
        f"latency:{family}",
        SloKind.LATENCY,
        990_000,
        f"99% of {family} requests answered within {threshold_ms} ms",
        threshold_ms=threshold_ms,
        prefixes=prefixes,
    )


DEFAULT_SLOS: tuple[Slo, ...] = (
    Slo("success:payin", SloKind.SUCCESS, 999_900, "effective pay-in success", per_sli=True),
    Slo("success:payout", SloKind.SUCCESS, 999_500, "effective payout success", per_sli=True),
    Slo("success:refund", SloKind.SUCCESS, 999_500, "effective refund success", per_sli=True),
    Slo("api_availability", SloKind.AVAILABILITY, 999_900, "API requests not answered 5xx"),
    _latency("payments", 500, "/v1/payins", "/v1/payouts", "/v1/refunds", "/v1/channels"),
    _latency("ledger", 200, "/v1/accounts", "/v1/transfers", "/v1/balances"),
    _latency("bills", 5000, "/v1/bills"),
    _latency("ops", 1000, "/v1/ops", "/healthz", "/metrics", "/v1/checks"),
    _latency("other", 1000),
    Slo("probe", SloKind.PROBE, 999_900, "synthetic probes that worked", per_sli=True),
)
"""Pay-in 99.99%, payout and refund 99.95% (the seed's 有效成功率), API availability 99.99%,
latency: 99% under 500 ms (payments), 200 ms (ledger), 5 s (bills), 1 s (ops, other)."""


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    enabled: bool = True
    interval_s: float = 30.0
    timeout_s: float = 5.0
    """Every probe's deadline, pay-in included: the prober never waits longer."""
    amount_minor: int = 1
    currency: str = "CNY"
    product: str = "probe"


DEFAULT_PROBE = ProbeConfig()


@dataclass(frozen=True, slots=True)
class SloConfig:
    slos: tuple[Slo, ...] = DEFAULT_SLOS
    windows: tuple[WindowPair, ...] = ALERT_WINDOWS
    probe: ProbeConfig = field(default_factory=ProbeConfig)

    def get(self, name: str) -> Slo | None:
        return next((s for s in self.slos if s.name == name), None)

    def latency_slos(self) -> tuple[Slo, ...]:
        return tuple(s for s in self.slos if s.kind is SloKind.LATENCY)

    def route_family(self, path: str) -> Slo | None:
        """The latency SLO of a request path: the longest matching prefix, else the one
        without prefixes (the catch-all), else None."""
        best: tuple[int, Slo] | None = None
        fallback = None
        for slo in self.latency_slos():
            if not slo.prefixes:
                fallback = fallback or slo
            for prefix in slo.prefixes:
                hit = path == prefix or path.startswith(prefix.rstrip("/") + "/")
                if hit and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), slo)
        return best[1] if best else fallback

    def durations_s(self) -> tuple[int, ...]:
        """Every distinct window length, shortest first."""
        return tuple(sorted({d for w in self.windows for d in (w.long_s, w.short_s)}))


# -- burn-rate arithmetic ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    good: int = 0
    total: int = 0

    @property
    def bad(self) -> int:
        return self.total - self.good

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.good + other.good, self.total + other.total)


def error_ratio(counts: Counts) -> Fraction:
    return Fraction(0) if counts.total <= 0 else Fraction(counts.bad, counts.total)


def burn_rate(counts: Counts, slo: Slo) -> Fraction:
    """How many times faster than the budget allows the errors are spent (1 = exactly)."""
    return error_ratio(counts) / slo.budget


def to_ppm(value: Fraction) -> int:
    """An exact ratio as an int in parts per million, rounded down."""
    return int(value * PPM)


@dataclass(frozen=True, slots=True)
class Verdict:
    slo: Slo
    pair: WindowPair
    burn_long: Fraction
    burn_short: Fraction

    @property
    def firing(self) -> bool:
        return self.burn_long > self.pair.factor and self.burn_short > self.pair.factor


def judge(slo: Slo, pair: WindowPair, *, long: Counts, short: Counts) -> Verdict:
    return Verdict(slo, pair, burn_rate(long, slo), burn_rate(short, slo))


# -- loading ----------------------------------------------------------------------------


def load_config(path: str | None) -> SloConfig:
    """The defaults without a path; else the file's JSON (see `parse_config`)."""
    if not path:
        return SloConfig()
    try:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    except OSError as error:
        raise Rejected(CODE, f"{path}: {error.strerror}") from None
    except ValueError as error:
        raise Rejected(CODE, f"{path}: not JSON ({error})") from None
    return parse_config(document)


def parse_config(document: Any) -> SloConfig:
    """`{"slos": [...], "probe": {...}}`, both optional. An `slos` list replaces the
    defaults whole; each entry: name, kind, target ("99.99%" or target_ppm), and for
    latency threshold_ms and prefixes; per_sli, description optional. Unknown keys are
    refused, so a misspelt setting never silently keeps its default."""
    top = _object(document, "the SLO file", {"slos", "probe"})
    slos = DEFAULT_SLOS
    if "slos" in top:
        entries = top["slos"]
        if not isinstance(entries, list) or not 0 < len(entries) <= SLOS_MAX:
            raise Rejected(CODE, f"slos is a list of 1 to {SLOS_MAX} objects")
        slos = tuple(_slo(entry) for entry in entries)
        names = [s.name for s in slos]
        if len(set(names)) != len(names):
            raise Rejected(CODE, "two SLOs have the same name")
    probe = _probe(top["probe"]) if "probe" in top else DEFAULT_PROBE
    return SloConfig(slos=slos, probe=probe)


_NAME = re.compile(r"[a-z][a-z0-9_]*(:[a-z0-9_]+)*")
"""Letters a rules file can use as a literal regex; `:` separates an SLO from its SLIs."""
_SLO_KEYS = {"name", "kind", "target", "target_ppm", "description", "threshold_ms"}
_SLO_KEYS |= {"prefixes", "per_sli"}


def _slo(entry: Any) -> Slo:
    raw = _object(entry, "an SLO", _SLO_KEYS)
    name = _text(raw, "name")
    if not _NAME.fullmatch(name) or len(name) > NAME_LENGTH_MAX:
        raise Rejected(CODE, f"an SLO name is 1 to {NAME_LENGTH_MAX} of a-z, 0-9, _ and :")
    try:
        kind = SloKind(_text(raw, "kind"))
    except ValueError:
        raise Rejected(CODE, f"{name}: kind is one of {[k.value for k in SloKind]}") from None
    threshold_ms: Any = raw.get("threshold_ms")
    prefixes = raw.get("prefixes", [])
    if kind is SloKind.LATENCY:
        if not _int(threshold_ms) or not 0 < threshold_ms <= LATENCY_THRESHOLD_MS_MAX:
            raise Rejected(CODE, f"{name}: threshold_ms is 1 to {LATENCY_THRESHOLD_MS_MAX}")
    elif threshold_ms is not None or prefixes:
        raise Rejected(CODE, f"{name}: only latency SLOs have threshold_ms and prefixes")
    if not isinstance(prefixes, list) or not all(
        isinstance(p, str) and p.startswith("/") for p in prefixes
    ):
        raise Rejected(CODE, f"{name}: prefixes is a list of paths starting with /")
    per_sli = raw.get("per_sli", False)
    if not isinstance(per_sli, bool):
        raise Rejected(CODE, f"{name}: per_sli is true or false")
    return Slo(
        name,
        kind,
        _target_ppm(raw, name),
        str(raw.get("description", "")),
        threshold_ms=threshold_ms,
        prefixes=tuple(prefixes),
        per_sli=per_sli,
    )


def _target_ppm(raw: Mapping[str, Any], name: str) -> int:
    if ("target" in raw) == ("target_ppm" in raw):
        raise Rejected(CODE, f'{name}: give target ("99.99%") or target_ppm, one of them')
    if "target_ppm" in raw:
        ppm = raw["target_ppm"]
        if not _int(ppm):
            raise Rejected(CODE, f"{name}: target_ppm is an integer")
    else:
        ppm = parse_percent(raw["target"], name)
    if not 0 < ppm < PPM:
        raise Rejected(CODE, f"{name}: a target is above 0% and below 100%")
    return int(ppm)


def parse_percent(text: Any, name: str) -> int:
    """ "99.99%" -> 999900, exactly; a percentage finer than a millionth is refused."""
    if not isinstance(text, str) or not text.endswith("%"):
        raise Rejected(CODE, f'{name}: target is a percentage such as "99.95%"')
    try:
        value = Decimal(text[:-1].strip()) * 10_000
    except InvalidOperation:
        raise Rejected(CODE, f"{name}: {text!r} is not a percentage") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise Rejected(CODE, f"{name}: {text!r} is finer than a millionth")
    return int(value)


def _probe(entry: Any) -> ProbeConfig:
    keys = {"enabled", "interval_s", "timeout_s", "amount_minor", "currency", "product"}
    raw = _object(entry, "probe", keys)
    base = DEFAULT_PROBE
    enabled = raw.get("enabled", base.enabled)
    interval_s = raw.get("interval_s", base.interval_s)
    timeout_s = raw.get("timeout_s", base.timeout_s)
    amount = raw.get("amount_minor", base.amount_minor)
    if not isinstance(enabled, bool):
        raise Rejected(CODE, "probe.enabled is true or false")
    for label, value, low, high in (
        ("interval_s", interval_s, 1, 3600),
        ("timeout_s", timeout_s, 0.1, 60),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Rejected(CODE, f"probe.{label} is a number")
        if not low <= value <= high:
            raise Rejected(CODE, f"probe.{label} is {low} to {high}")
    if timeout_s >= interval_s:
        raise Rejected(CODE, "probe.timeout_s is shorter than probe.interval_s")
    if not _int(amount) or not 0 < amount <= 100:
        raise Rejected(CODE, "probe.amount_minor is 1 to 100 minor units")
    currency = raw.get("currency", base.currency)
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
        raise Rejected(CODE, "probe.currency is an ISO 4217 code")
    product = raw.get("product", base.product)
    if not isinstance(product, str) or not product:
        raise Rejected(CODE, "probe.product is a product name")
    return ProbeConfig(enabled, float(interval_s), float(timeout_s), amount, currency, product)


def _object(value: Any, what: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Rejected(CODE, f"{what} is a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise Rejected(CODE, f"{what}: unknown key(s) {', '.join(unknown)}")
    return value


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise Rejected(CODE, f"an SLO's {key} is text")
    return value


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
