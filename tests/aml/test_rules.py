"""Each rule finds its planted case and not the ordinary look-alike beside it, on small
hand-made warehouses (default parameters)."""

from __future__ import annotations

from pathlib import Path

from paycore.aml.params import Params
from paycore.aml.service import score_warehouse
from tests.aml.kit import Warehouse, at

CNY = 100  # minor units per yuan


def flagged(root: Path, rule: str) -> set[str]:
    scoring = score_warehouse(root, params=Params(), rules=(rule,))
    return {s.subject_id for s in scoring.scores}


def test_fan_in_finds_a_front_paid_by_many_once_and_not_a_busy_shop_or_a_one_day_peak(
    tmp_path: Path,
) -> None:
    w = Warehouse()
    for day in range(3):
        for k in range(35):
            w.payin("mch_front", 1500 * CNY, at(day, 10, k), payer=f"f{day}-{k}")
        for k in range(100):
            w.payin("mch_busy", 50 * CNY, at(day, 9, k % 60), payer=f"b{day}-{k}")
    for k in range(30):
        w.payin("mch_peak", 3000 * CNY, at(5, 11, k), payer=f"p{k}")
    assert flagged(w.write(tmp_path), "fan_in") == {"mch_front"}


def test_fan_out_finds_a_wallet_spreading_money_and_not_a_merchant_paying_its_own_users(
    tmp_path: Path,
) -> None:
    w = Warehouse()
    for k in range(13):
        w.transfer("mch_a:u1", f"mch_b:u{k}", 2000 * CNY, at(3, 14, k))
        w.transfer("mch_c", f"mch_c:u{k}", 2000 * CNY, at(3, 14, k))
        w.transfer("mch_d", f"mch_e:r{k}", 20 * CNY, at(3, 14, k))
    assert flagged(w.write(tmp_path), "fan_out") == {"mch_a:u1"}


def test_pass_through_finds_money_passed_on_in_minutes_and_not_a_sweep_or_a_slow_transfer(
    tmp_path: Path,
) -> None:
    w = Warehouse()
    w.transfer("mch_src", "mch_a:p", 20_000 * CNY, at(2, 10))
    w.transfer("mch_a:p", "mch_b:x", 19_500 * CNY, at(2, 10, 30))
    w.transfer("mch_src", "mch_c:q", 20_000 * CNY, at(2, 10))
    w.transfer("mch_c:q", "mch_b:y", 19_500 * CNY, at(2, 15))
    for k in range(10):
        w.payin("mch_shop", 2000 * CNY, at(2, 9 + k), payer=f"s{k}")
    w.transfer("mch_shop", None, 20_000 * CNY, at(3, 10), code=3)
    assert flagged(w.write(tmp_path), "pass_through") == {"mch_a:p"}


def test_structuring_finds_payments_just_under_a_threshold_and_not_a_list_price(
    tmp_path: Path,
) -> None:
    w = Warehouse()
    for day, amount in ((1, 9_800), (4, 9_500), (9, 9_900)):
        w.payin("mch_cars", amount * CNY, at(day), payer="smurf")
    for k in range(6):
        w.payin("mch_phones", 9_999 * CNY, at(k), payer=f"buyer{k}")
    for day in (1, 2, 3):
        w.payin("mch_phones", 9_999 * CNY, at(day, 15), payer="reseller")
    for day in (1, 5):
        w.payin("mch_cars", 9_700 * CNY, at(day), payer="twice")
    assert flagged(w.write(tmp_path), "structuring") == {"k1:id-smurf"}


def test_refund_abuse_finds_refunds_to_another_card_and_not_refunds_to_the_payment_card(
    tmp_path: Path,
) -> None:
    w = Warehouse()
    for k in range(2):
        w.refund(w.payin(f"mch_{k}", 800 * CNY, at(k), payer="ra"), at(k + 2), card="ra-other")
        w.refund(w.payin(f"mch_{k}", 800 * CNY, at(k), payer="ok"), at(k + 2), card="ok-0")
    w.refund(w.payin("mch_9", 800 * CNY, at(1), payer="once"), at(3), card="once-new")
    assert flagged(w.write(tmp_path), "refund_abuse") == {"k1:id-ra"}


