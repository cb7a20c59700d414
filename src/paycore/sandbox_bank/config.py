"""How a sandbox bank is set up: its failure mix (changeable at runtime) and its config."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paycore import strict_json
from paycore.errors import Rejected
from paycore.sandbox_bank.model import (
    DEFAULT_BANK_KEY_ID,
    DEFAULT_DATA_DIR,
    DEFAULT_MERCHANT_ID,
    DEFAULT_PORT,
    INVALID_REQUEST,
)


@dataclass(frozen=True, slots=True)
class FaultMix:
    """How the bank behaves; changeable at runtime (PUT /admin/faults).

    Rates are probabilities in [0, 1]. Transport faults (unavailable, error_after, timeout)
    are drawn first and apply to create requests; then merchant errors, then declines, then
    unknown results; the rest succeed. Delays are seconds.
    """

    unavailable_rate: float = 0.0  # 503 before processing
    error_after_rate: float = 0.0  # 500 after recording the transaction
    timeout_rate: float = 0.0  # processed, answered after timeout_delay_s
    invalid_request_rate: float = 0.0  # refused as invalid_request (merchant error)
    decline_rate: float = 0.0  # user-caused declines (insufficient_funds, account_closed, ...)
    channel_decline_rate: float = 0.0  # bank-caused failures (issuer_unavailable, ...)
    unknown_rate: float = 0.0  # stays processing with no notification; final only via query
    sync_rate: float = 0.1  # share of results given in the response instead of later
    payout_return_rate: float = 0.0  # paid payouts that come back after return_delay_s
    duplicate_rate: float = 0.0  # notifications delivered twice
    reorder_rate: float = 0.0  # notifications held back reorder_delay_s so later ones pass
    hang: bool = False  # every non-admin request stalls hang_min_s..hang_max_s
    hang_min_s: float = 3.0
    hang_max_s: float = 10.0
    timeout_delay_s: float = 5.0
    complete_min_s: float = 0.05  # asynchronous results arrive after this ...
    complete_max_s: float = 0.5  # ... and before this
    notify_delay_s: float = 0.0  # extra wait before the first delivery of a notification
    reorder_delay_s: float = 0.5
    return_delay_s: float = 86_400.0
    notify_retry_base_s: float = 0.5  # back-off doubles from here ...
    notify_retry_max_s: float = 60.0  # ... up to here
    notify_attempts_max: int = 8
    notify_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        problems = _fault_problems(self)
        if problems:
            raise Rejected(INVALID_REQUEST, "; ".join(problems))

    def updated(self, changes: Mapping[str, Any]) -> FaultMix:
        """This mix with `changes` applied; unknown fields or bad values are Rejected."""
        names = {f.name: f for f in dataclasses.fields(self)}
        typed: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in names:
                raise Rejected(INVALID_REQUEST, f"unknown fault setting {name!r}")
            typed[name] = _coerce(name, value, getattr(self, name))
        return dataclasses.replace(self, **typed)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any, current: Any) -> Any:
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise Rejected(INVALID_REQUEST, f"{name} must be true or false")
        return value
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise Rejected(INVALID_REQUEST, f"{name} must be an integer")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(INVALID_REQUEST, f"{name} must be a number")
    return float(value)


def _fault_problems(mix: FaultMix) -> list[str]:
    problems = []
    for f in dataclasses.fields(mix):
        value = getattr(mix, f.name)
        if isinstance(value, float) and (not math.isfinite(value) or value < 0):
            problems.append(f"{f.name} must be a finite number >= 0")
        elif f.name.endswith("_rate") and value > 1:
            problems.append(f"{f.name} must be at most 1")
    transport = mix.unavailable_rate + mix.error_after_rate + mix.timeout_rate
    outcome = mix.invalid_request_rate + mix.decline_rate + mix.channel_decline_rate
    if transport > 1:
        problems.append("unavailable_rate + error_after_rate + timeout_rate exceed 1")
    if outcome + mix.unknown_rate > 1:
        problems.append("invalid_request, decline, channel_decline and unknown rates exceed 1")
    if mix.hang_min_s > mix.hang_max_s or mix.complete_min_s > mix.complete_max_s:
        problems.append("a minimum delay is above its maximum")
    if mix.notify_attempts_max < 1:
        problems.append("notify_attempts_max must be at least 1")
    return problems


@dataclass(frozen=True, slots=True)
class BankConfig:
    """Everything a bank process needs. `load` reads `<data_dir>/bank.json` if present."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    seed: int | None = None  # None: a different failure sequence on every start
    merchant_id: str = DEFAULT_MERCHANT_ID
    bank_key_id: str = DEFAULT_BANK_KEY_ID
    fee_bps: int = 0  # the bank's fee on each paid pay-in, in basis points (statement Fee)
    business_timezone: str = "Asia/Shanghai"
    faults: FaultMix = field(default_factory=FaultMix)

    CONFIG_FILE = "bank.json"
    DATABASE_FILE = "bank.db"
    BANK_PRIVATE_KEY_FILE = "bank_private.pem"
    BANK_PUBLIC_KEY_FILE = "bank_public.pem"
    MERCHANT_PRIVATE_KEY_FILE = "merchant_private.pem"
    MERCHANT_PUBLIC_KEY_FILE = "merchant_public.pem"

    @classmethod
    def load(
        cls,
        data_dir: Path | str,
        *,
        faults: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> BankConfig:
        """`<data_dir>/bank.json` (every key optional; "faults" an object of FaultMix
        fields), then `faults` changes, then the other `overrides` that are not None."""
        data_dir = Path(data_dir)
        path = data_dir / cls.CONFIG_FILE
        saved: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        mix = FaultMix().updated(saved.pop("faults", {})).updated(faults or {})
        known = {f.name for f in dataclasses.fields(cls)} - {"data_dir", "faults"}
        unknown = (set(saved) | set(overrides)) - known
        if unknown:
            raise Rejected(INVALID_REQUEST, f"unknown bank settings: {sorted(unknown)}")
        values = {**saved, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(data_dir=data_dir, faults=mix, **values)

    @property
    def database_path(self) -> Path:
        return self.data_dir / self.DATABASE_FILE


def faults_from_json(text: str) -> dict[str, Any]:
    """`--faults '{"decline_rate": 0.05}'` as a mapping (validated by FaultMix.updated)."""
    try:
        value = strict_json.loads(text)
    except strict_json.MalformedJson as exc:
        raise Rejected(INVALID_REQUEST, f"faults is not JSON: {exc.detail}") from exc
    if not isinstance(value, dict):
        raise Rejected(INVALID_REQUEST, "faults must be a JSON object")
    return value
