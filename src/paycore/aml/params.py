"""The rules' parameters: one frozen dataclass per rule, defaults here, overrides from a file.

`PAYCORE_AML_RULES_FILE` (TOML or JSON) overrides any default, a section per rule:

    [fan_in]
    min_payers = 40
    [scoring]
    threshold = 60

An unknown rule or parameter, or a value of the wrong type, is refused
(`aml_rules_invalid`): a typo must not silently leave a default in force.
Amounts are minor units (CNY fen); hours are Asia/Shanghai local time.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from paycore.errors import Rejected

RULES_FILE_ENV = "PAYCORE_AML_RULES_FILE"


@dataclass(frozen=True)
class FanIn:
    min_payers: int = 25
    min_total_minor: int = 5_000_000
    min_median_minor: int = 80_000
    min_days: int = 3
    points: int = 60


@dataclass(frozen=True)
class FanOut:
    min_payees: int = 12
    min_total_minor: int = 2_000_000
    points: int = 55


@dataclass(frozen=True)
class PassThrough:
    min_in_minor: int = 1_000_000
    max_delay_minutes: int = 120
    min_quick_share: float = 0.8
    max_kept_share: float = 0.1
    points: int = 60


@dataclass(frozen=True)
class Structuring:
    thresholds_minor: tuple[int, ...] = (1_000_000, 5_000_000)
    margin: float = 0.1
    window_days: int = 14
    min_count: int = 3
    list_price_min_payers: int = 5
    points: int = 55


@dataclass(frozen=True)
class RefundAbuse:
    min_refunds_elsewhere: int = 2
    points: int = 50


@dataclass(frozen=True)
class Cycle:
    min_length: int = 2
    max_length: int = 4
    min_amount_minor: int = 1_000_000
    max_hours: int = 168
    min_hop_ratio: float = 0.8
    points: int = 70


@dataclass(frozen=True)
class OddHours:
    night_start_hour: int = 0
    night_end_hour: int = 5
    max_usual_night_share: float = 0.1
    min_ticket_ratio: float = 5.0
    min_count: int = 5
    min_total_minor: int = 1_500_000
    points: int = 50


@dataclass(frozen=True)
class VolumeChange:
    min_history_weeks: int = 4
    min_ratio: float = 4.0
    min_increase_minor: int = 10_000_000
    min_orders_ratio: float = 2.0
    min_orders_increase: int = 20
    points: int = 50


@dataclass(frozen=True)
class ManyCards:
    min_cards: int = 5
    window_days: int = 30
    points: int = 50


@dataclass(frozen=True)
class Scoring:
    threshold: int = 50
    bonus_per_severity: int = 5
    """Points per whole multiple of a rule's threshold beyond the first."""
    bonus_max: int = 20


@dataclass(frozen=True)
class Params:
    fan_in: FanIn = field(default_factory=FanIn)
    fan_out: FanOut = field(default_factory=FanOut)
    pass_through: PassThrough = field(default_factory=PassThrough)
    structuring: Structuring = field(default_factory=Structuring)
    refund_abuse: RefundAbuse = field(default_factory=RefundAbuse)
    cycle: Cycle = field(default_factory=Cycle)
    odd_hours: OddHours = field(default_factory=OddHours)
    volume_change: VolumeChange = field(default_factory=VolumeChange)
    many_cards: ManyCards = field(default_factory=ManyCards)
    scoring: Scoring = field(default_factory=Scoring)


def load(path: Path | None = None) -> Params:
    """The defaults, overridden by `path` or else by `PAYCORE_AML_RULES_FILE` when set."""
    if path is None:
        env = os.environ.get(RULES_FILE_ENV)
        if not env:
            return Params()
        path = Path(env)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise Rejected("aml_rules_invalid", f"cannot read {path.name}: {exc}") from exc
    return overridden(Params(), raw)


def overridden(params: Params, raw: Any) -> Params:
    if not isinstance(raw, dict):
        raise Rejected("aml_rules_invalid", "the rules file is a table of sections")
    sections = {f.name for f in fields(params)}
    changes: dict[str, Any] = {}
    for name, values in raw.items():
        if name not in sections or not isinstance(values, dict):
            raise Rejected("aml_rules_invalid", f"unknown rule section {name!r}")
        changes[name] = _section(getattr(params, name), name, values)
    return replace(params, **changes)


def _section(current: Any, name: str, values: dict[str, Any]) -> Any:
    known = {f.name: getattr(current, f.name) for f in fields(current)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise Rejected("aml_rules_invalid", f"unknown parameter {name}.{key}")
        changes[key] = _typed(f"{name}.{key}", known[key], value)
    return replace(current, **changes)


def _typed(where: str, default: Any, value: Any) -> Any:
    if isinstance(default, tuple):
        if isinstance(value, list) and all(_is_int(v) and v > 0 for v in value) and value:
            return tuple(value)
        raise Rejected("aml_rules_invalid", f"{where} is a non-empty list of positive integers")
    if isinstance(default, float) and (_is_int(value) or isinstance(value, float)):
        if value < 0:
            raise Rejected("aml_rules_invalid", f"{where} must not be negative")
        return float(value)
    if isinstance(default, int) and _is_int(value):
        if value < 0:
            raise Rejected("aml_rules_invalid", f"{where} must not be negative")
        return value
    raise Rejected("aml_rules_invalid", f"{where} must be a {type(default).__name__}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
