"""Reconciliation use cases: import a statement file, run a day's matching, work breaks.

An import is one transaction: the parser's lines are streamed into `recon_lines` in
chunks and committed only after the last line and the file's control totals check out,
so a malformed file leaves nothing. The file's SHA-256 makes it idempotent: the same
file again answers the earlier import, if it was of the same source and format (else it
is refused, naming that import).

A run matches in one transaction (store_matching.py); what touches other systems comes after
commit: surplus money to suspense (ledger), status mismatches queried back (payments).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from paycore import ids
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.limits import AMOUNT_MAX
from paycore.payments.service import Payments
from paycore.platform.db import WRITER
from paycore.recon import formats, store, store_lines, store_matching, store_statements
from paycore.recon.breaks import Adjustment, Breaks, BreakStatus, BreakType
from paycore.recon.handover import HandOver, line_context, seal_counterparty
from paycore.recon.model import (
    Direction,
    MalformedStatement,
    Statement,
    business_date_of,
)
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher
from paycore.security.masking import redact_personal_numbers

log = logging.getLogger(__name__)

INSERT_CHUNK = 10_000
"""Lines written (and looked up by txn id) at a time: big enough that a statement's cost
is per line, small enough that a chunk stays a few MB."""
LINES_PER_IMPORT_MAX = 20_000_000
SOURCE_CHARS_MAX = 64
BREAKS_PAGE_MAX = 500
CROSS_DAY_WINDOW_DAYS = 1
"""An order that finished on day D may be on the statement of D+1: it becomes a
`missing_on_channel_side` break only when the run of D+window finds no line for it."""

Progress = Callable[[int], None]


class Recon:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        payments: Payments,
        window_days: int = CROSS_DAY_WINDOW_DAYS,
        cipher: FieldCipher | None = None,
        fee_bps_of: Callable[[str], int | None] = lambda _source: None,
        blind: BlindIndex | None = None,
    ) -> None:
        """Without a `cipher` no counterparty (personal data) is kept from the files."""
        self.engine = engine
        self.blind = blind
        self.clock = clock
        self.payments = payments
        self.window_days = window_days
        self.cipher = cipher
        self.fee_bps_of = fee_bps_of
        """A source's contracted pay-in fee (ChannelConfig.fee_bps); None: fees not compared."""
        self.breaks = Breaks(engine, ledger, clock)
        self.handover = HandOver(engine, self.breaks, cipher)

    # -- import -------------------------------------------------------------------------

    def import_file(
        self, path: Path, *, format: str, source: str | None, progress: Progress | None = None
    ) -> tuple[dict[str, Any], bool]:
        """(the import, True if new); the same file again answers the earlier import."""
        carries_fee = formats.format_of(format).carries_fee
        if source is not None:
            _check_source(source)
        digest = file_sha256(path)
        with self.engine.connect() as conn:
            earlier = store.import_by_hash(conn, digest)
        if earlier is not None:
            return _same_import(earlier, format=format, source=source), False
        statement = formats.parse(format, path, source=source)
        if statement.info.format != format:  # a camt.054 sent as camt053, say
            raise Rejected("format_mismatch", f"the file is {statement.info.format}, not {format}")
        return self.import_statement(
            statement,
            file_sha256=digest,
            source=source or statement.info.source,
            carries_fee=carries_fee,
            progress=progress,
        )

    def import_statement(
        self,
        statement: Statement,
        *,
        file_sha256: str,
        source: str,
        carries_fee: bool,
        progress: Progress | None = None,
    ) -> tuple[dict[str, Any], bool]:
        _check_source(source)
        import_id = ids.new_id("imp")
        count = credits = debits = 0
        chunk: list[list[Any]] = []
        counterparties: list[tuple[int, str]] = []  # (line_no, account number): blind index
        try:
            with (
                self.engine.connect().execution_options(**WRITER) as conn,
                store_lines.bulk_cache(conn),
                conn.begin(),
            ):
                writer = store_lines.LineWriter(conn)
                for line in statement.lines:
                    stored = store_lines.line_row(
                        line, import_id=import_id, source=source, carries_fee=carries_fee
                    )
                    if line.account and self.cipher is not None:
                        stored[store_lines.ACCOUNT_ENC] = self.cipher.encrypt(
                            line.account,
                            context=store_lines.account_context(import_id, line.line_no),
                        )
                    if line.counterparty is not None and self.cipher is not None:
                        stored[store_lines.COUNTERPARTY_ENC] = seal_counterparty(
                            self.cipher,
                            line.counterparty,
                            context=line_context(import_id, line.line_no),
                        )
                        counterparties.append((line.line_no, line.counterparty.account_number))
                    chunk.append(stored)
                    count += 1
                    if line.direction is Direction.CREDIT:
                        credits += line.amount
                    else:
                        debits += line.amount
                    if len(chunk) == INSERT_CHUNK:
                        store_matching.match_by_txn(conn, chunk, source=source)
                        writer.write(chunk)
                        chunk.clear()
                        _check_size(count)
                        if progress:
                            progress(count)
                store_matching.match_by_txn(conn, chunk, source=source)
                writer.write(chunk)
                _check_totals(statement, count=count, credits=credits, debits=debits)
                store.refresh_statistics(conn)
                store.lock_imports_of(conn, source=source)
                repeated = store.drop_repeats(conn, import_id=import_id, source=source)
                if self.blind is not None:  # after the repeats went: only lines kept
                    self.blind.write_recon_import(conn, import_id, counterparties)
                store.mark_duplicates(conn, import_id=import_id, source=source)
                info = statement.info
                now = self.clock.now()
                balance_breaks = store_statements.record(
                    conn,
                    import_id=import_id,
                    source=source,
                    balances=statement.balances,
                    fallback_date=info.period_end or business_date_of(now),
                    now=now,
                )
                warnings = statement.warnings
                row = {
                    "id": import_id,
                    "file_sha256": file_sha256,
                    "format": info.format,
                    "source": source,
                    "statement_id": info.statement_id[: store_lines.TEXT_CHARS_MAX],
                    "line_count": count,
                    "repeated_lines": repeated,
                    "credits": credits,
                    "debits": debits,
                    "period_start": info.period_start,
                    "period_end": info.period_end,
                    "imported_at": now,
                    "warnings": _redacted(warnings.kept) if warnings.count else None,
                    "warning_count": warnings.count,
                }
                store.insert_import(conn, row)
        except IntegrityError:
            # The same file, imported at the same moment by someone else: theirs stands.
            with self.engine.connect() as conn:
                earlier = store.import_by_hash(conn, file_sha256)
            if earlier is None:
                raise
            return _same_import(earlier, format=statement.info.format, source=source), False
        if progress:
            progress(count)
        log.info(
            "recon import %s: %d lines of %s, %d warnings, %d balance breaks",
            import_id,
            count,
            source,
            warnings.count,
            balance_breaks,
        )
        return row, True

    def get_import(self, import_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            found = store.get_import(conn, import_id)
        if found is None:
            raise Rejected("import_not_found", f"no import {import_id}")
        return found

    # -- run ----------------------------------------------------------------------------

    def run(
        self, *, source: str, business_date: date, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Match `source`'s lines of `business_date` (Asia/Shanghai) and record breaks;
        catches up on the days since the source's last run (store_matching.Span)."""
        _check_source(source)
        run_id = ids.new_id("rrun")
        started_at = self.clock.now()
        with (
            self.engine.connect().execution_options(**WRITER) as conn,
            store_lines.bulk_cache(conn),
            conn.begin(),
        ):
            span = store_matching.span_of(
                conn, source=source, day=business_date, window_days=self.window_days
            )
            counts = store_matching.match_day(
                conn,
                source=source,
                span=span,
                run_id=run_id,
                now=started_at,
                window_days=self.window_days,
                fee_bps=self.fee_bps_of(source),
            )
            agreed = store_matching.status_now_agrees(conn, source=source, span=span)
            unfinished = store_matching.unfinished_mismatched_orders(conn, source=source, span=span)
            returned = store_matching.returns_not_seen(conn, source=source, span=span)
        if progress:
            progress(1)
        # After commit: the ledger and the payments janitor work on their own transactions.
        auto_resolved = self.breaks.auto_resolve(agreed)
        self.breaks.book_suspense(source)
        self.handover.offer(source)
        queried_back = self.payments.query_now(unfinished) + len(returned)
        if self.payments.check_returns(returned):
            # They agree now: the same run closes those breaks.
            with self.engine.connect() as conn:
                agreed = store_matching.status_now_agrees(conn, source=source, span=span)
            auto_resolved += self.breaks.auto_resolve(agreed)
        if progress:
            progress(2)
        with self.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            new_breaks = store.count_breaks(conn, run_id=run_id)
            row = {
                "id": run_id,
                "source": source,
                "business_date": business_date,
                "lines": counts.lines,
                "matched": counts.matched,
                "waiting": counts.waiting,
                "breaks_new": sum(new_breaks.values()),
                "auto_resolved": auto_resolved,
                "queried_back": queried_back,
                "judged_through": span.judged_through,
                "started_at": started_at,
                "finished_at": self.clock.now(),
            }
            store.insert_run(conn, row)
        return {**row, "breaks_by_type": new_breaks}

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            found = store.get_run(conn, run_id)
            if found is None:
                raise Rejected("run_not_found", f"no run {run_id}")
            found["breaks_by_type"] = store.count_breaks(conn, run_id=run_id)
        return found

    # -- breaks -------------------------------------------------------------------------

    def list_breaks(
        self,
        *,
        status: str | None = None,
        type_: str | None = None,
        source: str | None = None,
        limit: int = 100,
        after: int | None = None,
    ) -> list[dict[str, Any]]:
        if status is not None and status not in BreakStatus.__members__.values():
            raise Rejected("invalid_break_status", f"{status!r} is not a break status")
        if type_ is not None and type_ not in BreakType.__members__.values():
            raise Rejected("invalid_break_type", f"{type_!r} is not a break type")
        limit = max(1, min(limit, BREAKS_PAGE_MAX))
        with self.engine.connect() as conn:
            return store.list_breaks(
                conn, status=status, type_=type_, source=source, limit=limit, after=after
            )

    def get_break(self, break_id: int) -> dict[str, Any]:
        return self.breaks.get(break_id)

    def investigate(self, break_id: int, *, actor: str, note: str = "") -> dict[str, Any]:
        return self.breaks.investigate(break_id, actor=actor, note=note)

    def resolve(
        self, break_id: int, *, actor: str, note: str, adjustment: Adjustment | None = None
    ) -> dict[str, Any]:
        return self.breaks.resolve(break_id, actor=actor, note=note, adjustment=adjustment)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _same_import(earlier: dict[str, Any], *, format: str, source: str | None) -> dict[str, Any]:
    """The earlier import of the same bytes, if it was of this source and format: a file
    is one channel's statement in one format, never two."""
    for name, wanted in (("source", source), ("format", format)):
        if wanted is not None and earlier[name] != wanted:
            raise Rejected(
                f"exists_with_different_{name}",
                f"this file was imported as {earlier['id']} (source {earlier['source']}, "
                f"format {earlier['format']}), not {name} {wanted}",
            )
    return earlier


def _check_source(source: str) -> None:
    if not source or len(source) > SOURCE_CHARS_MAX or "\x00" in source:
        raise Rejected("invalid_source", f"a source is 1-{SOURCE_CHARS_MAX} characters")


def _check_size(count: int) -> None:
    if count > LINES_PER_IMPORT_MAX:
        raise Rejected("statement_too_large", f"at most {LINES_PER_IMPORT_MAX} lines a file")


def _check_totals(statement: Statement, *, count: int, credits: int, debits: int) -> None:
    """The parser checks the file's own totals when its lines run out; checked again here
    against what was stored, so no parser can let a short import through."""
    for name, total in (("credits", credits), ("debits", debits)):
        if total > AMOUNT_MAX:  # recon_imports keeps them as signed 64-bit integers
            raise MalformedStatement(f"the file's {name} add up to more than {AMOUNT_MAX}")
    totals = statement.totals
    for name, stated, read in (
        ("count", totals.count, count),
        ("credits", totals.credits, credits),
        ("debits", totals.debits, debits),
    ):
        if stated is not None and stated != read:
            raise MalformedStatement(f"the file says {name} {stated}, its lines make {read}")


def _redacted(warnings: Sequence[str]) -> str:
    """Warnings are for operators, so they are kept readable rather than encrypted: a
    parser's message may quote the value it refused, and any card, ID or phone number in
    it is masked before it is stored."""
    return json.dumps([redact_personal_numbers(w) for w in warnings], ensure_ascii=False)
