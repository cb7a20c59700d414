# ruff: noqa: RUF001  (the bills' own names use full-width parentheses)
"""Valid statement files of every non-camt format and the ways outsiders break them.

Shared by the malformed-file tests (CLI and HTTP) and the fuzz tests: each format has a
valid file made from its fixture, and each `Case` turns it into one malformed file with
the line and field its refusal must name.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from paycore.recon import formats
from paycore.recon.model import Direction, LineKind, Statement, StatementInfo, StatementLine

FIXTURES = Path(__file__).parent / "fixtures"
ALIPAY_ACCOUNT = "20881234567890120156"
ALIPAY_DETAIL = f"{ALIPAY_ACCOUNT}_20261125_业务明细.csv"
ALIPAY_SUMMARY = f"{ALIPAY_ACCOUNT}_20261125_业务明细(汇总).csv"
GARBAGE = b"\xff\xfe\x00\x01\x9c" + bytes(range(256)) * 40
HUGE_LINE_BYTES = 2_000_000

formats.register("unforeseen", "tests.recon.malformed_files", carries_fee=False)


def sandbox_text() -> str:
    return (FIXTURES / "sandbox" / "statement_2026-11-25.csv").read_text(encoding="utf-8")


def wechat_text() -> str:
    return (FIXTURES / "wechat" / "all_current.csv").read_bytes().decode("utf-8-sig")


def alipay_texts() -> tuple[str, str]:
    folder = FIXTURES / "alipay"
    detail = (folder / "layout_a_业务明细.csv").read_bytes().decode("utf-8")
    summary = (folder / "layout_a_业务明细(汇总).csv").read_bytes().decode("utf-8")
    return detail, summary


def alipay_zip(detail: bytes, summary: bytes | None = None) -> bytes:
    """A detail file's bytes (and the fixture's summary) zipped as Alipay serves them."""
    if summary is None:
        summary = alipay_texts()[1].encode("gbk")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bill:
        bill.writestr(ALIPAY_DETAIL, detail)
        bill.writestr(ALIPAY_SUMMARY, summary)
    return out.getvalue()


def pain002_bytes() -> bytes:
    return (FIXTURES / "pain" / "pain002_accepted_and_rejected.xml").read_bytes()


def valid_bytes(format: str) -> bytes:
    """The fixture of a format as the bytes a channel or bank sends."""
    if format == "sandbox_csv":
        return sandbox_text().encode("utf-8")
    if format == "wechat":
        return b"\xef\xbb\xbf" + wechat_text().encode("utf-8")
    if format == "alipay":
        return alipay_zip(alipay_texts()[0].encode("gbk"))
    if format == "pain002":
        return pain002_bytes()
    raise ValueError(format)


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], bytes]
    line: int | None  # the line the refusal names (None: a file-level fault, no line)
    field: str


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _csv_cases(
    text: Callable[[], str],
    encode: Callable[[str], bytes],
    wrap: Callable[[bytes], bytes],
    *,
    first_row: int,
    money: tuple[str, str, str],
    ref: tuple[str, str],
    time: tuple[str, str, str],
    first_column: str,
    width_fields: tuple[str, str],
    summary: tuple[int, str],
) -> list[Case]:
    """The malformed files every CSV-like format must refuse. `encode` gives a text's
    bytes in the format's encoding, `wrap` the file around them (a ZIP for Alipay).
    `money` and `time`: a cell's value on the first data row, the text around it that is
    unique in the file, and the column's name; `ref`: a reference cell's text (where the
    cell starts) and its column; `width_fields`: the first field missing from a row cut
    short and from a row an unclosed quote swallows; `summary`: where the summary starts
    and its first name."""

    def edit(old: str, new: str) -> Callable[[], bytes]:
        return lambda: wrap(encode(_replace(text(), old, new)))

    lines = text().splitlines(keepends=True)

    def cut_row() -> bytes:  # cut in the middle of the second data row
        kept = "".join(lines[:first_row])
        return wrap(encode(kept + lines[first_row][: len(lines[first_row]) // 3]))

    def huge_line() -> bytes:
        head, rest = "".join(lines[: first_row - 1]), "".join(lines[first_row - 1 :])
        return wrap(encode(head) + b"x" * HUGE_LINE_BYTES + b"\n" + encode(rest))

    def raw_bytes() -> bytes:
        marked = _replace(text(), ref[0], ref[0][:3] + "@@")
        return wrap(encode(marked).replace(b"@@", b"\xff\xff\xff", 1))

    def too_large(digits: int) -> Callable[[], bytes]:
        return edit(money[1], money[1].replace(money[0], "9" * digits))

    return [
        Case("empty_file", lambda: wrap(b""), 1, first_column),
        Case("binary_garbage", lambda: wrap(GARBAGE), 1, "encoding"),
        Case("utf16_with_bom", lambda: wrap(text().encode("utf-16")), 1, "encoding"),
        Case("bytes_not_in_the_encoding", raw_bytes, first_row, "encoding"),
        Case("truncated_in_a_row", cut_row, first_row + 1, width_fields[0]),
        Case("truncated_before_the_summary",
             lambda: wrap(encode("".join(lines[: summary[0] - 1]))), summary[0], summary[1]),
        Case("a_row_with_an_extra_field", edit(money[1], money[1] + ",x"), first_row, "column"),
        Case("a_non_numeric_amount", edit(money[1], money[1].replace("0", "O", 1)), first_row,
             money[2]),
        Case("an_amount_too_large", too_large(30), first_row, money[2]),
        Case("an_amount_of_5000_digits", too_large(5000), first_row, money[2]),
        Case("a_time_before_year_one_in_utc",
             edit(time[1], time[1].replace(time[0], "0001-01-01 00:00:00")), first_row, time[2]),
        Case("a_nul_in_a_field", edit(ref[0], ref[0][:3] + "\x00" + ref[0][3:]), first_row,
             ref[1]),
        Case("a_line_of_two_megabytes", huge_line, first_row, "line length"),
        Case("a_lone_carriage_return", edit(ref[0], ref[0][:3] + "\r" + ref[0][3:]), first_row,
             "csv"),
        Case("an_unclosed_quote", edit("," + ref[0], ',"' + ref[0]), first_row, width_fields[1]),
    ]  # fmt: skip


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


def _same(data: bytes) -> bytes:
    return data


def sandbox_cases() -> list[Case]:
    common = _csv_cases(
        sandbox_text,
        _utf8,
        _same,
        first_row=2,
        money=("100.00", ",100.00,0.60,", "Amount"),
        ref=("pay_sandbox_0001", "Merchant Ref"),
        time=("2026-11-25 00:00:00", "SUCCESS,2026-11-25 00:00:00", "Finished At"),
        first_column="Txn Date",
        width_fields=("Merchant Ref", "Type"),
        summary=(6, "Total Count"),
    )
    return [
        *common,
        Case("a_count_in_superscript_digits",
             lambda: _utf8(_replace(sandbox_text(), "\n4,CNY", "\n\u00b2,CNY")), 7,
             "Total Count"),
        Case("rich_markup_in_a_cell",
             lambda: _utf8(_replace(sandbox_text(), ",PAYIN,", ",[/bold],")), 2, "Type"),
        Case("a_blank_first_row", lambda: _utf8(sandbox_text().replace("\n", "\n\n", 1)), 2,
             "Txn Date"),
    ]  # fmt: skip


def wechat_cases() -> list[Case]:
    return _csv_cases(
        wechat_text,
        _utf8,
        lambda data: b"\xef\xbb\xbf" + data,
        first_row=2,
        money=("100.00", "%,`100.00,`0.00", "订单金额"),
        ref=("`pay_wechat_0001", "商户订单号"),
        time=("2026-11-25 10:00:01", "`2026-11-25 10:00:01,", "交易时间"),
        first_column="交易时间",
        width_fields=("用户标识", "用户标识"),
        summary=(5, "总交易单数"),
    )


def alipay_cases() -> list[Case]:
    detail, _summary = alipay_texts()
    lines = detail.splitlines(keepends=True)
    first_row = next(n for n, line in enumerate(lines, 1) if not line.startswith("#")) + 1
    footer = next(n for n, line in enumerate(lines, 1) if line.startswith("#交易合计"))

    def gbk(text: str) -> bytes:
        return text.encode("gbk")

    cases = _csv_cases(
        lambda: detail,
        gbk,
        alipay_zip,
        first_row=first_row,
        money=("100.00", "com\t,100.00\t", "订单金额（元）"),
        ref=("pay_alipay_0001", "商户订单号"),
        time=("2026-11-25 10:00:05", "\t,2026-11-25 10:00:05\t", "完成时间"),
        first_column="支付宝交易号",
        width_fields=("完成时间", "业务类型"),
        summary=(footer, "交易合计"),
    )
    at_zip_level = {"empty_file", "binary_garbage"}
    zipped = alipay_zip(gbk(detail))
    return [c for c in cases if c.name not in at_zip_level] + [
        Case("empty_file", lambda: b"", None, "zip"),
        Case("binary_garbage", lambda: GARBAGE, None, "zip"),
        Case("a_zip_cut_in_half", lambda: zipped[: len(zipped) // 2], None, "zip"),
        Case("a_zip_with_a_bad_checksum", lambda: _flip_a_stored_byte(zipped), None, "zip"),
        Case("a_zip_of_a_version_zipfile_lacks", lambda: _needs_version(zipped, 255), None,
             "zip"),
        Case("a_period_of_month_thirteen",
             lambda: alipay_zip(gbk(_replace(detail, "11月25日", "13月25日"))), 3, "起始日期"),
        Case("a_nul_in_a_comment_line",
             lambda: alipay_zip(gbk(_replace(detail, "#支付宝", "#支\x00付宝"))), 1, "comment"),
    ]  # fmt: skip


def _needs_version(data: bytes, version: int) -> bytes:
    """The first central directory entry saying it needs a later ZIP version to extract."""
    at = data.find(b"PK\x01\x02") + 6
    return data[:at] + version.to_bytes(2, "little") + data[at + 2 :]


def _flip_a_stored_byte(data: bytes) -> bytes:
    """Corrupt the first member's compressed bytes (its CRC no longer matches)."""
    header = 30 + int.from_bytes(data[26:28], "little") + int.from_bytes(data[28:30], "little")
    corrupted = bytearray(data)
    corrupted[header + 5] ^= 0xFF
    return bytes(corrupted)


