"""Accounting vouchers from the journal: which voucher a posted movement belongs to, how a
day's movements group into balanced vouchers, their ids and body hashes, and the daily
reconciliation's breaks. Pure rules; the journal is read and vouchers written in store.py.

One voucher per (business day, voucher type, currency); its lines are per (GL account,
ledger code) with the day's debit and credit totals. The id is derived from (day, type,
currency) and the body is hashed, so deriving a day again yields the same ids and
bodies, and a different body under an id that exists is found, never written.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from paycore.errors import InvariantViolation


class VoucherType(enum.StrEnum):
    """What a voucher books: the flow and reason of the transfers it summarizes."""

    PAYIN = "payin"
    FEE = "fee"
    REFUND = "refund"
    PAYOUT = "payout"
    PAYOUT_RETURN = "payout_return"
    SPLIT = "split"
    SPLIT_CLAWBACK = "split_clawback"
    CUSTODY_RECEIPT = "custody_receipt"
    CUSTODY_REFUND = "custody_refund"
    CUSTODY_SETTLEMENT = "custody_settlement"
    COLLECTION = "collection"
    COLLECTION_SETTLEMENT = "collection_settlement"
    WALLET_TOP_UP = "wallet_top_up"
    DEBT_REPAYMENT = "debt_repayment"
    REWARD_FUNDING = "reward_funding"
    REWARD = "reward"
    REWARD_WITHDRAWAL = "reward_withdrawal"
    RECON_ADJUSTMENT = "recon_adjustment"
    RECON_SUSPENSE = "recon_suspense"
    OTHER = "other"
    """A posted movement of paycore's accounts outside every flow's reasons (an operator's
    `paycore transfers create`): booked, never dropped; its accounts still need the chart."""


# (transfer id namespace, transfer reason code) -> voucher type, as the flows write them
# (payments/, split/, custody/, collection/, wallets/, rewards/, recon/ bookkeeping). A code
# alone is not enough: recon's adjustment and split's share are both code 30.
_TYPES: dict[tuple[str, int], VoucherType] = {
    ("tr_pay_", 1): VoucherType.PAYIN,
    ("tr_pay_", 2): VoucherType.FEE,
    ("tr_rf_", 5): VoucherType.REFUND,
    ("tr_po_", 3): VoucherType.PAYOUT,
    ("tr_po_", 4): VoucherType.PAYOUT_RETURN,
    ("tr_spl_", 30): VoucherType.SPLIT,
    ("tr_spl_", 31): VoucherType.SPLIT,
    ("tr_spl_", 33): VoucherType.SPLIT_CLAWBACK,
    ("tr_spl_", 34): VoucherType.SPLIT_CLAWBACK,
    ("tr_cus_", 40): VoucherType.CUSTODY_RECEIPT,
    ("tr_cus_", 41): VoucherType.CUSTODY_REFUND,
    ("tr_cus_", 42): VoucherType.CUSTODY_SETTLEMENT,
    ("tr_cus_", 43): VoucherType.CUSTODY_SETTLEMENT,
    ("tr_col_", 50): VoucherType.COLLECTION,
    ("tr_col_", 51): VoucherType.FEE,
    ("tr_col_", 52): VoucherType.COLLECTION_SETTLEMENT,
    ("tr_top_", 20): VoucherType.WALLET_TOP_UP,
    ("tr_rpy_", 21): VoucherType.DEBT_REPAYMENT,
    ("tr_rbf_", 60): VoucherType.REWARD_FUNDING,
    ("tr_rw_", 61): VoucherType.REWARD,
    ("tr_rbw_", 62): VoucherType.REWARD_WITHDRAWAL,
    ("tr_adj_", 30): VoucherType.RECON_ADJUSTMENT,
    ("tr_susp_", 29): VoucherType.RECON_SUSPENSE,
}

TYPE_NAMES: Mapping[VoucherType, tuple[str, str]] = {
    VoucherType.PAYIN: ("支付收款", "pay-ins"),
    VoucherType.FEE: ("手续费收入", "fees"),
    VoucherType.REFUND: ("退款", "refunds"),
    VoucherType.PAYOUT: ("代付出款", "payouts"),
    VoucherType.PAYOUT_RETURN: ("出款退回", "returned payouts"),
    VoucherType.SPLIT: ("分账", "splits"),
    VoucherType.SPLIT_CLAWBACK: ("分账回退", "split claw-backs"),
    VoucherType.CUSTODY_RECEIPT: ("存管入账", "custody receipts"),
    VoucherType.CUSTODY_REFUND: ("存管退回", "custody refunds"),
    VoucherType.CUSTODY_SETTLEMENT: ("存管结算", "custody settlements"),
    VoucherType.COLLECTION: ("代扣收款", "collections"),
    VoucherType.COLLECTION_SETTLEMENT: ("代扣结算", "collection settlements"),
    VoucherType.WALLET_TOP_UP: ("钱包充值", "wallet top-ups"),
    VoucherType.DEBT_REPAYMENT: ("欠款偿还", "debt repayments"),
    VoucherType.REWARD_FUNDING: ("奖励预算注资", "reward funding"),
    VoucherType.REWARD: ("奖励发放", "rewards"),
    VoucherType.REWARD_WITHDRAWAL: ("奖励预算撤回", "reward withdrawals"),
    VoucherType.RECON_ADJUSTMENT: ("对账调整", "reconciliation adjustments"),
    VoucherType.RECON_SUSPENSE: ("待查明款项", "reconciliation suspense"),
    VoucherType.OTHER: ("其他", "other movements"),
}


def voucher_type_of(prefix: str, reason: int) -> VoucherType:
    """The voucher of a posted transfer, by its id's flow namespace and its reason code."""
    return _TYPES.get((prefix, reason), VoucherType.OTHER)


