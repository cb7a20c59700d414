"""Folding journal entries into statement lines: pure, so the raw path, the day rollup and
the proof all use the one rule, and a rollup can only differ from the journal if the
journal changed under it.

An entry carries its account's four balances right after it; its effect is that snapshot
minus the account's previous one. Holds, voids and expiries move no posted money and make
no line; they show in the closing's `on_hold`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from paycore.bills.model import Balances, Category, Movement, classify
from paycore.chart import CHART
from paycore.ledger.model import AccountFlags

LineKey = tuple[str, Category, str, str]
"""(account id, category, product, channel): the filter of one statement line."""

_ORDER_PREFIXES = ("tr_pay_", "tr_po_", "tr_rf_")


def debit_normal(code: int, flags: int) -> bool:
    """The chart's word when it knows the code; else the account's own guard: an account
    whose credits may not exceed its debits keeps a debit balance."""
    entry = CHART.get(code)
    if entry is not None:
        return entry.debit_normal
    return bool(flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One row of `ledger_entries` with its transfer's reason code."""

    seq: int
    account_id: str
    transfer_id: str
    code: int
    balances: Balances
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What a statement needs of a payment order: where its money came from, what we took."""

    product: str
    channel: str
    fee_amount: int


@dataclass(frozen=True, slots=True)
class Part:
    key: LineKey
    amount_in: int
    amount_out: int


def order_id_of(transfer_id: str) -> str | None:
    """`pay_01..` of `tr_pay_01.._cap`: payments name their transfers after the order."""
    if not transfer_id.startswith(_ORDER_PREFIXES):
        return None
    body = transfer_id[3:]
    head, sep, _suffix = body.rpartition("_")
    return head if sep and head.count("_") >= 1 else body


def parts_of(
    entry: JournalEntry,
    before: Balances,
    *,
    debit_normal: bool,
    orders: Mapping[str, OrderFacts],
) -> list[Part]:
    """The statement lines one entry adds to: none for a hold's events, one for most, two
    for a pay-in with a fee (gross in, fee out; they add up to what the wallet got)."""
    delta = entry.balances.posted(debit_normal) - before.posted(debit_normal)
    if delta == 0:
        return []
    category = classify(entry.transfer_id, entry.code, delta > 0)
    account = entry.account_id
    if category is not Category.PAYIN:
        return [_part((account, category, "", ""), delta)]
    order_id = order_id_of(entry.transfer_id)
    facts = orders.get(order_id) if order_id else None
    if facts is None:
        return [_part((account, category, "", ""), delta)]
    fee = facts.fee_amount if delta > 0 else 0
    parts = [_part((account, category, facts.product, facts.channel), delta + fee)]
    if fee:
        parts.append(Part((account, Category.FEE, "", ""), 0, fee))
    return parts


def _part(key: LineKey, delta: int) -> Part:
    return Part(key, max(delta, 0), max(-delta, 0))


@dataclass
class Fold:
    """Running statement of a set of accounts: closing balances and summed lines."""

    debit_normal: Mapping[str, bool]
    orders: Mapping[str, OrderFacts]
    closing: dict[str, Balances]
    lines: dict[LineKey, list[int]] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)
    entries: int = 0

    def add(self, entry: JournalEntry) -> list[Part]:
        account = entry.account_id
        before = self.closing.get(account, Balances())
        parts = parts_of(entry, before, debit_normal=self.debit_normal[account], orders=self.orders)
        for part in parts:
            line = self.lines.setdefault(part.key, [0, 0, 0])
            line[0] += part.amount_in
            line[1] += part.amount_out
            line[2] += 1
        self.closing[account] = entry.balances
        self.last_seq[account] = entry.seq
        self.entries += 1
        return parts

    def add_all(self, entries: Iterable[JournalEntry]) -> None:
        for entry in entries:
            self.add(entry)

    def merge_lines(self, rows: Iterable[tuple[LineKey, int, int, int]]) -> None:
        """Lines summed elsewhere (the day rollups), added to this fold's."""
        for key, amount_in, amount_out, count in rows:
            line = self.lines.setdefault(key, [0, 0, 0])
            line[0] += amount_in
            line[1] += amount_out
            line[2] += count

    def movements(self) -> dict[str, tuple[Movement, ...]]:
        """Each account's lines, in a stable order (category, product, channel)."""
        grouped: dict[str, list[Movement]] = {}
        for key, line in self.lines.items():
            if line[2]:
                movement = Movement(key[0], key[1], key[2], key[3], line[0], line[1], line[2])
                grouped.setdefault(key[0], []).append(movement)
        return {
            account: tuple(sorted(found, key=lambda m: (m.category.value, m.product, m.channel)))
            for account, found in grouped.items()
        }
