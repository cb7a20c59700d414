"""The suspicious-transaction report draft (可疑交易报告) of a case, as JSON and Markdown.

Its parts follow the elements of a report under the PBOC's 金融机构大额交易和可疑交易报告
管理办法 (Order [2016] No. 3, amended 2018): the reporting institution, the subject, the
suspicious behaviour in words (the case's reasons), the transactions behind it, and the
analyst's analysis and conclusion with the measures taken. It is a *draft*: an analyst
files it through the regulator's own system; paycore keeps what was drafted (sealed).

Personal data stays out: the subject is a merchant id, a ledger owner reference with any
card, ID or phone number in it masked, or a payer's blind-index token; numbers typed in the
conclusion are masked before the draft is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paycore.aml.cases_model import Case
from paycore.money import decimal_text, is_known_currency
from paycore.security.masking import redact_personal_numbers

FORMAT = "paycore-aml-str/1"
BASIS = "金融机构大额交易和可疑交易报告管理办法 (中国人民银行令 2016 年第 3 号)"
STR_TRANSACTIONS_MAX = 500
"""Transactions listed in one draft; each reason still says how many it saw."""


@dataclass(frozen=True)
class Institution:
    name: str
    code: str


@dataclass(frozen=True)
class Transaction:
    id: str
    kind: str
    amount_minor: int | None
    currency: str | None
    at: datetime | None
    """None (and found False) when the warehouse does not hold the id (yet)."""
    found: bool = True


def transaction_ids(case: Case) -> list[str]:
    """Every transaction the case's reasons name, once, in the reasons' order."""
    seen: dict[str, None] = {}
    for reason in case.reasons:
        for tid in reason["transaction_ids"]:
            seen.setdefault(str(tid), None)
    return list(seen)[:STR_TRANSACTIONS_MAX]


def subject_of(case: Case) -> dict[str, str | None]:
    merchant_id: str | None = None
    if case.subject_type in ("merchant", "owner"):
        merchant_id = case.subject_id.split(":", 1)[0]
    return {
        "type": case.subject_type,
        "id": redact_personal_numbers(case.subject_id),
        "merchant_id": merchant_id,
    }


def build(
    case: Case,
    *,
    draft_no: int,
    drafted_at: datetime,
    drafted_by: str,
    institution: Institution,
    transactions: Sequence[Transaction],
    conclusion: str,
    measures: str,
) -> dict[str, Any]:
    """The draft as a JSON document (what is sealed and kept)."""
    totals: dict[str, int] = {}
    for t in transactions:
        if t.amount_minor is not None and t.currency is not None:
            totals[t.currency] = totals.get(t.currency, 0) + t.amount_minor
    return {
        "format": FORMAT,
        "title": {"zh": "可疑交易报告 (草稿)", "en": "Suspicious transaction report (draft)"},
        "basis": BASIS,
        "case_id": case.id,
        "draft_no": draft_no,
        "drafted_at": drafted_at.isoformat(),
        "drafted_by": drafted_by,
        "reporting_institution": {"name": institution.name, "code": institution.code},
        "subject": subject_of(case),
        "score": case.score,
        "typologies": list(case.typologies),
        "suspicious_behaviour": [_behaviour(r) for r in case.reasons],
        "transactions": [_transaction(t) for t in transactions],
        "transaction_totals": [
            {"currency": code, "amount_minor": amount} for code, amount in sorted(totals.items())
        ],
        "conclusion": redact_personal_numbers(conclusion),
        "measures": redact_personal_numbers(measures),
    }


def _behaviour(reason: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: reason[key]
        for key in (
            "typology",
            "rule",
            "words_zh",
            "words_en",
            "weight",
            "transaction_count",
            "transaction_ids",
        )
    }


def _transaction(t: Transaction) -> dict[str, Any]:
    return {
        "id": t.id,
        "kind": t.kind,
        "amount_minor": t.amount_minor,
        "currency": t.currency,
        "at": t.at.isoformat() if t.at else None,
        "found": t.found,
    }


def markdown(document: Mapping[str, Any]) -> str:
    """The draft for a person to read and copy into the regulator's form."""
    institution = document["reporting_institution"]
    subject = document["subject"]
    lines = [
        f"# {document['title']['zh']} / {document['title']['en']}",
        "",
        f"- 依据 Basis: {document['basis']}",
        f"- 案件 Case: `{document['case_id']}` (draft {document['draft_no']}, "
        f"{document['drafted_at']}, by {document['drafted_by']})",
        f"- 报告机构 Reporting institution: {institution['name']} ({institution['code']})",
        "",
        "## 可疑主体 Subject",
        "",
        f"- 类型 Type: {subject['type']}",
        f"- 标识 Id: `{subject['id']}`",
        f"- 商户 Merchant: `{subject['merchant_id'] or '-'}`",
        f"- 评分 Score: {document['score']}; 类型 Typologies: {', '.join(document['typologies'])}",
        "",
        "## 可疑交易特征 Suspicious behaviour",
        "",
    ]
    for number, reason in enumerate(document["suspicious_behaviour"], start=1):
        lines.append(
            f"{number}. **{reason['typology']}** ({reason['weight']} points, "
            f"{reason['transaction_count']} transactions): {reason['words_zh']}  "
        )
        lines.append(f"   {reason['words_en']}")
    lines += ["", "## 可疑交易明细 Transactions", "", *_transaction_table(document)]
    lines += [
        "",
        "## 疑点分析与结论 Analysis and conclusion",
        "",
        document["conclusion"] or "-",
        "",
        "## 已采取措施 Measures taken",
        "",
        document["measures"] or "-",
        "",
    ]
    return "\n".join(lines)


def _transaction_table(document: Mapping[str, Any]) -> list[str]:
    rows = ["| id | kind | amount (minor units) | amount | currency | at (UTC) |", "|---" * 6 + "|"]
    for t in document["transactions"]:
        if not t["found"]:
            rows.append(f"| `{t['id']}` | not in the warehouse | - | - | - | - |")
            continue
        rows.append(
            f"| `{t['id']}` | {t['kind']} | {t['amount_minor']} | {_major(t)} | "
            f"{t['currency']} | {t['at']} |"
        )
    for total in document["transaction_totals"]:
        rows.append(
            f"| **total** | | {total['amount_minor']} | {_major(total)} | {total['currency']} | |"
        )
    return rows


def _major(value: Mapping[str, Any]) -> str:
    code = value["currency"]
    if not is_known_currency(code):
        return "-"
    return decimal_text(int(value["amount_minor"]), code)
