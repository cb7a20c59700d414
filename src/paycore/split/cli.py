"""`paycore split ...`: rules, splits, confirmations and refunds after split."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from paycore.commands import console, open_runtime, print_json, refuse
from paycore.money import format_minor
from paycore.split.model import Share, SplitMode
from paycore.split.views import refund_view, rule_view, split_view
from paycore.text import is_ascii_digits

split_app = typer.Typer(help="Split settlement (分账).", no_args_is_help=True)
Merchant = Annotated[str, typer.Option("--merchant", help="merchant id (mch_...)")]
SplitId = Annotated[str, typer.Argument(help="split id (spl_...)")]
PartsOption = Annotated[
    list[str] | None, typer.Option("--part", help="owner=amount (minor units); repeatable")
]


def _shares(receivers: list[str]) -> list[Share]:
    """`owner:bps=3000` or `owner:amount=500` -> Share."""
    shares = []
    for spec in receivers:
        owner, _, term = spec.partition(":")
        kind, _, value = term.partition("=")
        if kind not in ("bps", "amount") or not is_ascii_digits(value):
            raise refuse("invalid_share", f"{spec!r}: use owner:bps=N or owner:amount=N")
        shares.append(Share(owner, **{kind: int(value)}))
    return shares


def _parts(parts: list[str] | None) -> dict[str, int] | None:
    if not parts:
        return None
    found: dict[str, int] = {}
    for spec in parts:
        owner, _, value = spec.partition("=")
        if not is_ascii_digits(value):
            raise refuse("invalid_part", f"{spec!r}: use owner=amount")
        found[owner] = int(value)
    return found


@split_app.command("rules-create")
def create_rule(
    merchant: Merchant,
    product: Annotated[str, typer.Option(help="the pay-ins' product")],
    receiver: Annotated[list[str], typer.Option(help="owner:bps=N or owner:amount=N; repeatable")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code")] = "CNY",
    mode: Annotated[SplitMode, typer.Option(help="immediate or delayed")] = SplitMode.IMMEDIATE,
    freeze_s: Annotated[int, typer.Option(min=0, help="delayed: seconds to confirm")] = 0,
    commission_bps: Annotated[int, typer.Option(min=0)] = 0,
    commission_amount: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Create (or replace) the split rule of a product."""
    shares = _shares(receiver)
    with open_runtime(channels=False) as rt:
        rule = rt.split.create_rule(
            merchant_id=merchant,
            product=product,
            currency=currency,
            mode=mode,
            receivers=shares,
            freeze_s=freeze_s,
            commission_bps=commission_bps,
            commission_amount=commission_amount,
        )
        print_json(rule_view(rule))


@split_app.command("rules")
def rules(merchant: Annotated[str | None, typer.Option("--merchant")] = None) -> None:
    """The active split rules."""
    with open_runtime(channels=False) as rt:
        print_json({"data": [rule_view(r) for r in rt.split.rules(merchant)]})


@split_app.command("show")
def show(split_id: SplitId) -> None:
    """One split, its parts and refunds."""
    with open_runtime(channels=False) as rt:
        split = rt.split.get(merchant_id=None, split_id=split_id)
        refunds = rt.split.refunds_of(merchant_id=None, split_id=split_id)
    table = Table(title=f"{split.id} ({split.status.value}) of {split.payin_id}")
    for column in ("receiver", "part", "state", "frozen", "received", "clawed back"):
        table.add_column(column, justify="left" if column in ("receiver", "state") else "right")
    for leg in split.legs:
        table.add_row(
            leg.owner or "platform commission",
            *(format_minor(v, split.currency) for v in (leg.amount,)),
            leg.state.value,
            *(format_minor(v, split.currency) for v in (leg.frozen, leg.received, leg.clawed)),
        )
    console.print(table)
    for refund in refunds:
        console.print(json.dumps(refund_view(refund), ensure_ascii=False, default=str))


@split_app.command("confirm")
def confirm(split_id: SplitId, part: PartsOption = None) -> None:
    """Confirm a delayed split: every frozen part, or the named ones (--part alice=500)."""
    parts = _parts(part)
    with open_runtime(channels=False) as rt:
        print_json(split_view(rt.split.confirm(merchant_id=None, split_id=split_id, parts=parts)))


@split_app.command("refund")
def refund(
    split_id: SplitId,
    amount: Annotated[int, typer.Option(min=1, help="minor units")],
    key: Annotated[str, typer.Option(help="idempotency: the same key refunds once")],
    part: PartsOption = None,
    reason: str = "",
) -> None:
    """Refund the payer after a split; the split is clawed back first."""
    parts = _parts(part)
    with open_runtime() as rt:
        done = rt.split.refund(
            merchant_id=None,
            split_id=split_id,
            amount=amount,
            parts=parts,
            idempotency_key=key,
            reason=reason,
        )
        print_json(refund_view(done))
