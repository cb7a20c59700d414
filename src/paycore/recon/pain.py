"""ISO 20022 payment initiation files: pain.001 out (credit transfers), pain.002 in
(the bank's status report on them).

Both go through the pyiso20022 xsdata bindings, never string templates or hand-walked
XML. A pain.001 is validated (`recon.xsd`) against the pain.001.001.03 XSD shipped by
sepaxml before it is handed out. No package on the registry ships the pain.002.001.03 XSD
(the ones tried: sepaxml, camt053, mock-bank, miso20022, iso20022-playset), so a status
report is checked
through its binding instead: unknown elements and attributes are refused, required ones
must be there, and the values the bindings constrain (status codes) must be valid.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lxml import etree
from pyiso20022.pain.pain_001_001_03 import pain_001_001_03 as p001
from pyiso20022.pain.pain_002_001_03 import pain_002_001_03 as p002
from xsdata.exceptions import ConverterWarning, ParserError, XmlHandlerError
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig
from xsdata.formats.dataclass.parsers.handlers import LxmlEventHandler
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig
from xsdata.models.datatype import XmlDate, XmlDateTime
from xsdata.models.enums import EventType

from paycore.errors import InvariantViolation, Rejected
from paycore.money import to_major

log = logging.getLogger(__name__)

PAIN001_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
PAIN002_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"
REPORT_BYTES_MAX = 50_000_000
"""A status report larger than this is refused before parsing (about 100,000 payouts)."""
IBAN_PATTERN = r"[A-Z]{2}[0-9]{2}[A-Za-z0-9]{1,30}"


# -- pain.001 --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    """One payout as it goes into the file; `end_to_end_id` is our order id."""

    end_to_end_id: str
    amount_minor: int
    currency: str
    creditor_name: str
    creditor_account: str
    creditor_agent_bic: str = ""


@dataclass(frozen=True, slots=True)
class Pain001Batch:
    msg_id: str
    created_at: datetime  # UTC
    execution_date: date
    debtor_name: str
    debtor_account: str
    debtor_agent_bic: str
    transfers: Sequence[CreditTransfer]


def build_pain001(batch: Pain001Batch) -> bytes:
    """The CstmrCdtTrfInitn of a batch: one PmtInf per currency, in a stable order, so
    the same batch always gives the same bytes."""
    if not batch.transfers:
        raise InvariantViolation(f"pain.001 {batch.msg_id} has no transfers")
    by_currency: dict[str, list[CreditTransfer]] = {}
    for transfer in sorted(batch.transfers, key=lambda t: t.end_to_end_id):
        by_currency.setdefault(transfer.currency, []).append(transfer)
    total = sum(to_major(t.amount_minor, t.currency) for t in batch.transfers)
    header = p001.GroupHeader32(
        msg_id=batch.msg_id,
        cre_dt_tm=XmlDateTime.from_datetime(batch.created_at.replace(microsecond=0)),
        nb_of_txs=str(len(batch.transfers)),
        ctrl_sum=Decimal(total),
        initg_pty=p001.PartyIdentification32(nm=batch.debtor_name),
    )
    document = p001.Document(
        cstmr_cdt_trf_initn=p001.CustomerCreditTransferInitiationV03(
            grp_hdr=header,
            pmt_inf=[
                _payment_information(batch, code, transfers)
                for code, transfers in sorted(by_currency.items())
            ],
        )
    )
    config = SerializerConfig(indent="  ")
    text = XmlSerializer(config=config).render(document, ns_map={None: PAIN001_NAMESPACE})
    return text.encode("utf-8")


def _payment_information(
    batch: Pain001Batch, code: str, transfers: list[CreditTransfer]
) -> p001.PaymentInstructionInformation3:
    return p001.PaymentInstructionInformation3(
        pmt_inf_id=payment_information_id(batch.msg_id, code),
        pmt_mtd=p001.PaymentMethod3Code.TRF,
        nb_of_txs=str(len(transfers)),
        ctrl_sum=Decimal(sum(to_major(t.amount_minor, t.currency) for t in transfers)),
        reqd_exctn_dt=XmlDate.from_date(batch.execution_date),
        dbtr=p001.PartyIdentification32(nm=batch.debtor_name),
        dbtr_acct=_account(batch.debtor_account, code),
        dbtr_agt=_agent(batch.debtor_agent_bic),
        cdt_trf_tx_inf=[_transaction(t) for t in transfers],
    )


def payment_information_id(msg_id: str, currency: str) -> str:
    return f"{msg_id}-{currency}"  # MsgId is at most 30 characters: this fits Max35Text


def _transaction(transfer: CreditTransfer) -> p001.CreditTransferTransactionInformation10:
    return p001.CreditTransferTransactionInformation10(
        pmt_id=p001.PaymentIdentification1(
            instr_id=transfer.end_to_end_id, end_to_end_id=transfer.end_to_end_id
        ),
        amt=p001.AmountType3Choice(
            instd_amt=p001.ActiveOrHistoricCurrencyAndAmount(
                value=to_major(transfer.amount_minor, transfer.currency),
                ccy=transfer.currency,
            )
        ),
        cdtr_agt=_agent(transfer.creditor_agent_bic) if transfer.creditor_agent_bic else None,
        cdtr=p001.PartyIdentification32(nm=transfer.creditor_name[:140]),
        cdtr_acct=_account(transfer.creditor_account, transfer.currency),
    )


def _account(number: str, code: str) -> p001.CashAccount16:
    if re.fullmatch(IBAN_PATTERN, number):
        identification = p001.AccountIdentification4Choice(iban=number)
    else:
        identification = p001.AccountIdentification4Choice(
            othr=p001.GenericAccountIdentification1(id=number)
        )
    return p001.CashAccount16(id=identification, ccy=code)


def _agent(bic: str) -> p001.BranchAndFinancialInstitutionIdentification4:
    if bic:
        institution = p001.FinancialInstitutionIdentification7(bic=bic)
    else:  # a domestic bank that needs no BIC: the usual ISO 20022 placeholder
        institution = p001.FinancialInstitutionIdentification7(
            othr=p001.GenericFinancialIdentification1(id="NOTPROVIDED")
        )
    return p001.BranchAndFinancialInstitutionIdentification4(fin_instn_id=institution)


# -- pain.002 --------------------------------------------------------------------------------

ACCEPTED = frozenset({"ACSC", "ACSP", "ACCP"})
"""Settled, settlement in process, or accepted after the customer profile check: the
bank took the payment. Anything else but RJCT (ACTC, RCVD, PDNG, ACWC, PART) is not yet
a final answer on the money."""
REJECTED = "RJCT"
ACCOUNT_PROBLEMS = frozenset({"AC01", "AC04", "AC06"})
"""Wrong, closed or blocked beneficiary account: the user's doing, not the bank's."""


@dataclass(frozen=True, slots=True)
class TransactionStatus:
    end_to_end_id: str
    status: str  # the ISO code: ACSC, RJCT, PDNG...
    reason: str | None  # StsRsnInf/Rsn/Cd (or Prtry)
    bank_reference: str | None  # AcctSvcrRef, else StsId


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """A status for a whole file (OrgnlGrpInfAndSts) or one PmtInf of it."""

    status: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class StatusReport:
    msg_id: str
    original_msg_id: str
    group: GroupStatus
    payment_informations: dict[str, GroupStatus]  # by OrgnlPmtInfId
    transactions: list[TransactionStatus]


_SAFE_XML = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True
)
_TEXT_CHARS_MAX = 35
"""Max35Text: the message's ids and references. The bindings do not check lengths, and
the ones we keep (MsgId, OrgnlMsgId, AcctSvcrRef, StsId, a reason) are VARCHAR(35)."""
_SHORT_TEXTS = frozenset(
    {"MsgId", "OrgnlMsgId", "OrgnlPmtInfId", "OrgnlInstrId", "OrgnlEndToEndId", "StsId",
     "AcctSvcrRef", "Cd", "Prtry"}
)  # fmt: skip
_BINDING_FAULTS = (ParserError, ConverterWarning, XmlHandlerError, TypeError, ValueError)


def malformed(detail: str, *, line: int | None = None, field: str | None = None) -> Rejected:
    """`malformed_status_report`, naming the line and field as a statement's refusal does."""
    where = ", ".join(
        part for part in (f"line {line}" if line else "", f"field {field}" if field else "") if part
    )
    return Rejected("malformed_status_report", f"{where}: {detail}" if where else detail)