def pain002_cases() -> list[Case]:
    text = pain002_bytes().decode("utf-8")

    def edit(old: str, new: str) -> Callable[[], bytes]:
        return lambda: _replace(text, old, new).encode("utf-8")

    doctype = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    )
    padded = '<?xml version="1.0" encoding="UTF-8"?>\n<!--' + "p" * 5000 + "-->\n" + doctype[39:]
    body = text.split("\n", 1)[1].replace("STS-20260101-0001", "&xxe;")
    return [
        Case("empty_file", lambda: b"", 1, "xml"),
        Case("binary_garbage", lambda: GARBAGE, 1, "xml"),
        Case("truncated", lambda: text[: len(text) // 2].encode(), 18, "xml"),
        Case("an_external_entity", lambda: (doctype + body).encode(), 2, "DOCTYPE"),
        Case("a_doctype_after_a_long_comment", lambda: (padded + body).encode(), 3, "DOCTYPE"),
        Case("a_nul_byte", edit("BANKREF-0001", "BANK\x00REF"), 20, "xml"),
        Case("latin1_in_utf8", lambda: text.replace("Closed", "Cl\udcf6sed").encode(
             "utf-8", "surrogateescape"), 30, "xml"),
        Case("an_unknown_element", edit("<TxSts>ACSC</TxSts>", "<TxSts>ACSC</TxSts><Bonus/>"),
             19, "Bonus"),
        Case("an_unknown_status_code", edit("<TxSts>ACSC</TxSts>", "<TxSts>DONE</TxSts>"), 19,
             "TxSts"),
        Case("text_between_elements", edit("<Cd>AC04</Cd>", "<Cd>AC04</Cd>stray"), 28, "Rsn"),
        Case("a_message_id_over_35_characters", edit("STS-20260101-0001", "S" * 36), 5,
             "MsgId"),
        Case("a_bank_reference_over_35_characters", edit("BANKREF-0001", "R" * 36), 20,
             "AcctSvcrRef"),
    ]  # fmt: skip


CASES: dict[str, Callable[[], list[Case]]] = {
    "sandbox_csv": sandbox_cases,
    "wechat": wechat_cases,
    "alipay": alipay_cases,
    "pain002": pain002_cases,
}


def all_cases() -> list[tuple[str, Case]]:
    return [(format, case) for format, cases in CASES.items() for case in cases()]


def parse(path: Path, *, source: str | None = None) -> Statement:
    """The `unforeseen` format: a parser with a bug, reading one good line and then
    failing in a way it did not foresee, as a parser meeting an unimagined file would."""
    info = StatementInfo(format="unforeseen", source=source or "alpha", statement_id=path.name)

    def lines() -> Iterator[StatementLine]:
        yield StatementLine(
            line_no=1, source_ref="U1", kind=LineKind.PAYIN, direction=Direction.CREDIT,
            amount=100, currency="CNY", booked_at=datetime(2026, 3, 10, 2, tzinfo=UTC),
        )  # fmt: skip
        raise IndexError(path.read_bytes()[999_999])

    return Statement(info, lines())