def test_cycle_finds_money_going_round_and_not_a_loan_repaid_or_a_chain_or_a_claw_back(
    tmp_path: Path,
) -> None:
    w = Warehouse()
    w.transfer("mch_1:a", "mch_2:b", 20_000 * CNY, at(1, 9))
    w.transfer("mch_2:b", "mch_3:c", 19_700 * CNY, at(1, 21))
    w.transfer("mch_3:c", "mch_1:a", 19_400 * CNY, at(2, 9))
    w.transfer("mch_4:d", "mch_5:e", 20_000 * CNY, at(1, 9))
    w.transfer("mch_5:e", "mch_4:d", 20_000 * CNY, at(31, 9))
    w.transfer("mch_6:f", "mch_7:g", 20_000 * CNY, at(1, 9))
    w.transfer("mch_7:g", "mch_8:h", 20_000 * CNY, at(1, 19))
    w.transfer("mch_9", "mch_9:u", 300 * CNY, at(1, 9))
    w.transfer("mch_9:u", "mch_9", 300 * CNY, at(1, 12))
    assert flagged(w.write(tmp_path), "cycle") == {"mch_1:a", "mch_2:b", "mch_3:c"}


def test_odd_hours_finds_large_night_pay_ins_at_a_day_shop_and_not_a_bar_or_stray_orders(
    tmp_path: Path,
) -> None:
    w = Warehouse()
    for k in range(50):
        w.payin("mch_day", 60 * CNY, at(k % 20, 10 + k % 8), payer=f"d{k}")
        w.payin("mch_bar", 300 * CNY, at(k % 20, 1), payer=f"b{k}")
        w.payin("mch_stray", 60 * CNY, at(k % 20, 10 + k % 8), payer=f"s{k}")
    for k in range(6):
        w.payin("mch_day", 3000 * CNY, at(k * 3, 2), payer=f"n{k}")
        w.payin("mch_bar", 3000 * CNY, at(k * 3, 2), payer=f"m{k}")
        w.payin("mch_stray", 60 * CNY, at(k * 3, 2), payer=f"x{k}")
    assert flagged(w.write(tmp_path), "odd_hours") == {"mch_day"}


def test_volume_change_finds_a_jump_of_one_shop_and_not_the_season_or_a_few_big_tickets(
    tmp_path: Path,
) -> None:
    w = Warehouse()
    for week in range(7):
        season = 3 if week == 6 else 1
        for k in range(20 * season):
            w.payin("mch_steady", 50_000 * CNY, at(week * 7 + k % 7, 12), payer=f"s{week}-{k}")
        for k in range(10 * (5 if week == 6 else 1)):
            w.payin("mch_season", 3000 * CNY, at(week * 7 + k % 7, 13), payer=f"t{week}-{k}")
        for k in range(300 if week == 6 else 10):
            w.payin("mch_jump", 500 * CNY, at(week * 7 + k % 7, 14), payer=f"j{week}-{k}")
        for k in range(10):
            w.payin("mch_few", 500 * CNY, at(week * 7 + k % 7, 15), payer=f"f{week}-{k}")
    for k in range(2):
        w.payin("mch_few", 60_000 * CNY, at(44 + k, 15), payer=f"big{k}")
    assert flagged(w.write(tmp_path), "volume_change") == {"mch_jump"}


def test_many_cards_finds_five_new_cards_in_a_month_and_not_four_cards_over_months(
    tmp_path: Path,
) -> None:
    w = Warehouse()
    for c in range(5):
        w.payin("mch_1", 100 * CNY, at(c * 2), payer="carder", card=f"carder-{c}")
        w.payin("mch_1", 100 * CNY, at(c * 25), payer="person", card=f"person-{c % 4}")
    assert flagged(w.write(tmp_path), "many_cards") == {"k1:id-carder"}


def test_a_warehouse_without_the_tables_scores_nobody(tmp_path: Path) -> None:
    assert score_warehouse(tmp_path, params=Params()).scores == ()
