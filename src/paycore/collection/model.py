"""Recurring collection plans (代收): terms, the monthly schedule, retries. Pure.

A plan collects `amount` from a tenant every month for a landlord, minus the merchant's
service fee. Each month is a *period*; each try to collect it is an *attempt*, with its
own ledger transfer ids, because the ledger remembers a failed id forever.
"""

from __future__ import annotations

import calendar
import enum
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from paycore import limits
from paycore.errors import Rejected
from paycore.money import is_known_currency
from paycore.text import is_ascii_digits
from paycore.wallets.model import check_owner

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
"""Due dates are local dates here; a period falls due at 00:00 local time."""

PERIODS_MAX = 120
"""Ten years of monthly rent; an open-ended plan has no end but shows this many at most."""
UPCOMING_SHOWN_OPEN_ENDED = 12
ATTEMPTS_MAX = 5
RETRY_INTERVAL_S_MIN = 3600
RETRY_INTERVAL_S_MAX = 7 * 24 * 3600
RETRY_INTERVAL_S_DEFAULT = 24 * 3600
ATTEMPTS_DEFAULT = 3
LEASE_S = 300
"""A claimed attempt not finished within this long is presumed crashed and resumed."""
RUN_BATCH_MAX = 200
"""Plans, periods or attempts one pass of `run_due` takes of each kind."""
REFERENCE_MAX = 64
DESCRIPTION_PREFIX = "rent"

LAST_DAY = "last"
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")  # \d would take every script's digits


class PlanStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class Method(enum.StrEnum):
    WALLET = "wallet"  # from the tenant's wallet, by ledger transfers alone
    CHANNEL = "channel"  # a pay-in charging the tenant's card


class PeriodStatus(enum.StrEnum):
    UPCOMING = "upcoming"  # not due yet (never stored: projected from the plan)
    COLLECTING = "collecting"  # an attempt is running or waiting for the channel
    RETRYING = "retrying"  # an attempt failed; the next one is scheduled
    PAID = "paid"
    FAILED = "failed"  # every attempt failed
    SKIPPED = "skipped"  # fell due while the plan was paused
    CANCELLED = "cancelled"  # the plan was cancelled before it was collected


OPEN_PERIODS = (PeriodStatus.COLLECTING, PeriodStatus.RETRYING)


class AttemptStatus(enum.StrEnum):
    RUNNING = "running"  # claimed; moving money or calling the channel
    PENDING = "pending"  # the channel accepted the pay-in; its result is awaited
    CAPTURED = "captured"  # the pay-in succeeded; the landlord is not paid yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"


OPEN_ATTEMPTS = (AttemptStatus.RUNNING, AttemptStatus.PENDING, AttemptStatus.CAPTURED)

# Which plan action is allowed from which status.
_ACTIONS: dict[str, tuple[frozenset[PlanStatus], PlanStatus]] = {
    "pause": (frozenset({PlanStatus.ACTIVE}), PlanStatus.PAUSED),
    "resume": (frozenset({PlanStatus.PAUSED}), PlanStatus.ACTIVE),
    "cancel": (frozenset({PlanStatus.ACTIVE, PlanStatus.PAUSED}), PlanStatus.CANCELLED),
}


def next_status(current: PlanStatus, action: str) -> PlanStatus:
    """The plan's status after `action`, or Rejected: a cancelled or completed plan is done."""
    allowed, target = _ACTIONS[action]
    if current not in allowed:
        raise Rejected(f"plan_{current.value}", f"a {current.value} plan cannot {action}")
    return target


@dataclass(frozen=True, slots=True)
class Terms:
    """What a merchant asks for when it creates a plan (validated by `check_terms`)."""

    tenant: str
    landlord: str
    amount: int
    currency: str
    due_day: str  # "1".."28" or "last"
    start_month: date  # the first of the month of the first period
    periods: int | None  # None: open-ended
    method: Method
    fee_bps: int | None = None
    fee_fixed: int | None = None
    max_attempts: int = ATTEMPTS_DEFAULT
    retry_interval_s: int = RETRY_INTERVAL_S_DEFAULT
    product: str = "rent"


