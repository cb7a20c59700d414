"""Pay-in, payout and refund use cases.

Each create runs in three steps, none of them holding a transaction across the network:
record the order (with its idempotency key) → call the channel (with failover while
the channel certainly did not process it) → apply the answer (`settle.Settler`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from paycore import ids, limits
from paycore.channels.model import BankAccount, Operation, Payer
from paycore.errors import Rejected
from paycore.payments import bookkeeping as books
from paycore.payments import details, sending, store
from paycore.payments.dispatch import Created as Created  # re-exported: what a create answers
from paycore.payments.dispatch import Steps
from paycore.payments.janitor import ask_about_returns, handle_callback
from paycore.payments.model import (
    ID_PREFIX,
    Order,
    OrderKind,
    OrderStatus,
    check_amount,
    check_product,
    check_reference,
    check_refund_request,
    fee_for,
    payin_expiry,
)
from paycore.payments.party import Party
from paycore.payments.reads import PaymentReads
from paycore.payments.settle import Idem, PaymentsContext, Settler
from paycore.platform.db import WRITER
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher
from paycore.security.masking import (
    holds_personal_number,
    mask_account_number,
    mask_card,
    mask_id_number,
    mask_name,
    mask_phone,
    redact_personal_numbers,
    redact_value,
)
from paycore.security.subjects_choice import payer_subject_key


@dataclass(frozen=True, slots=True)
class PayinCommand:
    merchant_id: str
    product: str
    amount: int
    currency: str
    payer: Payer
    description: str = ""
    merchant_reference: str | None = None
    expires_in_s: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PayoutCommand:
    merchant_id: str
    amount: int
    currency: str
    beneficiary: BankAccount
    product: str = "payout"
    description: str = ""
    merchant_reference: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RefundCommand:
    merchant_id: str
    payin_id: str
    amount: int
    reason: str = ""
    merchant_reference: str | None = None


class Payments(PaymentReads):
    """The use cases; the reads (`get`, `list_orders`, `balances`...) are in reads.py."""

    def __init__(
        self,
        ctx: PaymentsContext,
        *,
        cipher: FieldCipher,
        merchant_fee_bps: Callable[[str], int | None],
        blind: BlindIndex | None = None,
    ) -> None:
        self.ctx = ctx
        self._blind = blind
        self.settler = Settler(ctx)
        self._steps = Steps(ctx, self.settler)
        self._cipher = cipher
        self._fee_bps = merchant_fee_bps
        # The store opens orders' sealed details for every reader of this engine.
        details.use_cipher(ctx.engine, cipher)

    # -- pay-in -------------------------------------------------------------------------

    def create_payin(self, cmd: PayinCommand, *, idempotency_key: str) -> Created:
        card = cmd.payer.card_number
        order = self._new_order(
            OrderKind.PAYIN,
            merchant_id=cmd.merchant_id,
            product=cmd.product,
            amount=cmd.amount,
            currency=cmd.currency,
            description=cmd.description,
            merchant_reference=cmd.merchant_reference,
            metadata=cmd.metadata,
        )
        if not (card.isascii() and card.isdigit() and 12 <= len(card) <= 19):
            raise Rejected("invalid_card_number", "card_number is 12-19 digits")
        order.expires_at = payin_expiry(order.created_at, cmd.expires_in_s)
        payer = {
            "card_number": cmd.payer.card_number,
            "name": cmd.payer.name,
            "id_number": cmd.payer.id_number,
            "phone": cmd.payer.phone,
        }
        party = self._party(order, payer, numbers=payer)
        order.party_masked = {
            "card_number": mask_card(cmd.payer.card_number),
            "name": mask_name(cmd.payer.name) if cmd.payer.name else "",
            "id_number": mask_id_number(cmd.payer.id_number) if cmd.payer.id_number else "",
            "phone": mask_phone(cmd.payer.phone) if cmd.payer.phone else "",
        }
        idem = Idem(cmd.merchant_id, idempotency_key)
        candidates = self.ctx.router.candidates(cmd.product, cmd.currency, Operation.PAYIN)
        recorded = self._steps.record(
            order, idem, _canonical(cmd), candidates[:1], on_record=party.on_record
        )
        if isinstance(recorded, Created):
            return recorded
        party.committed()
        call = sending.payin_call(self.ctx, order, cmd.payer)
        return self._steps.dispatch(order, candidates, call, idem)

    def close_payin(self, *, merchant_id: str | None, payin_id: str) -> Order:
        order = self.get(merchant_id=merchant_id, order_id=payin_id, kind=OrderKind.PAYIN)
        if order.status not in (OrderStatus.CREATED, OrderStatus.PROCESSING):
            raise Rejected("order_already_final", f"{order.id} is {order.status}")
        if order.channel is None:
            return self.settler.finish(order, OrderStatus.CLOSED)
        result = self.ctx.channels.call(order.channel, lambda ch: ch.close(order.id))
        return self.settler.apply(order, result)

    # -- payout -------------------------------------------------------------------------

    def create_payout(self, cmd: PayoutCommand, *, idempotency_key: str) -> Created:
        order = self._new_order(
            OrderKind.PAYOUT,
            merchant_id=cmd.merchant_id,
            product=cmd.product,
            amount=cmd.amount,
            currency=cmd.currency,
            description=cmd.description,
            merchant_reference=cmd.merchant_reference,
            metadata=cmd.metadata,
        )
        account = cmd.beneficiary
        if not account.account_number.isalnum() or not 4 <= len(account.account_number) <= 34:
            raise Rejected("invalid_account_number", "account_number is 4-34 letters or digits")
        if not account.name.strip():
            raise Rejected("missing_beneficiary_name", "the beneficiary's name is required")
        fields = {"account_number": account.account_number, "name": account.name}
        party = self._party(order, fields, numbers={"account_number": account.account_number})
        order.party_masked = {
            "account_number": mask_account_number(account.account_number),
            "name": mask_name(account.name),
            "bank_code": account.bank_code,
        }
        idem = Idem(cmd.merchant_id, idempotency_key)
        candidates = self.ctx.router.candidates(cmd.product, cmd.currency, Operation.PAYOUT)
        recorded = self._steps.record(
            order, idem, _canonical(cmd), candidates[:1], on_record=party.on_record
        )
        if isinstance(recorded, Created):
            return recorded
        party.committed()
        self._steps.hold(order, idem, reason=books.REASON_PAYOUT)
        call = sending.payout_call(self.ctx, order, account)
        return self._steps.dispatch(order, candidates, call, idem)

    # -- refund -------------------------------------------------------------------------

    def create_refund(self, cmd: RefundCommand, *, idempotency_key: str) -> Created:
        payin = self.get(merchant_id=cmd.merchant_id, order_id=cmd.payin_id, kind=OrderKind.PAYIN)
        # Not yet against what is still refundable: a replay of this very refund must get
        # its first answer; `record` reserves the amount with the idempotency key, atomically.
        check_refund_request(payin, cmd.amount)
        order = self._new_order(
            OrderKind.REFUND,
            merchant_id=cmd.merchant_id,
            product=payin.product,
            amount=cmd.amount,
            currency=payin.currency,
            description=cmd.reason,
            merchant_reference=cmd.merchant_reference,
        )
        order.parent_id = payin.id
        idem = Idem(cmd.merchant_id, idempotency_key)
        channel = payin.channel or ""
        recorded = self._steps.record(order, idem, _canonical(cmd), [channel], reserve_from=payin)
        if isinstance(recorded, Created):
            return recorded
        self._steps.hold(order, idem, reason=books.REASON_REFUND)
        # Through the original channel only: the money goes back the way it came.
        call = sending.refund_call(self.ctx, order, payin)
        return self._steps.dispatch(order, [channel], call, idem)

    # -- an order recorded and never answered -------------------------------------------

    def send_recorded(self, order_id: str, *, idempotency_key: str) -> Order:
        """Send again a payout or refund whose create stopped after recording it (before
        or during the channel call), for the flow that owns it. The channel answers a
        reference it already holds with that transaction (the order id is its idempotency
        key), so this never pays twice. Inside the idempotency lease the first request may
        still be running (`request_in_progress`); near the janitor's not-received grace the
        order is left to the janitor, which fails or finds it, so the two never race."""
        order = self.get(merchant_id=None, order_id=order_id)

        def payin_of(refund: Order) -> Order:
            return self.get(merchant_id=None, order_id=refund.parent_id or "", kind=OrderKind.PAYIN)

        return sending.send_recorded(
            self.ctx,
            self._steps,
            order,
            idempotency_key=idempotency_key,
            reveal_party=self.reveal_party,
            payin_of=payin_of,
        )

    # -- around the orders ---------------------------------------------------------------

    def on_final(self, listener: Callable[[Order], None]) -> None:
        """Call `listener` after each order becomes final (after commit, best effort)."""
        self.ctx.after_final.append(listener)

    def query_now(self, order_ids: Sequence[str]) -> int:
        """Ask the channels about these unresolved orders at the janitor's next sweep, and
        let the normal state machine apply the answer; returns how many were due."""
        due = 0
        for start in range(0, len(order_ids), limits.JANITOR_BATCH_MAX):
            chunk = order_ids[start : start + limits.JANITOR_BATCH_MAX]
            with self.ctx.engine.connect().execution_options(**WRITER) as conn, conn.begin():
                due += store.query_now(conn, chunk, now=self.ctx.clock.now())
        return due

    def check_returns(self, order_ids: Sequence[str]) -> int:
        """Ask the channels about paid payouts a statement shows returned."""
        return ask_about_returns(self.ctx, self.settler, order_ids)

    def handle_callback(self, *, channel: str, headers: Mapping[str, str], body: bytes) -> None:
        handle_callback(self.ctx, self.settler, channel=channel, headers=headers, body=body)

    def reveal_party(self, order: Order) -> dict[str, str]:
        """The clear personal data of an order, for a caller entitled to it (never logged)."""
        return {
            name: self._cipher.decrypt(token, context=f"{order.id}:{name}")
            for name, token in order.party_enc.items()
        }

    # -- helpers ------------------------------------------------------------------------

    def _new_order(
        self,
        kind: OrderKind,
        *,
        merchant_id: str,
        product: str,
        amount: int,
        currency: str,
        description: str,
        merchant_reference: str | None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Order:
        """A new order in `created`, after the rules every kind shares; a pay-in carries
        the merchant's fee."""
        fee_bps = self._merchant(merchant_id)
        check_amount(amount, currency)
        check_product(product)
        check_reference(merchant_reference)
        _check_reference_is_not_personal(merchant_reference)
        _check_description(description)
        now = self.ctx.clock.now()
        order = Order(
            id=ids.new_id(ID_PREFIX[kind]),
            kind=kind,
            merchant_id=merchant_id,
            product=product,
            amount=amount,
            currency=currency,
            status=OrderStatus.CREATED,
            created_at=now,
            updated_at=now,
            merchant_reference=merchant_reference,
            description=redact_personal_numbers(description),
            metadata=_masked_metadata(metadata),
            fee_amount=fee_for(amount, fee_bps) if kind is OrderKind.PAYIN else 0,
        )
        # Sealed here, before the write transaction: its lock is not held for it.
        order.details_enc = details.seal_order_details(
            self._cipher, order.id, order.description, order.metadata
        )
        return order

    def _merchant(self, merchant_id: str) -> int:
        fee_bps = self._fee_bps(merchant_id)
        if fee_bps is None:
            raise Rejected("merchant_not_active", f"merchant {merchant_id} is unknown or suspended")
        return fee_bps

    def _party(
        self,
        order: Order,
        fields: Mapping[str, str | None],
        *,
        numbers: Mapping[str, str | None],
    ) -> Party:
        """The order's party sealed now (under the payer's subject key: subjects_choice.py),
        and what goes into the order's write transaction with it."""
        key = payer_subject_key(self._cipher, self._blind, numbers)
        party = Party(self._cipher, self._blind, order, fields, numbers, key)
        order.party_enc = party.seal(key)
        return party


def _check_reference_is_not_personal(reference: str | None) -> None:
    # A reference is the merchant's lookup key, searched and shown as sent: it cannot be
    # masked, so one holding a personal number is refused (never quoted back).
    if reference is not None and holds_personal_number(reference):
        raise Rejected(
            "reference_has_personal_data",
            "merchant_reference holds a card, ID or mobile number; use your own order number",
        )


def _masked_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    # Masked before saving, like the description, so the stored order, its API answers,
    # replays, webhooks and bill exports all show the same masked text.
    masked = redact_value(dict(metadata or {}))
    return masked if isinstance(masked, dict) else {}


def _check_description(text: str) -> None:
    if len(text) > limits.DESCRIPTION_LENGTH_MAX:
        raise Rejected("value_too_long", f"at most {limits.DESCRIPTION_LENGTH_MAX} characters")


def _canonical(cmd: Any) -> bytes:
    def plain(value: Any) -> Any:
        if hasattr(value, "__dataclass_fields__"):
            return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        return value

    return json.dumps(plain(cmd), sort_keys=True, separators=(",", ":"), default=str).encode()
