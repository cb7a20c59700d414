"""A fake file-based bank for the host-to-host tests: reads a pain.001 with the ISO 20022
bindings and answers with a pain.002 status report made with the same bindings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from pyiso20022.pain.pain_001_001_03 import pain_001_001_03 as p001
from pyiso20022.pain.pain_002_001_03 import pain_002_001_03 as p002
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.models.datatype import XmlDateTime

from paycore.recon.pain import PAIN002_NAMESPACE


def read_pain001(source: Path | bytes) -> p001.Document:
    """A pain.001 from its clear bytes (as handed over) or a clear file."""
    data = source if isinstance(source, bytes) else source.read_bytes()
    return XmlParser().from_bytes(data, p001.Document)


def end_to_end_ids(source: Path | bytes) -> list[str]:
    document = read_pain001(source)
    return [
        str(tx.pmt_id.end_to_end_id)
        for info in document.cstmr_cdt_trf_initn.pmt_inf
        for tx in info.cdt_trf_tx_inf
    ]


def status_report(
    pain001: Path | bytes,
    statuses: Mapping[str, tuple[str, str | None]],
    *,
    report_id: str = "STS-1",
    group_status: str | None = None,
    group_reason: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> bytes:
    """A pain.002 on `pain001`: `statuses` maps EndToEndId -> (TxSts, reason code);
    `extra` adds EndToEndIds the file does not have."""
    original = read_pain001(pain001).cstmr_cdt_trf_initn
    infos = []
    for info in original.pmt_inf:
        txs = [
            _tx(str(tx.pmt_id.end_to_end_id), *statuses[str(tx.pmt_id.end_to_end_id)])
            for tx in info.cdt_trf_tx_inf
            if str(tx.pmt_id.end_to_end_id) in statuses
        ]
        if info is original.pmt_inf[0]:
            txs += [_tx(e2e, code, None) for e2e, code in (extra or {}).items()]
        infos.append(
            p002.OriginalPaymentInformation1(orgnl_pmt_inf_id=info.pmt_inf_id, tx_inf_and_sts=txs)
        )
    group = p002.OriginalGroupInformation20(
        orgnl_msg_id=original.grp_hdr.msg_id,
        orgnl_msg_nm_id="pain.001.001.03",
        grp_sts=p002.TransactionGroupStatus3Code(group_status) if group_status else None,
        sts_rsn_inf=[_reason(group_reason)] if group_reason else [],
    )
    document = p002.Document(
        cstmr_pmt_sts_rpt=p002.CustomerPaymentStatusReportV03(
            grp_hdr=p002.GroupHeader36(
                msg_id=report_id,
                cre_dt_tm=XmlDateTime.from_datetime(datetime(2026, 1, 2, tzinfo=UTC)),
            ),
            orgnl_grp_inf_and_sts=group,
            orgnl_pmt_inf_and_sts=infos,
        )
    )
    return XmlSerializer().render(document, ns_map={None: PAIN002_NAMESPACE}).encode()


def _tx(e2e: str, code: str, reason: str | None) -> p002.PaymentTransactionInformation25:
    return p002.PaymentTransactionInformation25(
        orgnl_end_to_end_id=e2e,
        tx_sts=p002.TransactionIndividualStatus3Code(code),
        sts_rsn_inf=[_reason(reason)] if reason else [],
        acct_svcr_ref=f"BANK-{e2e[-8:]}" if code == "ACSC" else None,
    )


def _reason(code: str) -> p002.StatusReasonInformation8:
    return p002.StatusReasonInformation8(rsn=p002.StatusReason6Choice(cd=code))
