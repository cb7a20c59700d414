"""The demo's made-up world: three merchants, their products, payers and their cards.

Pure and seeded: the same seed gives the same day of traffic. Amounts are integers of
fen (CNY minor units). Card numbers carry UnionPay-style prefixes and a valid Luhn check
digit, except the few a payer mistypes (the bank declines those as `invalid_card`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from paycore.channels.model import BankAccount, Payer

CURRENCY = "CNY"
CARD_PREFIXES = ("622202", "621700", "622848", "621483", "622588", "625807")
PHONE_PREFIXES = ("130", "135", "138", "139", "150", "158", "166", "177", "186", "199")
BANK_CODES = ("ICBC", "CCB", "ABC", "BOC", "CMB", "BOCOM")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN_NAMES = (
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟",
    "涛", "明", "超", "秀英", "建华", "文博", "思远", "雨桐", "子涵", "浩然", "欣怡",
)  # fmt: skip
MISTYPED_CARD_RATE = 0.005
"""Payers who mistype their card number: a user failure the bank reports."""


@dataclass(frozen=True, slots=True)
class DemoMerchant:
    id: str
    name: str
    fee_bps: int
    traffic_share: float  # of the day's pay-ins
    products: tuple[tuple[str, float], ...]  # product and its weight
    payout_share: float  # of the available balance paid out at the end of the day
    payout_descriptions: tuple[str, ...]


MERCHANTS = (
    DemoMerchant(
        id="mch_demo_rentals",
        name="Harbour View Rentals",
        fee_bps=30,
        traffic_share=0.3,
        products=(("rent", 0.8), ("deposit", 0.2)),
        payout_share=0.7,
        payout_descriptions=("rent to landlord", "maintenance contractor"),
    ),
    DemoMerchant(
        id="mch_demo_agency",
        name="Lotus Property Agency",
        fee_bps=60,
        traffic_share=0.2,
        products=(("deposit", 0.6), ("rent", 0.4)),
        payout_share=0.5,
        payout_descriptions=("deposit to landlord", "rent to landlord"),
    ),
    DemoMerchant(
        id="mch_demo_shop",
        name="Corner Shop",
        fee_bps=150,
        traffic_share=0.5,
        products=(("purchase", 1.0),),
        payout_share=0.8,
        payout_descriptions=("daily settlement to the shop's account", "supplier invoice"),
    ),
)
PRODUCTS = ("rent", "deposit", "purchase")


@dataclass(frozen=True, slots=True)
class PlannedPayin:
    merchant_id: str
    product: str
    amount: int
    payer: Payer
    description: str


def luhn_check_digit(digits: str) -> str:
    """The digit that makes `digits + it` pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: it will sit second from the right, and so on
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


def is_luhn_valid(number: str) -> bool:
    return number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def card_number(rng: random.Random, *, length: int = 16) -> str:
    prefix = rng.choice(CARD_PREFIXES)
    body = "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    partial = prefix + body
    return partial + luhn_check_digit(partial)


def mistype(number: str, rng: random.Random) -> str:
    """The number with one digit changed: always fails the Luhn check."""
    position = rng.randrange(len(CARD_PREFIXES[0]), len(number))
    wrong = (int(number[position]) + rng.randrange(1, 10)) % 10
    return number[:position] + str(wrong) + number[position + 1 :]


def phone(rng: random.Random) -> str:
    return rng.choice(PHONE_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(8))


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def payer(rng: random.Random) -> Payer:
    number = card_number(rng, length=rng.choice((16, 16, 16, 19)))
    if rng.random() < MISTYPED_CARD_RATE:
        number = mistype(number, rng)
    return Payer(card_number=number, name=person_name(rng), phone=phone(rng))


def beneficiary(rng: random.Random) -> BankAccount:
    account = rng.choice(CARD_PREFIXES) + "".join(str(rng.randrange(10)) for _ in range(13))
    return BankAccount(
        account_number=account, name=person_name(rng), bank_code=rng.choice(BANK_CODES)
    )


def amount_for(product: str, rng: random.Random) -> int:
    """A realistic amount in fen: rents of 1,500-9,000 yuan, deposits of one or two
    months' rent, shop purchases mostly tens of yuan with a long tail."""
    if product == "rent":
        return rng.randrange(1_500, 9_000, 50) * 100
    if product == "deposit":
        return rng.randrange(1_500, 9_000, 50) * 100 * rng.choice((1, 1, 2))
    cents = int(rng.lognormvariate(4.0, 1.0) * 100)
    return min(max(cents, 350), 300_000) // 10 * 10


def description_for(product: str, rng: random.Random) -> str:
    if product == "rent":
        return f"rent, unit {rng.randrange(1, 33)}{rng.choice('ABCDEF')}"
    if product == "deposit":
        return f"security deposit, unit {rng.randrange(1, 33)}{rng.choice('ABCDEF')}"
    return rng.choice(("groceries", "coffee and snacks", "household goods", "stationery"))


def plan_payins(count: int, rng: random.Random) -> list[PlannedPayin]:
    """`count` pay-ins spread over the merchants by their share of traffic."""
    shares = [m.traffic_share for m in MERCHANTS]
    plans = []
    for merchant in rng.choices(MERCHANTS, weights=shares, k=count):
        names = [p for p, _ in merchant.products]
        weights = [w for _, w in merchant.products]
        product = rng.choices(names, weights=weights)[0]
        plans.append(
            PlannedPayin(
                merchant_id=merchant.id,
                product=product,
                amount=amount_for(product, rng),
                payer=payer(rng),
                description=description_for(product, rng),
            )
        )
    return plans


def refund_share(product: str, rng: random.Random) -> float:
    """What part of a paid amount a first partial refund gives back."""
    if product == "deposit":
        return rng.uniform(0.5, 0.9)  # the deposit back, less deductions
    if product == "rent":
        return rng.uniform(0.05, 0.2)  # a billing correction
    return rng.uniform(0.1, 0.6)  # some items returned


def split_amount(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` in `parts` positive integers of random sizes that sum to it exactly
    (fewer parts when the total is too small)."""
    parts = max(1, min(parts, total))
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    scale = sum(weights)
    amounts = [max(1, int(total * w / scale)) for w in weights]
    amounts[-1] += total - sum(amounts)
    while amounts[-1] < 1:  # the rounding up of the others overshot: take it back
        donor = max(range(parts - 1), key=lambda i: amounts[i])
        amounts[donor] -= 1
        amounts[-1] += 1
    return amounts
