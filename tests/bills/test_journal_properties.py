"""Properties of the journal fold: whatever the journal, an account's lines add up to its
last snapshot minus its first, and folding by day rollups gives the lines of one fold."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from paycore.bills.journal import Fold, JournalEntry, LineKey, OrderFacts, parts_of
from paycore.bills.model import Balances

AT = datetime(2026, 11, 3, tzinfo=UTC)
ACCOUNTS = {"acct_w": False, "acct_c": True, "acct_u": False}
ORDER_IDS = ["pay_01A", "pay_01B", "po_01C", "rf_01D"]
TRANSFER_IDS = [
    "tr_pay_01A_cap", "tr_pay_01B", "tr_pay_01N_cap", "tr_po_01C_post", "tr_rf_01D_post",
    "tr_spl_01S", "tr_cus_01U_in", "tr_col_01K", "tr_adj_01J", "own_move", "tr_new_01Q",
]  # fmt: skip
CODES = [1, 2, 3, 4, 5, 30, 31, 33, 40, 42, 50, 51, 60, 99]

amounts = st.integers(min_value=0, max_value=10**12)
balances = st.builds(Balances, amounts, amounts, amounts, amounts)
orders = st.dictionaries(
    st.sampled_from(ORDER_IDS),
    st.builds(OrderFacts, st.sampled_from(["rent", "tip"]), st.sampled_from(["a", "b"]), amounts),
)
entries = st.lists(
    st.tuples(st.sampled_from(sorted(ACCOUNTS)), st.sampled_from(TRANSFER_IDS),
              st.sampled_from(CODES), balances),
    max_size=40,
).map(
    lambda rows: [JournalEntry(seq, a, t, c, b, AT) for seq, (a, t, c, b) in enumerate(rows, 1)]
)  # fmt: skip
openings = st.dictionaries(st.sampled_from(sorted(ACCOUNTS)), balances)


def net_by_account(lines: dict[LineKey, list[int]]) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for (account, _category, _product, _channel), (amount_in, amount_out, _count) in lines.items():
        found[account] += amount_in - amount_out
    return dict(found)


@given(journal=entries, opening=openings, facts=orders)
def test_an_accounts_lines_always_add_up_to_its_last_snapshot_minus_its_opening(
    journal: list[JournalEntry], opening: dict[str, Balances], facts: dict[str, OrderFacts]
) -> None:
    fold = Fold(ACCOUNTS, facts, dict(opening))
    fold.add_all(journal)

    nets = net_by_account(fold.lines)
    for account, debit in ACCOUNTS.items():
        first = opening.get(account, Balances()).posted(debit)
        last = fold.closing.get(account, Balances()).posted(debit)
        assert nets.get(account, 0) == last - first
        shown = fold.movements().get(account, ())
        assert sum(m.net for m in shown) == last - first
    assert fold.entries == len(journal)


@given(entry=entries.filter(bool).map(lambda js: js[0]), before=balances, facts=orders)
def test_one_entrys_lines_add_up_to_its_change_each_with_one_side_only(
    entry: JournalEntry, before: Balances, facts: dict[str, OrderFacts]
) -> None:
    for debit in (False, True):
        parts = parts_of(entry, before, debit_normal=debit, orders=facts)
        delta = entry.balances.posted(debit) - before.posted(debit)

        assert sum(p.amount_in - p.amount_out for p in parts) == delta
        assert all(min(p.amount_in, p.amount_out) == 0 <= p.amount_out for p in parts)
        assert all(p.amount_in >= 0 for p in parts)
        assert (parts == []) == (delta == 0)
        assert len({p.key for p in parts}) == len(parts) <= 2


@given(journal=entries, opening=openings, facts=orders, cut=st.integers(min_value=0, max_value=40))
def test_lines_rolled_up_per_day_and_merged_are_the_lines_of_one_fold(
    journal: list[JournalEntry],
    opening: dict[str, Balances],
    facts: dict[str, OrderFacts],
    cut: int,
) -> None:
    whole = Fold(ACCOUNTS, facts, dict(opening))
    whole.add_all(journal)
    first_day = Fold(ACCOUNTS, facts, dict(opening))
    first_day.add_all(journal[:cut])
    second_day = Fold(ACCOUNTS, facts, dict(first_day.closing))
    second_day.add_all(journal[cut:])

    first_day.merge_lines((key, a, b, n) for key, (a, b, n) in second_day.lines.items())

    assert first_day.lines == whole.lines
    assert first_day.movements() == whole.movements()
    assert second_day.closing == whole.closing
    assert sum(line[2] for line in whole.lines.values()) == sum(
        len(parts_of(e, b, debit_normal=ACCOUNTS[e.account_id], orders=facts))
        for e, b in zip(journal, befores(journal, opening), strict=True)
    )


def befores(journal: list[JournalEntry], opening: dict[str, Balances]) -> list[Balances]:
    """Each entry's account snapshot just before it, computed here without the fold."""
    last = dict(opening)
    found = []
    for e in journal:
        found.append(last.get(e.account_id, Balances()))
        last[e.account_id] = e.balances
    return found
