"""Index rows written before the blind index existed (or before a new blind key).

Walks each source table by primary key in pages; for each page, in one transaction, it
decrypts the sealed numbers with the field cipher (in memory only), writes their tokens
and moves the checkpoint. Killed at any point, the next run starts after the last page
that committed; a page done twice writes nothing new (the index's primary key). A row
that no longer decrypts (an erased payer, a lost key) is counted as unreadable, skipped
and named by id in the log, never by content.

Last, `custody_subaccounts`: a virtual account's blind token lives in its own row
(virtual_account_hmac, one token, unique per bank: matching money to a sub-account), not
in the index table. After a rotation the walk re-hashes it under the active key, so the
old key can be retired without losing the sub-accounts opened under it; same pages,
checkpoints and progress.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from paycore.custody import store as custody_store
from paycore.custody.subaccounts import VirtualAccounts
from paycore.platform.db import WRITER
from paycore.recon.handover import line_context
from paycore.security import store_blind
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import CipherError, FieldCipher

log = logging.getLogger(__name__)

BACKFILL_PAGE_SIZE_DEFAULT = 500
BACKFILL_PAGE_SIZE_MAX = 5_000

REHASHED = "custody_subaccounts"
"""The source whose own column is re-hashed (no index entries)."""
WALKED = (*store_blind.SOURCES, REHASHED)
"""Every source, in the order a backfill walks them."""

Progress = Callable[[str, int, int], None]
"""(source, rows done so far, rows to do in all) after each page."""


@dataclass
class SourceResult:
    rows: int = 0
    entries: int = 0
    """Index entries written; for custody_subaccounts, tokens re-hashed."""
    unreadable: int = 0


@dataclass
class BackfillResult:
    sources: dict[str, SourceResult] = field(default_factory=dict)
    finished: bool = False


class Backfill:
    def __init__(self, index: BlindIndex, cipher: FieldCipher) -> None:
        self.index = index
        self.cipher = cipher
        self._numbers = VirtualAccounts(cipher=cipher, indexer=index.indexer)

    def totals(self) -> dict[str, int]:
        """Rows with sealed numbers per source (for a progress bar)."""
        with self.index.engine.connect() as conn:
            totals = {s: store_blind.count_sealed(conn, s) for s in store_blind.SOURCES}
            totals[REHASHED] = custody_store.count_sealed_subaccounts(conn)
        return totals

    def run(
        self,
        *,
        page_size: int = BACKFILL_PAGE_SIZE_DEFAULT,
        pages_max: int | None = None,
        progress: Progress | None = None,
    ) -> BackfillResult:
        """Index every source from its checkpoint on; `pages_max` stops early (the next
        run resumes), `finished` says whether every source was walked to its end."""
        page_size = max(1, min(page_size, BACKFILL_PAGE_SIZE_MAX))
        totals = self.totals() if progress else {}
        result = BackfillResult()
        pages_left = pages_max
        for source in WALKED:
            outcome = result.sources.setdefault(source, SourceResult())
            while pages_left is None or pages_left > 0:
                done = self._page(source, page_size, outcome)
                if pages_left is not None:
                    pages_left -= 1
                if progress:
                    progress(source, done[1], totals.get(source, 0))
                if done[0]:
                    break
            else:
                return result
        result.finished = True
        return result

    def _page(self, source: str, page_size: int, outcome: SourceResult) -> tuple[bool, int]:
        """One page in one transaction; (whether the source is exhausted, rows done)."""
        if source == REHASHED:
            return self._rehash_page(page_size, outcome)
        key_id = self.index.indexer.active_key_id
        engine = self.index.engine
        with engine.connect().execution_options(**WRITER) as conn, conn.begin():
            after, rows_done = store_blind.checkpoint(conn, source=source, key_id=key_id) or ("", 0)
            rows = store_blind.SOURCES[source](conn, after, page_size)
            entries: list[store_blind.Entry] = []
            for row in rows:
                numbers = self._open(source, row)
                if numbers is None:
                    outcome.unreadable += 1
                    continue
                entries += self.index.entries(
                    object_type=row.object_type,
                    object_id=row.object_id,
                    merchant_id=row.merchant_id,
                    numbers=numbers,
                )
            store_blind.insert_entries(conn, entries, now=self.index.clock.now())
            if rows:
                rows_done += len(rows)
                store_blind.save_checkpoint(
                    conn,
                    source=source,
                    key_id=key_id,
                    after_key=rows[-1].page_key,
                    rows_done=rows_done,
                    now=self.index.clock.now(),
                )
        outcome.rows += len(rows)
        outcome.entries += len(entries)
        return len(rows) < page_size, rows_done

    def _rehash_page(self, page_size: int, outcome: SourceResult) -> tuple[bool, int]:
        """Virtual accounts: their own blind token moved to the active key; the checkpoint
        holds the last primary key as JSON."""
        key_id = self.index.indexer.active_key_id
        with self.index.engine.connect().execution_options(**WRITER) as conn, conn.begin():
            saved = store_blind.checkpoint(conn, source=REHASHED, key_id=key_id)
            after, rows_done = saved or ("", 0)
            start = _subaccount_key(after)
            page = self._numbers.rehash_page(conn, start, limit=page_size)
            if page.last is not None:
                rows_done += page.rows
                store_blind.save_checkpoint(
                    conn,
                    source=REHASHED,
                    key_id=key_id,
                    after_key=json.dumps(list(page.last), ensure_ascii=False),
                    rows_done=rows_done,
                    now=self.index.clock.now(),
                )
        outcome.rows += page.rows
        outcome.entries += page.rehashed
        outcome.unreadable += page.unreadable
        return page.rows < page_size, rows_done

    def _open(self, source: str, row: store_blind.SealedRow) -> Mapping[str, str | None] | None:
        try:
            return _OPENERS[source](self.cipher, row)
        except (CipherError, ValueError, KeyError, TypeError):
            log.warning("blind backfill: %s %s does not decrypt; skipped", source, row.object_id)
            return None


def _open_order(cipher: FieldCipher, row: store_blind.SealedRow) -> Mapping[str, str | None]:
    sealed: Mapping[str, str] = row.sealed or {}
    return {
        name: cipher.decrypt(token, context=f"{row.object_id}:{name}")
        for name, token in sealed.items()
        if name in ("card_number", "id_number", "phone", "account_number")
    }


def _open_plan(cipher: FieldCipher, row: store_blind.SealedRow) -> Mapping[str, str | None]:
    return {"card_number": cipher.decrypt(row.sealed, context=f"{row.object_id}:card")}


def _open_receipt(cipher: FieldCipher, row: store_blind.SealedRow) -> Mapping[str, str | None]:
    # The context custody.statement_money seals a statement payer under.
    document = json.loads(cipher.decrypt(row.sealed, context=f"custody-payer:{row.object_id}"))
    return {"account_number": document.get("account_number")}


def _open_recon_line(cipher: FieldCipher, row: store_blind.SealedRow) -> Mapping[str, str | None]:
    import_id, _, line_no = row.object_id.rpartition("/")
    context = line_context(import_id, int(line_no))
    document = json.loads(cipher.decrypt(row.sealed, context=context))
    return {"account_number": document.get("account_number")}


def _subaccount_key(after: str) -> custody_store.SubaccountKey | None:
    if not after:
        return None
    bank, merchant_id, owner = json.loads(after)
    return str(bank), str(merchant_id), str(owner)


_OPENERS: dict[str, Callable[[FieldCipher, store_blind.SealedRow], Mapping[str, str | None]]] = {
    "payment_orders": _open_order,
    "collection_plans": _open_plan,
    "custody_receipts": _open_receipt,
    "recon_lines": _open_recon_line,
}
