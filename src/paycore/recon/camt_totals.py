"""What a camt statement says about itself, against what its entries make.

TxsSummry counts every entry of the statement (its sums in major units: they carry no
currency) and is stated gross or net; the balances (OPBD, or PRCD; CLBD) move with booked
entries only, in minor units. `check_summary` refuses a statement whose entries disagree
with its TxsSummry; the balances are judged by the import (store_statements.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from paycore.recon.model import (
    Direction,
    LineStatus,
    MalformedStatement,
    StatementInfo,
    StatementLine,
    parse_amount,
)


@dataclass(slots=True)
class Tally:
    """The lines a file yields, as the import stores them (what it re-checks)."""

    count: int = 0
    credits: int = 0
    debits: int = 0

    def add(self, line: StatementLine) -> None:
        self.count += 1
        if line.direction is Direction.CREDIT:
            self.credits += line.amount
        else:
            self.debits += line.amount


@dataclass(slots=True)
class Counted:
    """A statement's entries as TxsSummry counts them (every entry, in major units: its
    sums carry no currency) and as its balances do (booked entries, minor units)."""

    count: int = 0
    credit_count: int = 0
    debit_count: int = 0
    credits: Decimal = Decimal(0)
    debits: Decimal = Decimal(0)
    booked_credits: int = 0
    booked_debits: int = 0

    def add_entry(self, major: Decimal, credit: bool, lines: list[StatementLine]) -> None:
        """One entry: its amount as written (major units), its sign, and its lines."""
        self.count += 1
        if credit:
            self.credit_count += 1
            self.credits += major
        else:
            self.debit_count += 1
            self.debits += major
        for line in lines:
            if line.status is not LineStatus.SUCCEEDED:
                continue
            if line.direction is Direction.CREDIT:
                self.booked_credits += line.amount
            else:
                self.booked_debits += line.amount


def balances(header: Any) -> dict[str, Any]:
    """The booked opening and closing balances (OPBD, CLBD), by code; a bank that states
    its opening as the previous statement's closing (PRCD) gives it under that code."""
    found = {}
    for balance in getattr(header, "bal", []):
        name = code(balance.tp.cd_or_prtry.cd)
        if name in ("OPBD", "CLBD", "PRCD"):
            found[name] = balance
    previous = found.pop("PRCD", None)
    if previous is not None:
        found.setdefault("OPBD", previous)
    return found


def code(value: Any) -> str:
    """A code bound as an enum (older versions) or as text (external code lists)."""
    return str(getattr(value, "value", value))


def signed_balance(balance: Any) -> int | None:
    if balance is None:
        return None
    amount = parse_amount(format(balance.amt.value, "f"), balance.amt.ccy, field="Bal/Amt")
    return -amount if code(balance.cdt_dbt_ind) == "DBIT" else amount


def check_summary(header: Any, counted: Counted, line: int) -> None:
    """TxsSummry against the statement's entries (all of them, as it counts them): a
    file whose entries disagree with it was cut or changed on the way, and is refused.
    Banks state the total of all entries gross (credits + debits) or net (credits -
    debits): either is taken."""
    summary = getattr(header, "txs_summry", None)
    if summary is None:
        return
    net = counted.credits - counted.debits
    checks = (
        (
            "TtlNtries",
            summary.ttl_ntries,
            counted.count,
            {counted.credits + counted.debits, abs(net)},
        ),
        ("TtlCdtNtries", summary.ttl_cdt_ntries, counted.credit_count, {counted.credits}),
        ("TtlDbtNtries", summary.ttl_dbt_ntries, counted.debit_count, {counted.debits}),
    )
    for name, stated, count, totals in checks:
        if stated is None:
            continue
        if stated.nb_of_ntries is not None and int(stated.nb_of_ntries) != count:
            raise MalformedStatement(
                f"TxsSummry says {stated.nb_of_ntries} entries, the statement has {count}",
                line=line,
                field=f"TxsSummry/{name}/NbOfNtries",
            )
        if stated.sum is not None and Decimal(stated.sum) not in totals:
            shown = " or ".join(str(total) for total in sorted(totals))
            raise MalformedStatement(
                f"TxsSummry says a sum of {stated.sum}, the entries add up to {shown}",
                line=line,
                field=f"TxsSummry/{name}/Sum",
            )
    _check_net(summary.ttl_ntries, net, line)


def _check_net(stated: Any, net: Decimal, line: int) -> None:
    """TtlNtries' signed net total (TtlNetNtry/Amt in later versions, TtlNetNtryAmt in
    .02), with its own credit/debit sign."""
    if stated is None:
        return
    holder = getattr(stated, "ttl_net_ntry", None)
    amount = holder.amt if holder is not None else getattr(stated, "ttl_net_ntry_amt", None)
    indicator = holder.cdt_dbt_ind if holder is not None else getattr(stated, "cdt_dbt_ind", None)
    if amount is None or indicator is None:
        return
    signed = Decimal(amount) if code(indicator) == "CRDT" else -Decimal(amount)
    if signed != net:
        raise MalformedStatement(
            f"TxsSummry says a net total of {signed}, the entries make {net}",
            line=line,
            field="TxsSummry/TtlNtries/TtlNetNtry",
        )


def info(header: Any, format: str, source: str | None) -> StatementInfo:
    """What a statement's header (bound by xsdata) says about it: its account (the
    `source` unless one is given), period, currency and booked balances."""
    account_id = header.acct.id
    account = account_id.iban or (account_id.othr.id if account_id.othr else None)
    found = balances(header)
    currency = header.acct.ccy or next((b.amt.ccy for b in found.values()), None)
    period = header.fr_to_dt
    return StatementInfo(
        format=format,
        source=source or account or header.id,
        statement_id=header.id,
        period_start=date_of(period.fr_dt_tm) if period else None,
        period_end=date_of(period.to_dt_tm) if period else None,
        currency=currency,
        opening_balance=signed_balance(found.get("OPBD")),
        closing_balance=signed_balance(found.get("CLBD")),
    )


def date_of(value: Any) -> date:
    """The date as the bank wrote it (its own business day), whatever the offset."""
    return date(value.year, value.month, value.day)