def parse_pain002(data: bytes) -> StatusReport:
    """A CstmrPmtStsRpt (pain.002.001.03), or Rejected `malformed_status_report` naming
    the line and element. The bytes are parsed once by lxml without entities, DTDs or
    network (a DOCTYPE anywhere is refused), checked, then bound from that tree. An error
    nobody foresaw is still the report's refusal (logged with its trace), not a crash."""
    try:
        return _parse_pain002(data)
    except (Rejected, MemoryError):
        raise
    except Exception as error:
        log.error("a pain.002 the parser did not foresee", exc_info=error)
        raise malformed(f"cannot be read ({type(error).__name__})", field="file") from error


def _parse_pain002(data: bytes) -> StatusReport:
    if len(data) > REPORT_BYTES_MAX:
        raise malformed(f"over {REPORT_BYTES_MAX} bytes", field="size")
    doctype = data.find(b"<!DOCTYPE")
    if doctype >= 0:  # no entities, no external references
        raise malformed("a DOCTYPE is not allowed", line=_line_at(data, doctype), field="DOCTYPE")
    try:
        root = etree.fromstring(data, _SAFE_XML)
    except etree.XMLSyntaxError as error:
        raise malformed(
            f"not well-formed XML: {error.msg}", line=error.lineno or 1, field="xml"
        ) from None
    if root.getroottree().docinfo.doctype:  # one the byte search missed (UTF-16, say)
        raise malformed("a DOCTYPE is not allowed", line=1, field="DOCTYPE")
    if etree.QName(root).namespace != PAIN002_NAMESPACE:
        raise malformed(
            f"not a pain.002.001.03 document (namespace {PAIN002_NAMESPACE})",
            line=root.sourceline,
            field=etree.QName(root).localname,
        )
    _check_tree(root)
    tx_lines = [tx.sourceline for tx in root.iter(f"{{{PAIN002_NAMESPACE}}}TxInfAndSts")]
    report = _bind(root).cstmr_pmt_sts_rpt
    group = report.orgnl_grp_inf_and_sts
    transactions = (tx for info in report.orgnl_pmt_inf_and_sts for tx in info.tx_inf_and_sts)
    return StatusReport(
        msg_id=report.grp_hdr.msg_id,
        original_msg_id=group.orgnl_msg_id,
        group=GroupStatus(_code(group.grp_sts), _reason(group.sts_rsn_inf)),
        payment_informations={
            info.orgnl_pmt_inf_id: GroupStatus(_code(info.pmt_inf_sts), _reason(info.sts_rsn_inf))
            for info in report.orgnl_pmt_inf_and_sts
        },
        transactions=[
            _transaction_status(tx, n, tx_lines[n - 1] if n <= len(tx_lines) else None)
            for n, tx in enumerate(transactions, start=1)
        ],
    )


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _check_tree(root: etree._Element) -> None:
    """What the bindings let through: ids over Max35Text, and text where only elements
    belong (the binding would drop it with a log line, not refuse it)."""
    for element in root.iter(tag=etree.Element):
        name = etree.QName(element).localname
        line = element.sourceline
        if name in _SHORT_TEXTS and len(element.text or "") > _TEXT_CHARS_MAX:
            raise malformed(f"longer than {_TEXT_CHARS_MAX} characters", line=line, field=name)
        if len(element) and (element.text or "").strip():
            raise malformed("text where only elements belong", line=line, field=name)
        parent = element.getparent()
        if parent is not None and (element.tail or "").strip():
            where = etree.QName(parent).localname
            raise malformed("text where only elements belong", line=line, field=where)


