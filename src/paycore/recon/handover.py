"""Money with no order that another slice can say is its own.

A statement line with no order is booked to suspense (breaks.py). Some such money is not
a mystery: a payer who transferred straight to a custody virtual account, with no pay-in
in paycore, is named on the line (the account credited, the payer's account and name).
After each run, every open surplus credit in suspense that names our account and its
payer is offered to the claimers the composition root registered (custody's, today). A
claimer moves the money out of suspense into its own accounts, idempotently by break id,
and says what it became; the break is then resolved with that note. A line no claimer
takes stays an open break, in suspense, for a person to look at.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from paycore.errors import Rejected
from paycore.recon import store
from paycore.recon.breaks import Breaks, BreakStatus, suspense_account
from paycore.recon.model import Counterparty
from paycore.recon.store_lines import account_context
from paycore.security.crypto import FieldCipher

log = logging.getLogger(__name__)

CLAIMS_PAGE = 1_000


@dataclass(frozen=True, slots=True)
class UnclaimedMoney:
    break_id: int
    source: str  # the channel or bank whose statement showed it
    account: str  # our account credited: a custody virtual account number, say
    amount: int
    currency: str
    booked_at: datetime
    payer: Counterparty
    held_in: str  # the ledger account holding it now


Claimer = Callable[[UnclaimedMoney], str | None]
"""Takes the money out of `held_in` into its own accounts (the same break twice moves it
once) and returns a note saying what it became, or None when it is not its money."""


def seal_counterparty(cipher: FieldCipher, party: Counterparty, *, context: str) -> str:
    document = {"account_number": party.account_number, "name": party.name}
    return cipher.encrypt(json.dumps(document, ensure_ascii=False), context=context)


def line_context(import_id: str, line_no: int) -> str:
    return f"recon-line:{import_id}:{line_no}"


class HandOver:
    def __init__(self, engine: Engine, breaks: Breaks, cipher: FieldCipher | None) -> None:
        self._engine = engine
        self._breaks = breaks
        self._cipher = cipher
        self._claimers: list[Claimer] = []

    def register(self, claimer: Claimer) -> None:
        self._claimers.append(claimer)

    def offer(self, source: str) -> int:
        """Offer `source`'s claimable money to every claimer; returns how many were taken."""
        if not self._claimers or self._cipher is None:
            return 0
        taken = after = 0
        while True:  # page by id: lines no claimer takes must not hide newer ones
            with self._engine.connect() as conn:
                rows = store.claimable_surplus(conn, source=source, limit=CLAIMS_PAGE, after=after)
            for row in rows:
                try:
                    taken += self._offer_one(row)
                except Exception:
                    # One line's trouble (a payer sealed under a retired key, a claimer's
                    # bug) must not fail the run, nor every later run of the source.
                    log.exception("break %s not offered; it stays open in suspense", row["id"])
            if len(rows) < CLAIMS_PAGE:
                return taken
            after = int(rows[-1]["id"])

    def _offer_one(self, row: dict[str, object]) -> int:
        break_id = int(str(row["id"]))
        # The rows were read before the first claim, maybe minutes ago: a person may have
        # settled this one since, out of suspense. Ask again right before moving money.
        if self._resolved(break_id):
            return 0
        money = self._money(row)
        for claimer in self._claimers:
            note = claimer(money)
            if note is None:
                continue
            try:
                self._breaks.close_claimed(break_id, note=note)
            except Rejected as error:
                # Resolved by hand in the instant between the check and the claim: if that
                # person moved the money too, it left suspense twice; operations must know.
                log.error("break %s claimed but resolved meanwhile: %s", break_id, error.code)
            return 1
        return 0

    def _resolved(self, break_id: int) -> bool:
        with self._engine.connect() as conn:
            found = store.get_break(conn, break_id)
        return found is None or found["status"] == BreakStatus.RESOLVED.value

    def _money(self, row: dict[str, object]) -> UnclaimedMoney:
        assert self._cipher is not None
        context = line_context(str(row["import_id"]), int(str(row["line_no"])))
        payer = json.loads(self._cipher.decrypt(str(row["counterparty_enc"]), context=context))
        currency = str(row["currency"])
        return UnclaimedMoney(
            break_id=int(str(row["id"])),
            source=str(row["source"]),
            account=_account(self._cipher, row),
            amount=int(str(row["line_amount"])),
            currency=currency,
            booked_at=row["booked_at"],  # type: ignore[arg-type]
            payer=Counterparty(account_number=payer["account_number"], name=payer["name"]),
            held_in=suspense_account(currency),
        )


def _account(cipher: FieldCipher, row: dict[str, object]) -> str:
    """The line's account in clear."""
    context = account_context(str(row["import_id"]), int(str(row["line_no"])))
    return cipher.decrypt(str(row["account_enc"]), context=context)
