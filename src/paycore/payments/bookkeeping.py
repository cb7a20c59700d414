"""Which ledger accounts and transfers each step of an order posts. Pure.

Transfer ids are derived from the order id, so applying the same result twice (a
duplicated callback, a retried query, a crash between ledger and order update) moves
the money once: the ledger answers `exists` the second time.

Chart of accounts (the ledger `code`):
  1101 channel clearing   what a channel owes us (debit-normal, no limit)
  2001 merchant wallet    what we owe a merchant (never below zero)
  2101 in transit         payouts and refunds sent to a channel, not yet confirmed
  4001 fee revenue        the platform's fees
"""

from __future__ import annotations

from dataclasses import replace

from paycore.ledger.model import AccountFlags, TransferFlags, TransferRequest
from paycore.ledger.service import AccountRequest
from paycore.payments.model import Order

CODE_CLEARING = 1101
CODE_WALLET = 2001
CODE_TRANSIT = 2101
CODE_FEE = 4001

# Transfer reason codes.
REASON_PAYIN = 1
REASON_FEE = 2
REASON_PAYOUT = 3
REASON_PAYOUT_RETURN = 4
REASON_REFUND = 5


def wallet_account(merchant_id: str, currency: str) -> str:
    return f"acct_mw_{merchant_id}_{currency}"


def clearing_account(channel: str, currency: str) -> str:
    return f"acct_clr_{channel}_{currency}"


def wallet_request(merchant_id: str, currency: str) -> AccountRequest:
    """The merchant's wallet, for a flow that may credit it before any pay-in did."""
    return AccountRequest(
        id=wallet_account(merchant_id, currency),
        currency=currency,
        code=CODE_WALLET,
        owner_id=merchant_id,
        flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    )


def fee_account(currency: str) -> str:
    return f"acct_fee_{currency}"


def transit_account(currency: str) -> str:
    return f"acct_transit_{currency}"


def account_specs(order: Order, channel: str) -> list[tuple[str, int, str | None, int]]:
    """(id, code, owner, flags) of every account the order's transfers touch."""
    return [
        (
            wallet_account(order.merchant_id, order.currency),
            CODE_WALLET,
            order.merchant_id,
            AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS.value,
        ),
        (clearing_account(channel, order.currency), CODE_CLEARING, None, 0),
        (fee_account(order.currency), CODE_FEE, None, 0),
        (transit_account(order.currency), CODE_TRANSIT, None, 0),
    ]


def _meta(order: Order) -> dict[str, str]:
    return {"order_id": order.id, "merchant_id": order.merchant_id}


def payin_capture(order: Order, channel: str) -> list[TransferRequest]:
    """Clearing → merchant wallet (net of fee) and clearing → fee, all or nothing.

    Net, so the wallet is never debited for the fee: a wallet the platform froze takes the
    bank-confirmed net (`bank_confirmed`) and nothing has to leave it."""
    clearing = clearing_account(channel, order.currency)
    net = order.amount - order.fee_amount
    legs = [
        TransferRequest(
            id=f"tr_{order.id}_cap",
            debit_account_id=clearing,
            credit_account_id=wallet_account(order.merchant_id, order.currency),
            amount=net,
            currency=order.currency,
            code=REASON_PAYIN,
            metadata=_meta(order),
            bank_confirmed=True,  # the payer paid: recorded even in a frozen wallet
        )
    ]
    if order.fee_amount:
        legs.append(
            TransferRequest(
                id=f"tr_{order.id}_fee",
                debit_account_id=clearing,
                credit_account_id=fee_account(order.currency),
                amount=order.fee_amount,
                currency=order.currency,
                code=REASON_FEE,
                metadata=_meta(order),
            )
        )
    legs = [t for t in legs if t.amount]
    # Every leg but the last is linked to the next: both land or neither does.
    return [replace(t, flags=TransferFlags.LINKED.value) for t in legs[:-1]] + legs[-1:]


def hold(order: Order, *, reason: int) -> TransferRequest:
    """Wallet → in transit as a pending transfer: the money is reserved while a channel
    works. Not tied to a channel, so a payout can fail over to another one."""
    return TransferRequest(
        id=f"tr_{order.id}_hold",
        debit_account_id=wallet_account(order.merchant_id, order.currency),
        credit_account_id=transit_account(order.currency),
        amount=order.amount,
        currency=order.currency,
        flags=TransferFlags.PENDING.value,
        code=reason,
        metadata=_meta(order),
    )


def settle_hold(order: Order, channel: str, *, reason: int) -> list[TransferRequest]:
    """Success: post the hold and pass the money on to the channel that paid it out,
    linked so neither happens alone."""
    return [
        TransferRequest(
            id=f"tr_{order.id}_post",
            pending_id=f"tr_{order.id}_hold",
            flags=TransferFlags.POST_PENDING.value | TransferFlags.LINKED.value,
            metadata=_meta(order),
        ),
        TransferRequest(
            id=f"tr_{order.id}_out",
            debit_account_id=transit_account(order.currency),
            credit_account_id=clearing_account(channel, order.currency),
            amount=order.amount,
            currency=order.currency,
            code=reason,
            metadata=_meta(order),
        ),
    ]


def void_hold(order: Order) -> TransferRequest:
    return TransferRequest(
        id=f"tr_{order.id}_void",
        pending_id=f"tr_{order.id}_hold",
        flags=TransferFlags.VOID_PENDING.value,
        metadata=_meta(order),
    )


def payout_return(order: Order, channel: str) -> TransferRequest:
    """A bounced payout: a new transfer brings the money back; the journal is never edited."""
    return TransferRequest(
        id=f"tr_{order.id}_ret",
        debit_account_id=clearing_account(channel, order.currency),
        credit_account_id=wallet_account(order.merchant_id, order.currency),
        amount=order.amount,
        currency=order.currency,
        code=REASON_PAYOUT_RETURN,
        metadata=_meta(order),
        bank_confirmed=True,  # the bank sent it back: recorded even in a frozen wallet
    )
