# ruff: noqa: RUF001  (Chinese text is written with its own full-width punctuation)
"""The bill's words, in Chinese and English: what a shop owner calls things, never the
ledger's names (no "credit", "posted", "pending transfer", "account code")."""

from __future__ import annotations

from datetime import date

from paycore.bills.chart import LOCALES, money_text
from paycore.bills.model import Category
from paycore.errors import Rejected

CATEGORY: dict[str, dict[Category, str]] = {
    "zh": {
        Category.PAYIN: "顾客付款",
        Category.FEE: "手续费",
        Category.REFUND: "退给顾客的钱",
        Category.PAYOUT: "提现到您的银行卡",
        Category.PAYOUT_RETURN: "银行退回的提现",
        Category.SPLIT_RECEIVED: "分到的钱",
        Category.SPLIT_PAID: "分给别人的钱",
        Category.CLAWBACK: "因退款收回的分账",
        Category.CUSTODY_RECEIPT: "存管账户到账",
        Category.CUSTODY_MATCH: "押金转为佣金",
        Category.CUSTODY_REFUND: "未认领的钱已退回",
        Category.COLLECTION: "代收的租金",
        Category.REWARD: "奖励",
        Category.TOP_UP: "充值",
        Category.DEBT_REPAYMENT: "还欠款",
        Category.ADJUSTMENT: "与银行核对后的更正",
        Category.OWN_TRANSFER: "在您自己的账户之间转移",
        Category.OTHER: "其他",
    },
    "en": {
        Category.PAYIN: "Paid by your customers",
        Category.FEE: "Fees",
        Category.REFUND: "Refunded to customers",
        Category.PAYOUT: "Sent to your bank account",
        Category.PAYOUT_RETURN: "Sent back by the bank",
        Category.SPLIT_RECEIVED: "Shares you received",
        Category.SPLIT_PAID: "Shares you paid to others",
        Category.CLAWBACK: "Shares taken back for refunds",
        Category.CUSTODY_RECEIPT: "Received in custody",
        Category.CUSTODY_MATCH: "Deposits turned into commission",
        Category.CUSTODY_REFUND: "Unclaimed money sent back",
        Category.COLLECTION: "Rent collected",
        Category.REWARD: "Rewards",
        Category.TOP_UP: "Top-ups",
        Category.DEBT_REPAYMENT: "Debts paid back",
        Category.ADJUSTMENT: "Corrections after checking with the bank",
        Category.OWN_TRANSFER: "Moved between your own accounts",
        Category.OTHER: "Other",
    },
}

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "as_of": "数据截至 {when}（北京时间）",
        "sealed": "本月账单已结账，之后的更正会出现在下个月的账单里。",
        "open": "本月尚未结账，数字可能还会变化。",
        "attention": "需要您留意的事：",
        "separator": "；",
        "attention_none": "没有需要您处理的事。",
        "summary": "本月概览",
        "opening": "月初余额",
        "money_in": "收入",
        "money_out": "支出",
        "closing": "月末余额",
        "on_hold": "月末暂时冻结",
        "came_in": "收到的钱",
        "by_product": "按产品和支付渠道",
        "product": "产品",
        "channel": "渠道",
        "count": "笔数",
        "amount": "金额",
        "from_whom": "谁付的钱",
        "payer": "付款人（已隐去部分姓名）",
        "charged": "paycore 收了多少，为什么",
        "went_out": "付出去的钱",
        "holds": "还冻结着的钱，以及什么时候放开",
        "holds_none": "现在没有冻结的钱。",
        "what": "用途",
        "released": "放开时间（北京时间）",
        "released_by_flow": "付款完成时",
        "owed": "欠款",
        "owed_none": "没有欠款。",
        "who": "谁欠的",
        "owed_start": "月初欠",
        "owed_now": "月末欠",
        "daily_chart": "每天收入和支出",
        "months_chart": "本月和前几个月比较",
        "none": "本月没有。",
        "you": "您",
        "owner": "（{owner} 的账单）",
    },
    "en": {
        "as_of": "Figures as of {when} (China Standard Time)",
        "sealed": "This month is closed: any later correction appears on next month's bill.",
        "open": "This month is not closed yet: the figures may still change.",
        "attention": "Needs your attention:",
        "separator": "; ",
        "attention_none": "Nothing needs your attention.",
        "summary": "The month at a glance",
        "opening": "At the start of the month",
        "money_in": "Money in",
        "money_out": "Money out",
        "closing": "At the end of the month",
        "on_hold": "On hold at the end of the month",
        "came_in": "What came in",
        "by_product": "By product and payment channel",
        "product": "Product",
        "channel": "Channel",
        "count": "Count",
        "amount": "Amount",
        "from_whom": "Who paid you",
        "payer": "Payer (name partly hidden)",
        "charged": "What paycore charged, and why",
        "went_out": "What went out",
        "holds": "Money still on hold, and when it is released",
        "holds_none": "No money is on hold now.",
        "what": "What for",
        "released": "Released at (China Standard Time)",
        "released_by_flow": "when the payment finishes",
        "owed": "What is owed",
        "owed_none": "Nobody owes anything.",
        "who": "Who owes",
        "owed_start": "At the start",
        "owed_now": "At the end",
        "daily_chart": "Money in and out, day by day",
        "months_chart": "This month against the months before",
        "none": "None this month.",
        "you": "You",
        "owner": " ({owner}'s bill)",
    },
}

