"""The sandbox bank's decider and clock called directly: each draw compared with an
independent `random.Random` of the same seed (so the order and use of every draw is
pinned), each probability tried at exactly the drawn value, and the shifted clock."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from paycore.clock import ManualClock
from paycore.sandbox_bank import model
from paycore.sandbox_bank.config import FaultMix
from paycore.sandbox_bank.model import Decider, Decision, Transport, TxnStatus, TxnType

SEED = 20260101


# -- the decider ----------------------------------------------------------------------------


def _draws(seed: int = SEED) -> random.Random:
    """The bank's RNG, rebuilt on its own: what the decider must draw, in the same order."""
    return random.Random(seed)


def test_a_uniform_draw_is_the_seeded_rngs_own() -> None:
    assert Decider(SEED).uniform(2.0, 3.0) == _draws().uniform(2.0, 3.0)


@pytest.mark.parametrize("rate", [0.0, -0.5])
def test_a_chance_of_nothing_is_false_and_draws_nothing(rate: float) -> None:
    decider = Decider(SEED)

    assert decider.chance(rate) is False
    assert decider.uniform(0.0, 1.0) == _draws().uniform(0.0, 1.0)  # the first draw, unused


def test_a_chance_is_true_below_the_drawn_value_and_false_at_it() -> None:
    drawn = _draws().random()

    assert Decider(SEED).chance(drawn) is False
    assert Decider(SEED).chance(drawn + 1e-9) is True
    assert Decider(SEED).chance(1.0) is True


@pytest.mark.parametrize(
    ("rates", "transport"),
    [
        ((0.0, 0.0, 0.0), Transport.NORMAL),
        ((1.0, 0.0, 0.0), Transport.UNAVAILABLE),
        ((0.0, 1.0, 0.0), Transport.ERROR_AFTER),
        ((0.0, 0.0, 1.0), Transport.SLOW),
    ],
)
def test_a_certain_transport_fault_always_happens(
    rates: tuple[float, float, float], transport: Transport
) -> None:
    mix = FaultMix(unavailable_rate=rates[0], error_after_rate=rates[1], timeout_rate=rates[2])
    decider = Decider(SEED)

    assert {decider.transport(mix) for _ in range(20)} == {transport}


@pytest.mark.parametrize(
    ("before", "transport"),
    [("unavailable_rate", Transport.ERROR_AFTER), ("error_after_rate", Transport.SLOW)],
)
def test_a_transport_draw_at_exactly_a_rate_falls_to_the_next_fault(
    before: str, transport: Transport
) -> None:
    drawn = _draws().random()
    # What is left of the draw after `before` is 0: only a fault with some rate takes it.
    mix = FaultMix(**{before: drawn, _after(before): 1.0 - drawn})  # type: ignore[arg-type]

    assert Decider(SEED).transport(mix) is transport
    assert Decider(SEED).transport(FaultMix(**{before: drawn})) is Transport.NORMAL  # type: ignore[arg-type]


def _after(rate: str) -> str:
    names = ["unavailable_rate", "error_after_rate", "timeout_rate"]
    return names[names.index(rate) + 1]


QUARTERS = st.integers(0, 4).flatmap(
    lambda a: st.integers(0, 4 - a).flatmap(
        lambda b: st.integers(0, 4 - a - b).map(lambda c: (a, b, c, 4 - a - b - c))
    )
)


# Seed 2 draws 0.956 first: past every rate but the last, so each step's subtraction counts.
SPLITS = ((2, 0, 2, 0), (2, 2, 0, 0), (0, 2, 2, 0), (0, 0, 2, 2), (1, 1, 1, 1))


def _examples(test: Callable[..., None]) -> Callable[..., None]:
    for split in SPLITS:
        test = example(seed=2, quarters=split)(test)
    return test


@_examples
@given(seed=st.integers(0, 2**32), quarters=QUARTERS)
def test_outcome_rates_that_add_up_to_one_leave_no_plain_success(
    seed: int, quarters: tuple[int, int, int, int]
) -> None:
    invalid, decline, channel, unknown = (q / 4 for q in quarters)
    mix = FaultMix(
        invalid_request_rate=invalid, decline_rate=decline,
        channel_decline_rate=channel, unknown_rate=unknown,
    )  # fmt: skip

    decision = Decider(seed).outcome(mix, TxnType.PAYOUT)

    assert decision.status is TxnStatus.FAILED or decision.silent


@_examples
@given(seed=st.integers(0, 2**32), quarters=QUARTERS)
def test_transport_rates_that_add_up_to_one_leave_no_normal_answer(
    seed: int, quarters: tuple[int, int, int, int]
) -> None:
    unavailable, error_after, timeout = (q / 4 for q in quarters[:3])
    rest = quarters[3] / 4
    mix = FaultMix(
        unavailable_rate=unavailable + rest, error_after_rate=error_after, timeout_rate=timeout
    )

    assert Decider(seed).transport(mix) is not Transport.NORMAL


def _outcome_draws(mix: FaultMix) -> tuple[float, bool, float, float]:
    rng = _draws()
    draw, sync = rng.random(), rng.random() < mix.sync_rate
    return draw, sync, rng.uniform(mix.complete_min_s, mix.complete_max_s), rng.random()