@dataclass(frozen=True, slots=True)
class Movement:
    """One aggregate of the day's posted entries (one row of the SQL GROUP BY): every
    entry on one side of accounts with one ledger code, of transfers of one flow and
    reason, in one currency."""

    currency: str
    prefix: str
    reason: int
    ledger_code: int
    side: str  # debit | credit
    amount_minor: int
    entries: int


@dataclass(frozen=True, slots=True)
class VoucherLine:
    line_no: int
    gl_account: str
    ledger_code: int
    debit_minor: int
    credit_minor: int


@dataclass(frozen=True, slots=True)
class Voucher:
    id: str
    business_date: date
    voucher_type: str
    currency: str
    summary: str
    lines: tuple[VoucherLine, ...]
    transfer_count: int

    @property
    def debit_total_minor(self) -> int:
        return sum(line.debit_minor for line in self.lines)

    @property
    def credit_total_minor(self) -> int:
        return sum(line.credit_minor for line in self.lines)

    @property
    def body_hash(self) -> str:
        return body_hash_of(voucher_body(self))


def voucher_id(business_date: date, voucher_type: str, currency: str) -> str:
    """`vch_20261130_payin_CNY`: the same day, type and currency always give the same id,
    which the finance system keeps as its idempotency key."""
    return f"vch_{business_date:%Y%m%d}_{voucher_type}_{currency}"


def summary_of(business_date: date, voucher_type: str, currency: str) -> str:
    zh, en = TYPE_NAMES.get(VoucherType(voucher_type), (voucher_type, voucher_type))
    return f"{business_date.isoformat()} {zh} / {en} ({currency})"


def voucher_body(voucher: Voucher) -> dict[str, object]:
    """The voucher as it is pushed and hashed: plain JSON values, lines in order."""
    return {
        "id": voucher.id,
        "business_date": voucher.business_date.isoformat(),
        "voucher_type": voucher.voucher_type,
        "currency": voucher.currency,
        "summary": voucher.summary,
        "debit_total_minor": voucher.debit_total_minor,
        "credit_total_minor": voucher.credit_total_minor,
        "transfer_count": voucher.transfer_count,
        "lines": [
            {
                "line_no": line.line_no,
                "gl_account": line.gl_account,
                "ledger_code": line.ledger_code,
                "debit_minor": line.debit_minor,
                "credit_minor": line.credit_minor,
            }
            for line in voucher.lines
        ],
    }


