"""The bills benchmark's data: one merchant's year in the journal, valid and fast to make.

A merchant (`mch_bench_bills`) sells through three channels and three products for twelve
months of bill days (Asia/Shanghai): pay-ins (`tr_pay_<order>_cap` net to its wallet and
`tr_pay_<order>_fee` to the fee account, linked), a few closed unpaid; refunds and daily
payouts as the payment flow books them (hold, then post + out, or void; now and then a
payout the bank returns); one pay-in in ten split to one of three stores inside the
merchant (`mch_bench_bills:store_N`, code 30). Every order gets its `payment_orders` row
(product, channel, fee, masked payer). More pay-ins on weekends and on 6.18 and 11.11, a
lunch and an evening peak, and a business growing through the year.

The journal is made by the ledger's own rules, not beside them: each chain goes through
`paycore.ledger.posting.Posting` (the code the writer runs) at its own instant, against
accounts held in memory, and each group of about 20,000 entries is written with the
writer's own `store_writer.write_posting` (binary COPY on PostgreSQL). What is skipped is
only what a single writer does not need: locking and reloading the accounts per group.
So `paycore ledger check` (balances against the journal, orders against the transfers)
passes on the result; the benchmark runs it.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from bills_writer import Generated, Writer
from paycore.ledger import store_writer
from paycore.ledger.model import AccountFlags, TransferFlags
from paycore.ledger.model import TransferRequest as Tr
from paycore.ledger.service import AccountRequest, Ledger
from paycore.payments import bookkeeping as books
from paycore.wallets.model import CODE_USER_WALLET, ledger_owner, wallet_account

MERCHANT = "mch_bench_bills"
CCY = "CNY"
FIRST_DAY = date(2025, 12, 1)  # bill days: 2025-12-01 .. 2026-11-30, China Standard Time
DAYS = 365
MONTHS = [f"{2025 + (11 + k) // 12}-{(11 + k) % 12 + 1:02d}" for k in range(12)]
SHANGHAI = timedelta(hours=8)  # no daylight saving in China: a fixed offset is exact
CHANNELS = (("wechat", 0.55), ("alipay", 0.35), ("unionpay", 0.10))
PRODUCTS = (("scan_pay", 0.70), ("mini_program", 0.22), ("app_pay", 0.08))
STORES = ("store_1", "store_2", "store_3")
PAYOUT_CHANNEL = "cmbc_h2h"
FEE_BPS = 60
CLOSED_UNPAID = 0.02
SPLIT_SHARE = 0.10
REFUND_SHARE = 0.03
PAYOUT_FAILED = 0.03
PAYOUT_RETURNED = 0.02
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 12, 18, 22, 16, 10, 9, 10, 14, 20, 24, 20, 14, 8, 3)
ENTRIES_PER_PAYIN = (1 - CLOSED_UNPAID) * (
    4 + SPLIT_SHARE * 2 + REFUND_SHARE * 6
)  # cap + fee, a split leg, a refund's hold, post and out
_LINKED = TransferFlags.LINKED.value

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def accounts() -> list[AccountRequest]:
    limited = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    found = [books.wallet_request(MERCHANT, CCY)]
    found += [
        AccountRequest(CCY, books.clearing_account(c, CCY), books.CODE_CLEARING)
        for c, _ in (*CHANNELS, (PAYOUT_CHANNEL, 0))
    ]
    found += [
        AccountRequest(CCY, books.fee_account(CCY), books.CODE_FEE),
        AccountRequest(CCY, books.transit_account(CCY), books.CODE_TRANSIT),
    ]
    found += [
        AccountRequest(
            CCY,
            wallet_account(MERCHANT, s, CCY),
            CODE_USER_WALLET,
            ledger_owner(MERCHANT, s),
            limited,
            {"merchant_id": MERCHANT, "owner": s},
        )
        for s in STORES
    ]
    return found


def _order_id(prefix: str, at: datetime, n: int) -> str:
    """A UUIDv7-shaped id in Crockford base32 at the order's instant: ids sort by time."""
    value = (int(at.timestamp() * 1000) << 80) | (0x7 << 76) | (0b10 << 62) | n
    chars = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    text = "".join(chars[(value >> (5 * k)) & 31] for k in range(25, -1, -1))
    return f"{prefix}_{text}"


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    for name, weight in weighted:
        x -= weight
        if x < 0:
            return name
    return weighted[-1][0]


def day_counts(payins: int, rng: random.Random) -> list[int]:
    """Pay-ins per bill day: growth through the year, weekends, 6.18 and 11.11, noise."""
    weights = []
    for d in range(DAYS):
        day = FIRST_DAY + timedelta(days=d)
        w = (1 + 0.6 * d / DAYS) * (1.3 if day.weekday() >= 5 else 1.0)
        if (day.month, day.day) in ((6, 18), (11, 11)):
            w *= 3
        weights.append(w * math.exp(rng.gauss(0, 0.1)))
    total = sum(weights)
    return [max(1, round(payins * w / total)) for w in weights]


