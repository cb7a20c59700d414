"""What one element of a camt entry tells a line: its status (`Sts`), its kind and the
bank's words for it (`BkTxCd`), its references (`Refs`, `RmtInf`) and its parties
(`RltdPties`). Split from `camt_entries.py`, which puts a line together from them."""

from __future__ import annotations

from typing import Any

from paycore.recon import camt_nodes as nodes
from paycore.recon.model import Counterparty, Direction, LineKind, LineStatus, MalformedStatement

_STATUS = {
    "BOOK": LineStatus.SUCCEEDED,
    "PDNG": LineStatus.PENDING,
    "INFO": LineStatus.PENDING,  # shown for information, not (yet) booked
    "FUTR": LineStatus.PENDING,
    "RJCT": LineStatus.FAILED,
}
# ISO external bank transaction codes (family / sub-family) that tell a line's kind.
_FEE_SUB_FAMILIES = frozenset({"CHRG", "FEES", "COMM", "COMT", "SUBS"})
_RECEIVED_TRANSFERS = frozenset({"RCDT", "RCHQ", "RCCN", "RRCT"})
_ISSUED_TRANSFERS = frozenset({"ICDT", "ICHQ", "ICCN", "IRCT"})
_ISSUED_DIRECT_DEBITS = "IDDT"
_RECEIVED_DIRECT_DEBITS = "RDDT"  # taken from our account by someone else
_NOT_PROVIDED = "NOTPROVIDED"  # the ISO placeholder for a missing EndToEndId


def parties(details: nodes.Node | None, direction: Direction, t: nodes.Tags) -> dict[str, Any]:
    """Our account and the other side, from the transaction's related parties: on a
    credit we are the creditor (a virtual account, often) and the debtor paid us."""
    related = details.first.get(t.RltdPties) if details is not None else None
    if related is None:
        return {}
    if direction is Direction.CREDIT:
        ours, their_party, their_account = t.CdtrAcct, t.Dbtr, t.DbtrAcct
    else:
        ours, their_party, their_account = t.DbtrAcct, t.Cdtr, t.CdtrAcct
    found: dict[str, Any] = {}
    account = account_id(related.first.get(ours), t)
    if account:
        found["account"] = account
    number = account_id(related.first.get(their_account), t)
    name = party_name(related.first.get(their_party), t)
    if number and name:
        found["counterparty"] = Counterparty(account_number=number, name=name)
    return found


def account_id(account: nodes.Node | None, t: nodes.Tags) -> str | None:
    ident = account.first.get(t.Id) if account is not None else None
    if ident is None:
        return None
    iban = nodes.text(ident.first.get(t.IBAN))
    if iban:
        return iban
    return nodes.text(nodes.path(ident, t.Othr, t.Id)) or None


def party_name(party: nodes.Node | None, t: nodes.Tags) -> str | None:
    """A PartyIdentification (up to .07) or a Party40Choice of one (later versions)."""
    if party is None:
        return None
    inner = party.first.get(t.Pty)
    return nodes.text((inner if inner is not None else party).first.get(t.Nm)) or None


def status(sts: nodes.Node | None, t: nodes.Tags, sourceline: int, where: str) -> LineStatus:
    if sts is None:  # only a statement's entry gets here without one: booked (camt_schema)
        return LineStatus.SUCCEEDED
    # .07 and later: a choice of Cd or Prtry; before, the code itself
    code = (
        nodes.text(sts.first.get(t.Cd)) or nodes.text(sts.first.get(t.Prtry))
        if len(sts)
        else nodes.text(sts)
    )
    found = _STATUS.get(str(code))
    if found is None:
        raise MalformedStatement(
            f"entry status {code!r} is not one of {sorted(_STATUS)}",
            line=sourceline,
            field=f"{where}/Sts",
        )
    return found


def kind(code: nodes.Node | None, t: nodes.Tags, direction: Direction) -> LineKind:
    """Our kind of line from the ISO bank transaction code; what the code does not tell
    (a card payment, cash, a proprietary code, a direct debit taken from the account)
    is `other` on a debit, and the bank's own words are kept beside it (`bank_kind`)."""
    domain = code.first.get(t.Domn) if code is not None else None
    codes = domain.first.get(t.Fmly) if domain is not None else None
    family = nodes.text(codes.first.get(t.Cd)) if codes is not None else None
    sub_family = nodes.text(codes.first.get(t.SubFmlyCd)) if codes is not None else None
    credit = direction is Direction.CREDIT
    if sub_family in _FEE_SUB_FAMILIES:
        return LineKind.FEE
    if domain is not None and (
        nodes.text(domain.first.get(t.Cd)) == "ACMT" or sub_family == "INTR"
    ):
        return LineKind.OTHER
    if family in _RECEIVED_TRANSFERS:  # a payer's transfer in; on a debit, sent back
        return LineKind.PAYIN if credit else LineKind.REFUND
    if family in _ISSUED_TRANSFERS:  # our payout; on a credit, its return
        return LineKind.PAYOUT
    if family == _ISSUED_DIRECT_DEBITS:  # our collection; on a debit, paid back
        return LineKind.PAYIN if credit else LineKind.REFUND
    return LineKind.PAYIN if credit and family != _RECEIVED_DIRECT_DEBITS else LineKind.OTHER


def code_text(code: nodes.Node | None, t: nodes.Tags) -> str:
    if code is None:
        return ""
    domain = code.first.get(t.Domn)
    if domain is not None:
        family = domain.first.get(t.Fmly)
        if family is None:  # a Domn without its Fmly (kept as a warning)
            return str(nodes.text(domain.first.get(t.Cd)))
        return (
            f"{nodes.text(domain.first.get(t.Cd))}/{nodes.text(family.first.get(t.Cd))}/"
            f"{nodes.text(family.first.get(t.SubFmlyCd))}"
        )
    proprietary = code.first.get(t.Prtry)
    return str(nodes.text(proprietary.first.get(t.Cd))) if proprietary is not None else ""


def channel_txn_id(entry_ref: str | None, refs: nodes.Node | None, t: nodes.Tags) -> str | None:
    if refs is not None:
        found = nodes.text(refs.first.get(t.TxId)) or nodes.text(refs.first.get(t.AcctSvcrRef))
        if found:
            return found
    return entry_ref or None


def reference(refs: nodes.Node | None, t: nodes.Tags) -> str | None:
    end_to_end = nodes.text(refs.first.get(t.EndToEndId)) if refs is not None else None
    if not end_to_end or end_to_end == _NOT_PROVIDED:
        return None
    return end_to_end


def creditor_reference(details: nodes.Node | None, t: nodes.Tags) -> str | None:
    """The structured creditor reference (RmtInf/Strd/CdtrRefInf/Ref: an RF or QR
    reference), when the payer gave no EndToEndId of ours."""
    remittance = details.first.get(t.RmtInf) if details is not None else None
    if remittance is None:
        return None
    for structured in remittance.iterfind(t.Strd):
        found = nodes.text(nodes.path(structured, t.CdtrRefInf, t.Ref))
        if found:
            return found
    return None