@dataclass(slots=True, kw_only=True)
class Plan:
    id: str
    merchant_id: str
    reference: str | None
    terms: Terms
    fee_amount: int
    card_enc: str | None
    card_masked: str | None
    status: PlanStatus
    next_period_no: int  # the first period not yet due (1-based)
    next_due_at: datetime | None  # when it falls due; None when no period is left
    created_at: datetime
    updated_at: datetime

    @property
    def landlord_net(self) -> int:
        return self.terms.amount - self.fee_amount


@dataclass(frozen=True, slots=True)
class Period:
    plan_id: str
    period_no: int
    due_date: date
    status: PeriodStatus
    attempts_made: int
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    id: str
    plan_id: str
    period_no: int
    attempt_no: int
    method: Method
    status: AttemptStatus
    payin_id: str | None
    failure_code: str | None
    settle_tries: int
    started_at: datetime
    lease_until: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ScheduleLine:
    period_no: int
    due_date: date
    amount: int
    fee: int
    landlord_net: int
    status: PeriodStatus
    attempts: list[Attempt]
    next_attempt_at: datetime | None


# -- rules on input ---------------------------------------------------------------------


def parse_month(text: str) -> date:
    match = _MONTH.fullmatch(text)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise Rejected("invalid_start_month", "start_month is YYYY-MM")
    month = date(int(match.group(1)), int(match.group(2)), 1)
    if month > limits.BUSINESS_DATE_MAX:  # pragma: no mutate: equivalent, a 1st never equals Dec 31
        raise Rejected("date_out_of_range", f"start_month is at most {_last_month():%Y-%m}")
    return month


def parse_due_day(value: str | int) -> str:
    text = str(value).strip().lower()
    if text == LAST_DAY:
        return LAST_DAY
    if is_ascii_digits(text) and 1 <= int(text) <= 28:
        return str(int(text))
    raise Rejected("invalid_due_day", "due_day is 1 to 28 or 'last' (every month has them)")


def check_reference(reference: str | None) -> None:
    if reference is not None and not _REFERENCE.fullmatch(reference):
        raise Rejected("invalid_reference", f"reference is 1-{REFERENCE_MAX} letters or digits")


def check_terms(terms: Terms, *, has_card: bool, today: date) -> int:
    """Validate the terms; returns the fee of one period."""
    check_owner(terms.tenant)
    check_owner(terms.landlord)
    if terms.tenant == terms.landlord:
        raise Rejected("tenant_is_landlord", "the tenant and the landlord are different users")
    if not is_known_currency(terms.currency):
        raise Rejected("unknown_currency", f"{terms.currency!r} is not ISO 4217")
    if not 0 < terms.amount <= limits.PAYMENT_AMOUNT_MAX:
        raise Rejected("invalid_amount", f"amount is 1 to {limits.PAYMENT_AMOUNT_MAX}")
    if terms.periods is not None and not 1 <= terms.periods <= PERIODS_MAX:
        raise Rejected("invalid_periods", f"periods is 1 to {PERIODS_MAX}, or none (open-ended)")
    if not 1 <= terms.max_attempts <= ATTEMPTS_MAX:
        raise Rejected("invalid_max_attempts", f"max_attempts is 1 to {ATTEMPTS_MAX}")
    if not RETRY_INTERVAL_S_MIN <= terms.retry_interval_s <= RETRY_INTERVAL_S_MAX:
        raise Rejected(
            "invalid_retry_interval",
            f"retry_interval_s is {RETRY_INTERVAL_S_MIN} to {RETRY_INTERVAL_S_MAX}",
        )
    if (terms.method is Method.CHANNEL) != has_card:
        raise Rejected("card_number_mismatch", "a card number is needed by, and only by, channel")
    # Every period of a fixed plan falls in the business years; an open-ended one ends at
    # their last month (due_at has no period after it), so only its first must.
    horizon = terms.periods or 1
    if horizon > periods_in_range(terms.start_month):
        raise Rejected(
            "date_out_of_range",
            f"period {horizon} would fall due after {_last_month():%Y-%m}, the last month"
            " paycore schedules",
        )
    if due_date(terms, 1) < today:
        raise Rejected("start_in_past", "the first period would fall due before today")
    fee = fee_of(terms)
    if fee >= terms.amount:
        raise Rejected("fee_too_high", "the service fee leaves the landlord nothing")
    return fee


