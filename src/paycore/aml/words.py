# ruff: noqa: RUF001  (Chinese text is written with its own full-width punctuation)
"""Each rule's finding in words, English and Chinese, from the facts the rule returned."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from paycore.aml.model import Words
from paycore.money import format_minor

CURRENCY = "CNY"


def _money(value: Any) -> str:
    return format_minor(int(value or 0), CURRENCY)


def _fan_in(f: Mapping[str, Any]) -> Words:
    return Words(
        en=f"On {f['days']} days many payers paid in large sums (up to {f['max_payers']}"
        f" distinct payers a day, {_money(f['total_minor'])} on those days)",
        zh=f"有 {f['days']} 天出现大量付款人集中大额付款（单日最多 {f['max_payers']}"
        f" 个不同付款人，合计 {_money(f['total_minor'])}）",
    )


def _fan_out(f: Mapping[str, Any]) -> Words:
    return Words(
        en=f"Paid out to many owners on {f['days']} days (up to {f['max_payees']} distinct"
        f" payees a day, {_money(f['total_minor'])})",
        zh=f"有 {f['days']} 天向大量账户分散转出（单日最多 {f['max_payees']} 个收款方，"
        f"合计 {_money(f['total_minor'])}）",
    )


def _pass_through(f: Mapping[str, Any]) -> Words:
    return Words(
        en=f"Money passed straight through on {f['days']} days: {_money(f['in_minor'])} in,"
        f" {_money(f['out_minor'])} out again within hours, little kept",
        zh=f"有 {f['days']} 天资金快进快出：转入 {_money(f['in_minor'])}，数小时内转出"
        f" {_money(f['out_minor'])}，几乎不留余额",
    )


def _structuring(f: Mapping[str, Any]) -> Words:
    return Words(
        en=f"{f['max_in_window']} payments just under {_money(f['threshold_minor'])} within"
        f" a short period ({_money(f['total_minor'])} in all)",
        zh=f"短期内 {f['max_in_window']} 笔付款金额刚好低于 {_money(f['threshold_minor'])}"
        f"（合计 {_money(f['total_minor'])}），疑似拆分交易",
    )


def _refund_abuse(f: Mapping[str, Any]) -> Words:
    return Words(
        en=f"{f['refunds_elsewhere']} refunds paid to another card or account than the"
        f" payment's, at {f['merchants']} merchants ({_money(f['total_minor'])})",
        zh=f"{f['refunds_elsewhere']} 笔退款退至与原付款不同的卡或账户，涉及"
        f" {f['merchants']} 个商户（合计 {_money(f['total_minor'])}）",
    )


def _cycle(f: Mapping[str, Any]) -> Words:
    return Words(
        en=f"Money went round a {f['length']}-owner cycle and came back within"
        f" {f['hours']} hours ({_money(f['amount_minor'])}): {f['path']}",
        zh=f"资金在 {f['length']} 个账户间循环，{f['hours']} 小时内回流"
        f"（{_money(f['amount_minor'])}）：{f['path']}",
    )


def _odd_hours(f: Mapping[str, Any]) -> Words:
    return Words(
        en=f"A daytime business took {f['night_orders']} pay-ins at night (Beijing time),"
        f" {_money(f['total_minor'])}",
        zh=f"日间经营的商户在夜间（北京时间）收款 {f['night_orders']} 笔，"
        f"合计 {_money(f['total_minor'])}",
    )


def _volume_change(f: Mapping[str, Any]) -> Words:
    return Words(
        en=f"Weekly volume jumped to {_money(f['week_minor'])} against a usual"
        f" {_money(f['baseline_minor'])}, beyond the season's change",
        zh=f"周交易额骤增至 {_money(f['week_minor'])}，平时约 {_money(f['baseline_minor'])}，"
        f"超出季节性波动",
    )


def _many_cards(f: Mapping[str, Any]) -> Words:
    return Words(
        en=f"One payer used {f['cards']} different cards ({f['max_new_in_window']} new"
        f" within a month)",
        zh=f"同一付款人使用 {f['cards']} 张不同银行卡（一个月内新增 {f['max_new_in_window']} 张）",
    )


WORDS: dict[str, Callable[[Mapping[str, Any]], Words]] = {
    "fan_in": _fan_in,
    "fan_out": _fan_out,
    "pass_through": _pass_through,
    "structuring": _structuring,
    "refund_abuse": _refund_abuse,
    "cycle": _cycle,
    "odd_hours": _odd_hours,
    "volume_change": _volume_change,
    "many_cards": _many_cards,
}