def _bind(root: etree._Element) -> p002.Document:
    """The tree bound strictly: unknown elements and attributes refused, required ones
    there, status codes valid; an error names the element being bound and its line."""
    config = ParserConfig(
        fail_on_unknown_properties=True,
        fail_on_unknown_attributes=True,
        fail_on_converter_warnings=True,
    )
    at: list[etree._Element] = []

    class Tracking(LxmlEventHandler):
        def process_context(self, context: Iterable[tuple[str, Any]], ns_map: Any) -> Any:
            return super().process_context(_tracked(context, at), ns_map)

    try:
        return XmlParser(config=config, handler=Tracking).parse(root, p002.Document)
    except _BINDING_FAULTS as error:
        element = at[-1] if at else root
        raise malformed(
            str(error) or type(error).__name__,
            line=element.sourceline,
            field=etree.QName(element).localname,
        ) from None


def _tracked(
    context: Iterable[tuple[str, Any]], at: list[etree._Element]
) -> Iterator[tuple[str, Any]]:
    for event, element in context:
        if event in (EventType.START, EventType.END):
            at[:] = [element]
        yield event, element


def _transaction_status(
    tx: p002.PaymentTransactionInformation25, n: int, line: int | None
) -> TransactionStatus:
    if not tx.orgnl_end_to_end_id:
        raise malformed(
            f"TxInfAndSts {n}: OrgnlEndToEndId is missing", line=line, field="OrgnlEndToEndId"
        )
    if tx.tx_sts is None:
        raise malformed(
            f"TxInfAndSts {n} ({tx.orgnl_end_to_end_id}): TxSts is missing",
            line=line,
            field="TxSts",
        )
    return TransactionStatus(
        end_to_end_id=tx.orgnl_end_to_end_id,
        status=tx.tx_sts.value,
        reason=_reason(tx.sts_rsn_inf),
        bank_reference=tx.acct_svcr_ref or tx.sts_id,
    )


def _code(status: p002.TransactionGroupStatus3Code | None) -> str | None:
    return None if status is None else str(status.value)


def _reason(infos: Sequence[p002.StatusReasonInformation8]) -> str | None:
    for info in infos:
        if info.rsn is not None and (info.rsn.cd or info.rsn.prtry):
            return str(info.rsn.cd or info.rsn.prtry)
    return None