def fee_of(terms: Terms) -> int:
    if terms.fee_bps is not None and terms.fee_fixed is not None:
        raise Rejected("fee_ambiguous", "give fee_bps or fee_fixed, not both")
    if terms.fee_fixed is not None:
        if terms.fee_fixed < 0:
            raise Rejected("invalid_fee", "fee_fixed is zero or more")
        return terms.fee_fixed
    bps = terms.fee_bps or 0
    if not 0 <= bps < 10_000:
        raise Rejected("invalid_fee", "fee_bps is 0 to 9999")
    fee, _net = allocate(terms.amount, [bps, 10_000 - bps])
    return fee


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` in proportion to `weights` by largest remainder: the parts always sum
    to `total`; ties go to the earlier part."""
    weight_sum = sum(weights)
    if weight_sum <= 0 or any(w < 0 for w in weights):
        raise ValueError("weights are non-negative with a positive sum")
    floors = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    left = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return floors


# -- the schedule -----------------------------------------------------------------------


def _last_month() -> date:
    return limits.BUSINESS_DATE_MAX.replace(day=1)  # pragma: no mutate: equivalent, day unused


def periods_in_range(start_month: date) -> int:
    """Periods from `start_month` to the last business month, both included."""
    last = _last_month()
    return (last.year - start_month.year) * 12 + last.month - start_month.month + 1


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + (month.month - 1) + count
    return date(index // 12, index % 12 + 1, 1)


def due_date(terms: Terms, period_no: int) -> date:
    """The local due date of period `period_no` (1-based)."""
    month = add_months(terms.start_month, period_no - 1)
    if terms.due_day == LAST_DAY:
        return month.replace(day=calendar.monthrange(month.year, month.month)[1])
    return month.replace(day=int(terms.due_day))


def due_at(terms: Terms, period_no: int) -> datetime | None:
    """The instant (UTC) period `period_no` falls due, or None past the plan's last one."""
    if terms.periods is not None and period_no > terms.periods:
        return None
    if period_no > periods_in_range(terms.start_month):
        return None  # a plan stored before the bound ends at it, rather than overflow
    local = datetime.combine(due_date(terms, period_no), time(0), tzinfo=BUSINESS_TZ)
    return local.astimezone(UTC)


def local_date(at: datetime) -> date:
    return at.astimezone(BUSINESS_TZ).date()


def after_failure(
    terms: Terms, *, attempts_made: int, now: datetime
) -> tuple[PeriodStatus, datetime | None]:
    """A period's status after a failed attempt: a retry later, or failed for good."""
    if attempts_made >= terms.max_attempts:
        return PeriodStatus.FAILED, None
    return PeriodStatus.RETRYING, now + timedelta(seconds=terms.retry_interval_s)


def attempt_id(plan_id: str, period_no: int, attempt_no: int) -> str:
    """Derived, so a resumed attempt moves money under the same ids (and once)."""
    return f"{plan_id}_{period_no}_{attempt_no}"


def is_finished(plan: Plan, open_periods: int) -> bool:
    """A plan with a fixed number of periods is done when none is left or open."""
    return plan.terms.periods is not None and plan.next_due_at is None and open_periods == 0


def projected_status(plan: Plan, period_no: int, now: datetime) -> PeriodStatus | None:
    """What a period not yet stored will be, or None if the plan will never reach it."""
    if plan.status in (PlanStatus.CANCELLED, PlanStatus.COMPLETED):
        return None
    at = due_at(plan.terms, period_no)
    if at is None:
        return None
    if plan.status is PlanStatus.PAUSED and at <= now:
        return PeriodStatus.SKIPPED
    return PeriodStatus.UPCOMING


def failure_reason(results: list[str]) -> str:
    """The business reason of a refused set of linked transfers (the first real refusal)."""
    real = [r for r in results if r not in ("created", "exists", "linked_event_failed")]
    reason = real[0] if real else "linked_event_failed"
    return {
        "exceeds_credits": "insufficient_balance",
        "debit_account_not_found": "tenant_wallet_missing",
        "id_already_failed": "insufficient_balance",
        "account_frozen": "wallet_frozen",
    }.get(reason, reason)


def event_payload(plan: Plan, **extra: Any) -> dict[str, Any]:
    return {
        "plan_id": plan.id,
        "tenant": plan.terms.tenant,
        "landlord": plan.terms.landlord,
        "amount": plan.terms.amount,
        "currency": plan.terms.currency,
        "fee": plan.fee_amount,
        "landlord_net": plan.landlord_net,
        "status": plan.status.value,
        **extra,
    }