@pytest.mark.parametrize("sync_rate", [0.0, 1.0])
def test_a_plain_success_comes_after_the_drawn_delay_synchronous_as_drawn(
    sync_rate: float,
) -> None:
    mix = FaultMix(sync_rate=sync_rate, complete_min_s=1.0, complete_max_s=9.0)
    _draw, sync, delay, _pick = _outcome_draws(mix)

    decision = Decider(SEED).outcome(mix, TxnType.PAYIN)

    assert decision == Decision(TxnStatus.SUCCEEDED, "", sync, False, delay)
    assert sync is bool(sync_rate)


def test_a_result_is_synchronous_only_below_the_drawn_value() -> None:
    rng = _draws()
    rng.random()
    at = FaultMix(sync_rate=rng.random())

    assert Decider(SEED).outcome(at, TxnType.PAYIN).synchronous is False


@pytest.mark.parametrize(
    ("kind", "codes"),
    [(TxnType.PAYIN, model.PAYIN_USER_DECLINES), (TxnType.PAYOUT, model.PAYOUT_USER_DECLINES)],
)
def test_a_user_decline_picks_its_code_by_the_fourth_draw(
    kind: TxnType, codes: tuple[str, ...]
) -> None:
    mix = FaultMix(decline_rate=1.0, sync_rate=1.0, complete_min_s=1.0, complete_max_s=9.0)
    _draw, _sync, delay, pick = _outcome_draws(mix)

    decision = Decider(SEED).outcome(mix, kind)

    assert decision == Decision(TxnStatus.FAILED, codes[int(pick * len(codes))], True, False, delay)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (TxnType.PAYIN, "issuer_unavailable"),
        (TxnType.PAYOUT, "clearing_failed"),
        (TxnType.REFUND, "clearing_failed"),
    ],
)
def test_a_channel_decline_names_the_part_of_the_bank_that_failed(kind: TxnType, code: str) -> None:
    mix = FaultMix(channel_decline_rate=1.0, sync_rate=1.0, complete_min_s=1.0, complete_max_s=9.0)
    delay = _outcome_draws(mix)[2]

    assert Decider(SEED).outcome(mix, kind) == Decision(TxnStatus.FAILED, code, True, False, delay)


def test_an_unknown_result_completes_after_the_drawn_delay() -> None:
    mix = FaultMix(unknown_rate=1.0, complete_min_s=1.0, complete_max_s=9.0)
    delay = _outcome_draws(mix)[2]

    decision = Decider(SEED).outcome(mix, TxnType.PAYIN)

    assert decision == Decision(TxnStatus.SUCCEEDED, "", False, True, delay)


@pytest.mark.parametrize(
    ("at", "next_rate", "status"),
    [
        ("invalid_request_rate", "decline_rate", TxnStatus.FAILED),
        ("decline_rate", "channel_decline_rate", TxnStatus.FAILED),
        ("channel_decline_rate", "unknown_rate", TxnStatus.SUCCEEDED),
    ],
)
def test_an_outcome_draw_at_exactly_a_rate_falls_to_the_next_outcome(
    at: str, next_rate: str, status: TxnStatus
) -> None:
    drawn = _outcome_draws(FaultMix())[0]
    mix = FaultMix(**{at: drawn, next_rate: 1.0 - drawn})  # type: ignore[arg-type]

    decision = Decider(SEED).outcome(mix, TxnType.PAYIN)

    assert decision.status is status
    assert decision.failure_code != model.INVALID_REQUEST
    assert decision.failure_code not in (model.PAYIN_USER_DECLINES if at == "decline_rate" else ())
    assert Decider(SEED).outcome(FaultMix(**{at: drawn}), TxnType.PAYIN).status is (  # type: ignore[arg-type]
        TxnStatus.SUCCEEDED
    )


def test_an_outcome_draw_at_exactly_the_unknown_rate_is_a_plain_success() -> None:
    drawn = _outcome_draws(FaultMix())[0]

    decision = Decider(SEED).outcome(FaultMix(unknown_rate=drawn), TxnType.PAYIN)

    assert (decision.status, decision.silent) == (TxnStatus.SUCCEEDED, False)


# -- the shifted clock --------------------------------------------------------------------


def test_a_shifted_clock_runs_with_its_base_in_utc_plus_what_it_was_advanced() -> None:
    base = ManualClock(datetime(2026, 1, 1, 16, 0, tzinfo=timezone(timedelta(hours=8))))
    clock = model.ShiftedClock(base)

    assert clock.now() == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    assert clock.advance(90) == datetime(2026, 1, 1, 8, 1, 30, tzinfo=UTC)
    assert clock.advance(30) == datetime(2026, 1, 1, 8, 2, tzinfo=UTC)
    base.advance(60)
    assert clock.now() == datetime(2026, 1, 1, 8, 3, tzinfo=UTC)


def test_a_shifted_clock_without_a_base_follows_the_system_clock() -> None:
    before = datetime.now(UTC)

    now = model.ShiftedClock().now()

    assert before <= now <= datetime.now(UTC)
