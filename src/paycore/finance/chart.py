"""The general-ledger chart finance books into: which GL account (a Chinese-GAAP-like code
with its zh and en names) each ledger account code of paycore maps to.

The default (`DEFAULT_CHART`) maps every code in `paycore/chart.py`, the one list of every
slice's codes; a JSON file (Settings.finance_chart_file, PAYCORE_FINANCE_CHART_FILE)
replaces it whole and is read strictly: unknown keys, a GL code not declared, a ledger
code given twice or a code of paycore left unmapped are refused `invalid_finance_chart`.
A ledger code met in the journal that the chart does not map refuses the day
(`finance_code_unmapped`): never dropped, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paycore import strict_json
from paycore.chart import CHART as LEDGER_CHART
from paycore.errors import Rejected
from paycore.limits import CODE_MAX

GL_CODE = re.compile(r"[0-9]{4}(?:[0-9]{2}){0,4}")  # 4-digit level 1, 2 digits a level below
NAME_LENGTH_MAX = 64
CHART_FILE_BYTES_MAX = 1 << 20


@dataclass(frozen=True, slots=True)
class GlAccount:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class FinanceChart:
    accounts: Mapping[str, GlAccount]
    """GL code -> account."""
    by_ledger_code: Mapping[int, str]
    """ledger account code -> GL code."""

    def gl_of(self, ledger_code: int) -> str:
        found = self.by_ledger_code.get(ledger_code)
        if found is None:
            raise Rejected(
                "finance_code_unmapped",
                f"ledger code {ledger_code} has no GL account in the finance chart",
            )
        return found

    def view(self) -> list[dict[str, object]]:
        """One row per ledger code: its paycore name and its GL account."""
        rows: list[dict[str, object]] = []
        for code, gl in sorted(self.by_ledger_code.items()):
            entry = LEDGER_CHART.get(code)
            account = self.accounts[gl]
            rows.append(
                {
                    "ledger_code": code,
                    "ledger_name": entry.name if entry else "",
                    "gl_account": gl,
                    "gl_name_zh": account.name_zh,
                    "gl_name_en": account.name_en,
                }
            )
        return rows


_DEFAULT_ACCOUNTS = (
    GlAccount("100201", "银行存款—存管资金池", "Bank deposits — custody pool"),
    GlAccount("100202", "银行存款—存管资金划转", "Bank deposits — moved into custody"),
    GlAccount("112201", "应收账款—渠道待清算款", "Accounts receivable — channel clearing"),
    GlAccount("122101", "其他应收款—用户欠款", "Other receivables — users' debts"),
    GlAccount("224101", "其他应付款—商户待结算款", "Other payables — merchants' funds"),
    GlAccount("224102", "其他应付款—用户钱包余额", "Other payables — users' wallets"),
    GlAccount("224103", "其他应付款—营销奖励预算", "Other payables — reward budgets"),
    GlAccount("224104", "其他应付款—出款在途", "Other payables — payouts in transit"),
    GlAccount("224105", "其他应付款—存管子账户", "Other payables — custody sub-accounts"),
    GlAccount("224106", "其他应付款—待查明款项", "Other payables — reconciliation suspense"),
    GlAccount("600101", "主营业务收入—支付手续费", "Operating revenue — payment fees"),
    GlAccount("600102", "主营业务收入—分账佣金", "Operating revenue — split commissions"),
)
_DEFAULT_MAP = {
    1101: "112201",  # channel clearing: what a channel owes us
    1201: "100201",  # custody pool: the custody bank holds it for us
    1202: "100202",  # custody funding: the other side of the pool
    1301: "122101",  # user receivable
    2001: "224101",  # merchant wallet
    2002: "224102",  # user wallet
    2003: "224103",  # reward budget
    2101: "224104",  # payouts and refunds in transit
    2201: "224105",  # custody sub-account
    2901: "224106",  # reconciliation suspense
    4001: "600101",  # fee revenue
    4002: "600102",  # split commission revenue
}
DEFAULT_CHART = FinanceChart({a.code: a for a in _DEFAULT_ACCOUNTS}, _DEFAULT_MAP)


def load_chart(path: str) -> FinanceChart:
    """The chart in the file at `path`, or the default for an empty path."""
    if not path:
        return DEFAULT_CHART
    try:
        with Path(path).open("rb") as file:
            data = file.read(CHART_FILE_BYTES_MAX + 1)
    except OSError as error:
        raise Rejected("invalid_finance_chart", f"{path}: {error.strerror}") from None
    if len(data) > CHART_FILE_BYTES_MAX:
        raise Rejected("invalid_finance_chart", f"{path}: over {CHART_FILE_BYTES_MAX} bytes")
    try:
        return parse_chart(strict_json.loads(data))
    except Rejected as error:
        raise Rejected("invalid_finance_chart", f"{path}: {error.detail}") from None


def parse_chart(doc: Any) -> FinanceChart:
    """`{"accounts": [{"code", "name_zh", "name_en"}], "map": {"<ledger code>": "<GL>"}}`"""
    _keys(doc, {"accounts", "map"}, "the chart")
    if not isinstance(doc["accounts"], list) or not doc["accounts"]:
        raise Rejected("invalid_finance_chart", "accounts: a non-empty list")
    accounts: dict[str, GlAccount] = {}
    for n, item in enumerate(doc["accounts"]):
        account = _account(item, f"accounts[{n}]")
        if account.code in accounts:
            raise Rejected("invalid_finance_chart", f"accounts[{n}]: {account.code} given twice")
        accounts[account.code] = account
    if not isinstance(doc["map"], dict):
        raise Rejected("invalid_finance_chart", "map: an object of ledger code -> GL code")
    mapping = {_ledger_code(key): _target(gl, key, accounts) for key, gl in doc["map"].items()}
    if len(mapping) != len(doc["map"]):
        raise Rejected("invalid_finance_chart", "map: a ledger code is given twice")
    missing = sorted(set(LEDGER_CHART) - set(mapping))
    if missing:
        raise Rejected("invalid_finance_chart", f"map: ledger codes {missing} are not mapped")
    return FinanceChart(accounts, mapping)


def _keys(doc: Any, expected: set[str], where: str) -> None:
    if not isinstance(doc, dict) or set(doc) != expected:
        got = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise Rejected("invalid_finance_chart", f"{where}: needs {sorted(expected)}, got {got}")


def _account(item: Any, where: str) -> GlAccount:
    _keys(item, {"code", "name_zh", "name_en"}, where)
    code = item["code"]
    if not isinstance(code, str) or not GL_CODE.fullmatch(code):
        raise Rejected("invalid_finance_chart", f"{where}.code: 4 to 12 digits, got {code!r}")
    for field in ("name_zh", "name_en"):
        name = item[field]
        if not isinstance(name, str) or not 0 < len(name.strip()) <= NAME_LENGTH_MAX:
            raise Rejected(
                "invalid_finance_chart", f"{where}.{field}: 1 to {NAME_LENGTH_MAX} characters"
            )
    return GlAccount(code, item["name_zh"], item["name_en"])


def _ledger_code(key: str) -> int:
    if not key.isascii() or not key.isdigit() or len(key) > 10 or int(key) > CODE_MAX:
        raise Rejected("invalid_finance_chart", f"map: {key!r} is not a ledger code")
    return int(key)


def _target(gl: Any, key: str, accounts: Mapping[str, GlAccount]) -> str:
    if not isinstance(gl, str) or gl not in accounts:
        raise Rejected("invalid_finance_chart", f"map[{key}]: {gl!r} is not in accounts")
    return gl