def _row(
    oid: str, kind: str, product: str, amount: int, fee: int, status: str, channel: str | None,
    created: datetime, finished: datetime | None, *, parent: str | None = None,
    refunded: int = 0, party: str = "{}", failure: str | None = None, reference: str | None = None,
) -> tuple[Any, ...]:  # fmt: skip
    return (
        oid, kind, MERCHANT, reference, product, amount, CCY, fee, status, False, channel,
        f"T{oid[-12:]}" if channel else None, "declined" if failure else None, failure,
        "", parent, refunded, "{}", party, None, None, created, finished or created,
        finished, None, 0, 2,
    )  # fmt: skip


def _meta(oid: str) -> dict[str, str]:
    return {"order_id": oid, "merchant_id": MERCHANT}


class Year:
    """The merchant's year as a stream of timed events, applied in time order."""

    def __init__(self, writer: Writer, seed: int) -> None:
        self.w = writer
        self.rng = random.Random(seed)
        self.events: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self.n = 0
        self.wallet = books.wallet_account(MERCHANT, CCY)
        self.payers = [self._payer() for _ in range(2_000)]
        self.end = datetime.combine(FIRST_DAY + timedelta(days=DAYS), datetime.min.time(), UTC)
        self.end -= SHANGHAI

    def _payer(self) -> str:
        r = self.rng
        card = f"622848******{r.randrange(10_000):04d}"
        name = r.choice(_SURNAMES) + "*" * r.choice((1, 2))
        phone = f"1{r.choice('35789')}{r.randrange(10)}****{r.randrange(10_000):04d}"
        return json.dumps(
            {"card_number": card, "name": name, "id_number": "", "phone": phone},
            ensure_ascii=False,
        )

    def at(self, when: datetime, action: Callable[[datetime], None]) -> None:
        if when < self.end:
            self.n += 1
            heapq.heappush(self.events, (when, self.n, action))

    def run(self, counts: list[int], progress: Callable[[int], None]) -> None:
        for d, count in enumerate(counts):
            midnight = datetime.combine(FIRST_DAY + timedelta(days=d), datetime.min.time(), UTC)
            midnight -= SHANGHAI
            for _ in range(count):
                hour = self.rng.choices(range(24), HOUR_WEIGHTS)[0]
                self.at(midnight + timedelta(hours=hour, seconds=self.rng.random() * 3600),
                        self.payin)  # fmt: skip
            self.at(midnight + timedelta(hours=10), self.payout)
            next_day = midnight + timedelta(days=1)
            while self.events and self.events[0][0] < next_day:
                when, _, action = heapq.heappop(self.events)
                action(when)
                self.w.flush_if_full()
            progress(d + 1)
        self.w.flush()

    def payin(self, at: datetime) -> None:
        r, self.n = self.rng, self.n + 1
        oid = _order_id("pay", at, self.n)
        product, channel = _pick(r, PRODUCTS), _pick(r, CHANNELS)
        amount = max(200, int(math.exp(r.gauss(8.2, 1.0))))  # about ¥36, a long tail
        fee = (amount * FEE_BPS + 5_000) // 10_000
        created = at - timedelta(seconds=5 + r.random() * 60)
        party = r.choice(self.payers)
        self.w.out.payins += 1
        if r.random() < CLOSED_UNPAID:
            self.w.order(_row(oid, "payin", product, amount, fee, "closed", None, created, at,
                              party=party, reference=f"SO{self.n}"))  # fmt: skip
            return
        clearing = books.clearing_account(channel, CCY)
        meta = _meta(oid)
        chain = [
            Tr(f"tr_{oid}_cap", clearing, self.wallet, amount - fee, CCY, _LINKED,
               code=books.REASON_PAYIN, metadata=meta, bank_confirmed=True),
            Tr(f"tr_{oid}_fee", clearing, books.fee_account(CCY), fee, CCY,
               code=books.REASON_FEE, metadata=meta),
        ]  # fmt: skip
        self.w.apply(at, chain)
        refunded = 0
        if r.random() < REFUND_SHARE:
            refunded = amount if r.random() < 0.7 else max(1, int(amount * r.uniform(0.1, 0.9)))
            delay = timedelta(hours=r.expovariate(1 / 20))
            if at + delay + timedelta(minutes=30) >= self.end:
                refunded = 0
            else:
                self.at(at + delay, lambda t: self.refund(t, oid, product, channel, refunded))
        if r.random() < SPLIT_SHARE:
            store = r.choice(STORES)
            share = (amount - fee) * 15 // 100
            self.at(at + timedelta(minutes=5), lambda t: self.split(t, oid, store, share))
        self.w.order(_row(oid, "payin", product, amount, fee, "succeeded", channel, created, at,
                          refunded=refunded, party=party, reference=f"SO{self.n}"))  # fmt: skip

    def split(self, at: datetime, payin: str, store: str, share: int) -> None:
        self.n += 1
        split_id = _order_id("spl", at, self.n)
        meta = {"split_id": split_id, "payin_id": payin, "op": "apply"}
        target = wallet_account(MERCHANT, store, CCY)
        self.w.apply(at, [Tr(f"tr_{split_id}_1", self.wallet, target, share, CCY, code=30,
                             metadata=meta)])  # fmt: skip

    def _hold(self, at: datetime, oid: str, amount: int, reason: int) -> bool:
        hold = Tr(f"tr_{oid}_hold", self.wallet, books.transit_account(CCY), amount, CCY,
                  TransferFlags.PENDING.value, code=reason, metadata=_meta(oid))  # fmt: skip
        return self.w.apply(at, [hold])

    def _settle(self, at: datetime, oid: str, amount: int, channel: str, ok: bool) -> None:
        meta = _meta(oid)
        if not ok:
            self.w.apply(
                at,
                [
                    Tr(
                        f"tr_{oid}_void",
                        pending_id=f"tr_{oid}_hold",
                        flags=TransferFlags.VOID_PENDING.value,
                        metadata=meta,
                    )
                ],
            )
            return  # fmt: skip
        post_flags = TransferFlags.POST_PENDING.value | TransferFlags.LINKED.value
        reason = self.w.posting.transfers[f"tr_{oid}_hold"].code
        self.w.apply(at, [
            Tr(f"tr_{oid}_post", pending_id=f"tr_{oid}_hold", flags=post_flags, metadata=meta),
            Tr(f"tr_{oid}_out", books.transit_account(CCY), books.clearing_account(channel, CCY),
               amount, CCY, code=reason, metadata=meta),
        ])  # fmt: skip

    def refund(self, at: datetime, payin: str, product: str, channel: str, amount: int) -> None:
        self.n += 1
        oid = _order_id("rf", at, self.n)
        if not self._hold(at, oid, amount, books.REASON_REFUND):
            self.w.order(_row(oid, "refund", product, amount, 0, "failed", channel, at, at,
                              parent=payin, failure="insufficient_balance"))  # fmt: skip
            return
        ok = self.rng.random() > 0.01
        done = at + timedelta(minutes=20)

        def finish(t: datetime) -> None:
            self._settle(t, oid, amount, channel, ok)
            self.w.order(_row(oid, "refund", product, amount, 0, "succeeded" if ok else "failed",
                              channel, at, t, parent=payin,
                              failure=None if ok else "channel_declined"))  # fmt: skip

        self.at(done, finish)

    def payout(self, at: datetime) -> None:
        available = self.w.states[self.wallet].available
        amount = available * 7 // 10
        if amount < 10_000:
            return
        self.n += 1
        oid = _order_id("po", at, self.n)
        r = self.rng
        ok = r.random() > PAYOUT_FAILED
        returned = ok and r.random() < PAYOUT_RETURNED and at + timedelta(days=2) < self.end
        party = json.dumps({"account_number": "************6688", "name": "王**",
                            "bank_code": "CMBCCNBS"}, ensure_ascii=False)  # fmt: skip
        self._hold(at, oid, amount, books.REASON_PAYOUT)

        def finish(t: datetime) -> None:
            self._settle(t, oid, amount, PAYOUT_CHANNEL, ok)
            if returned:
                self.at(t + timedelta(days=1), back)
                return
            status = "succeeded" if ok else "failed"
            self.w.order(
                _row(
                    oid,
                    "payout",
                    "settlement",
                    amount,
                    0,
                    status,
                    PAYOUT_CHANNEL,
                    at,
                    t,
                    party=party,
                    failure=None if ok else "account_closed",
                )
            )

        def back(t: datetime) -> None:
            clearing = books.clearing_account(PAYOUT_CHANNEL, CCY)
            self.w.apply(
                t,
                [
                    Tr(
                        f"tr_{oid}_ret",
                        clearing,
                        self.wallet,
                        amount,
                        CCY,
                        code=books.REASON_PAYOUT_RETURN,
                        metadata=_meta(oid),
                        bank_confirmed=True,
                    )
                ],
            )
            self.w.order(_row(oid, "payout", "settlement", amount, 0, "returned",
                              PAYOUT_CHANNEL, at, t, party=party))  # fmt: skip

        self.at(at + timedelta(minutes=90), finish)


def generate(
    engine: Engine,
    ledger: Ledger,
    entries: int,
    progress: Callable[[int, int], None],
    seed: int = 7,
) -> Generated:
    """Write about `entries` journal entries of the merchant's year; `progress(days, entries)`."""
    started, cpu = time.perf_counter(), time.process_time()
    ledger.create_accounts(accounts())
    with engine.begin() as conn:
        states = store_writer.lock_accounts(conn, [a.id or "" for a in accounts()])
    writer = Writer(engine, states)
    rng = random.Random(seed)
    payins = max(DAYS, round((entries - DAYS * 6) / ENTRIES_PER_PAYIN))
    year = Year(writer, seed)
    year.run(day_counts(payins, rng), lambda days: progress(days, writer.out.entries))
    if writer.postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("ledger_entries", "ledger_transfers", "payment_orders"):
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    out = writer.out
    out.seconds = time.perf_counter() - started
    out.cpu_s = time.process_time() - cpu
    return out