def body_hash_of(body: Mapping[str, object]) -> str:
    """SHA-256 of the body in canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_vouchers(
    business_date: date, movements: Iterable[Movement], gl_of: Callable[[int], str]
) -> list[Voucher]:
    """The day's vouchers, one per (type, currency), in id order. `gl_of` maps a ledger
    code to its GL account (it raises for a code the chart does not map). Every voucher
    must balance: one that does not raises InvariantViolation and nothing is written."""
    sums: dict[tuple[str, str], dict[tuple[str, int], list[int]]] = defaultdict(dict)
    transfers: dict[tuple[str, str], int] = defaultdict(int)
    for m in movements:
        key = (voucher_type_of(m.prefix, m.reason).value, m.currency)
        line = sums[key].setdefault((gl_of(m.ledger_code), m.ledger_code), [0, 0])
        line[0 if m.side == "debit" else 1] += m.amount_minor
        if m.side == "debit":  # every posted transfer has exactly one debit entry
            transfers[key] += m.entries
    vouchers = [
        _voucher(business_date, kind, currency, lines, transfers[(kind, currency)])
        for (kind, currency), lines in sums.items()
    ]
    for voucher in vouchers:
        check_balanced(voucher)
    return sorted(vouchers, key=lambda v: v.id)


def _voucher(
    business_date: date,
    kind: str,
    currency: str,
    lines: Mapping[tuple[str, int], list[int]],
    transfer_count: int,
) -> Voucher:
    # Debit lines first, as a voucher is read (借 before 贷), then by account.
    ordered = sorted(lines.items(), key=lambda item: (item[1][0] == 0, item[0]))
    return Voucher(
        id=voucher_id(business_date, kind, currency),
        business_date=business_date,
        voucher_type=kind,
        currency=currency,
        summary=summary_of(business_date, kind, currency),
        lines=tuple(
            VoucherLine(n, gl, code, debit, credit)
            for n, ((gl, code), (debit, credit)) in enumerate(ordered, start=1)
        ),
        transfer_count=transfer_count,
    )


def check_balanced(voucher: Voucher) -> None:
    if voucher.debit_total_minor != voucher.credit_total_minor:
        raise InvariantViolation(
            f"voucher {voucher.id} does not balance: debits {voucher.debit_total_minor}, "
            f"credits {voucher.credit_total_minor}"
        )


def replay_conflicts(derived: Sequence[Voucher], stored: Mapping[str, str]) -> list[str]:
    """Ids whose derived body differs from the stored one (by hash), or that exist on only
    one side: a replay that is not the same as the first derivation."""
    found = {v.id: v.body_hash for v in derived}
    return sorted(i for i in found.keys() | stored.keys() if found.get(i) != stored.get(i))


# -- the daily reconciliation ---------------------------------------------------------------


class BreakKind(enum.StrEnum):
    MISSING_AT_RECEIVER = "missing_at_receiver"
    """Derived here, not booked by the finance system."""
    UNKNOWN_AT_RECEIVER = "unknown_at_receiver"
    """Booked by the finance system under an id of the day that was never derived here."""
    BODY_MISMATCH = "body_mismatch"
    """Booked with another body hash than the voucher derived here."""
    AMOUNT_MISMATCH = "amount_mismatch"
    """The day's voucher lines of a (currency, GL account, ledger code) do not add up to
    the ledger's own posted entries of that day."""
    VOUCHER_ALTERED = "voucher_altered"
    """A stored voucher's lines no longer hash to its body hash (edited or lost lines)."""


AmountKey = tuple[str, str, int]
"""(currency, GL account, ledger code)"""


@dataclass(frozen=True, slots=True)
class Break:
    kind: BreakKind
    voucher_id: str = ""
    currency: str = ""
    gl_account: str = ""
    ledger_code: int | None = None
    vouchers_minor: tuple[int, int] = (0, 0)
    """(debit, credit) on the vouchers' side of an amount mismatch."""
    ledger_minor: tuple[int, int] = (0, 0)
    """(debit, credit) in the ledger's entries of an amount mismatch."""

    def view(self) -> dict[str, object]:
        found: dict[str, object] = {"kind": self.kind.value}
        if self.voucher_id:
            found["voucher_id"] = self.voucher_id
        if self.kind is BreakKind.AMOUNT_MISMATCH:
            found.update(
                currency=self.currency,
                gl_account=self.gl_account,
                ledger_code=self.ledger_code,
                vouchers_debit_minor=self.vouchers_minor[0],
                vouchers_credit_minor=self.vouchers_minor[1],
                ledger_debit_minor=self.ledger_minor[0],
                ledger_credit_minor=self.ledger_minor[1],
            )
        return found


def amount_breaks(
    vouchers: Mapping[AmountKey, tuple[int, int]], ledger: Mapping[AmountKey, tuple[int, int]]
) -> list[Break]:
    """Every (currency, GL account, code) whose voucher lines differ from the ledger."""
    return [
        Break(
            BreakKind.AMOUNT_MISMATCH,
            currency=key[0],
            gl_account=key[1],
            ledger_code=key[2],
            vouchers_minor=vouchers.get(key, (0, 0)),
            ledger_minor=ledger.get(key, (0, 0)),
        )
        for key in sorted(vouchers.keys() | ledger.keys())
        if vouchers.get(key, (0, 0)) != ledger.get(key, (0, 0))
    ]


def receiver_breaks(ours: Mapping[str, str], booked: Mapping[str, str]) -> list[Break]:
    """Our vouchers of a day (id -> body hash) against what the finance system booked."""
    found: list[Break] = []
    for voucher in sorted(ours.keys() | booked.keys()):
        if voucher not in booked:
            found.append(Break(BreakKind.MISSING_AT_RECEIVER, voucher))
        elif voucher not in ours:
            found.append(Break(BreakKind.UNKNOWN_AT_RECEIVER, voucher))
        elif ours[voucher] != booked[voucher]:
            found.append(Break(BreakKind.BODY_MISMATCH, voucher))
    return found


def altered(stored: Sequence[Voucher], hashes: Mapping[str, str]) -> list[Break]:
    """Stored vouchers whose lines, read back, no longer give their stored body hash."""
    return [
        Break(BreakKind.VOUCHER_ALTERED, v.id) for v in stored if v.body_hash != hashes.get(v.id)
    ]