ATTENTION: dict[str, dict[str, str]] = {
    "zh": {
        "failed_collection": "{count} 笔租金代收失败，所有重试都没有成功",
        "recon_break": "{count} 笔付款与银行的记录对不上，我们正在核对",
        "refund_waiting": "{count} 笔退款还在等银行处理",
    },
    "en": {
        "failed_collection": "{count} rent collection(s) failed after every retry",
        "recon_break": "{count} payment(s) do not match the bank's records; we are checking",
        "refund_waiting": "{count} refund(s) are still waiting for the bank",
    },
}

_HOLDS: dict[str, dict[str, str]] = {
    "zh": {
        "payout": "提现处理中",
        "refund": "退款处理中",
        "split_paid": "延迟分账，到期后分给对方",
        "split_received": "延迟分账，到期后分给您",
        "collection": "代收租金处理中",
        "reward": "奖励发放中",
        "out": "处理中的付款",
        "in": "待入账的钱",
    },
    "en": {
        "payout": "A payout on its way to your bank",
        "refund": "A refund on its way to your customer",
        "split_paid": "A delayed split, paid out when it is due",
        "split_received": "A delayed split, yours when it is due",
        "collection": "A rent collection in progress",
        "reward": "A reward being paid",
        "out": "A payment in progress",
        "in": "Money on its way to you",
    },
}


def check_lang(lang: str) -> None:
    if lang not in LOCALES:
        raise Rejected("invalid_lang", f"lang is one of {', '.join(LOCALES)}, got {lang!r}")


def month_title(merchant_name: str, month: str, owner_id: str | None, lang: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    owner = WORDS[lang]["owner"].format(owner=owner_id) if owner_id else ""
    if lang == "zh":
        return f"{merchant_name} {year}年{number}月账单{owner}"
    return f"{merchant_name}: bill for {date(year, number, 1):%B %Y}{owner}"


def equation(
    opening: int, money_in: int, money_out: int, closing: int, currency: str, lang: str
) -> str:
    """The balance sum in one line: opening + in - out = closing."""
    w = WORDS[lang]
    text = [money_text(v, currency, lang) for v in (opening, money_in, money_out, closing)]
    return (
        f"{w['opening']} {text[0]} + {w['money_in']} {text[1]} − {w['money_out']} {text[2]}"
        f" = {w['closing']} {text[3]}"
    )


def fee_rate_text(fee_bps: int | None, count: int, total: str, lang: str) -> str:
    """Why paycore charged what it did: the merchant's rate on each payment received."""
    rate = f"{fee_bps // 100}.{fee_bps % 100:02d}%" if fee_bps is not None else ""
    if lang == "zh":
        why = f"每笔顾客付款按 {rate} 收取手续费；" if rate else ""
        return f"{why}本月共 {count} 笔手续费，合计 {total}。"
    why = f"paycore charges {rate} of each payment your customers make. " if rate else ""
    return f"{why}This month: {count} fees, {total} in all."


def hold_text(category: str, outgoing: bool, lang: str) -> str:
    words = _HOLDS[lang]
    return words.get(category) or words["out" if outgoing else "in"]


def payers_text(payers: int, payins: int, lang: str) -> str:
    if lang == "zh":
        return f"{payers} 位付款人，共 {payins} 笔付款"
    people = "1 payer" if payers == 1 else f"{payers} payers"
    return f"{people} made {payins} payment{'' if payins == 1 else 's'}"
