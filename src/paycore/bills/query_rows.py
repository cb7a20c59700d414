"""The rows of bill queries, as the API pages, the exports and the CLI show them: an
instant in UTC with a Z, its bill day in the bill's zone, money as integer minor units.

Two paths give the same values. `order_row` and `transfer_row` make a page's dicts from
typed rows. `order_lines` makes an export's tuples from `query_store.order_stream`'s plain
ones: a million-line export spends its time here, so it parses no JSON (the name comes
out of SQL), converts no datetime to a zone per row (a bill day is looked up by UTC hour)
and builds no dict unless its caller asks for one.

An order's description is sealed with its metadata (payments/details.py): each row with
a token costs one decryption (and a small JSON parse), rows without text none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from paycore.bills.model import BILL_ZONE, bill_day_of, classify
from paycore.bills.query_model import Row
from paycore.payments.details import open_order_details
from paycore.security.crypto import FieldCipher, KeyStoreUnbound

_HOUR = timedelta(hours=1)
_MICROSECOND = timedelta(microseconds=1)


def _instant(at: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z (the database hands back UTC instants: UTCDateTime)."""
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def _description(cipher: FieldCipher | None, order_id: str, sealed: str) -> str:
    if cipher is None:
        raise KeyStoreUnbound("order details are sealed and bills were given no cipher")
    return open_order_details(cipher, order_id, sealed)[0]


def order_row(r: Any, cipher: FieldCipher | None = None) -> Row:
    # Unpacked, not read by attribute: this runs once per row of a page.
    (
        order_id, kind, reference, product, channel, status, amount, fee, refunded,
        currency, parent_id, party, created_at, finished_at, sealed,
    ) = r  # fmt: skip
    description = "" if sealed is None else _description(cipher, order_id, sealed)
    name = party.get("name") if isinstance(party, dict) else None
    return {
        "id": order_id,
        "kind": kind,
        "created_at": _instant(created_at),
        "bill_date": bill_day_of(created_at).isoformat(),
        "merchant_reference": reference,
        "product": product,
        "channel": channel,
        "status": status,
        "currency": currency,
        "amount_minor": amount,
        "fee_minor": fee,
        "refunded_minor": refunded,
        "counterparty": name if isinstance(name, str) and name else None,
        "parent_id": parent_id,
        "finished_at": _instant(finished_at),
        "description": description,
    }


OrderLine = tuple[str | int | None, ...]
"""An order as an export writes it: COLUMNS[What.ORDERS]'s values, in that order."""


def order_lines(rows: Iterable[Any], cipher: FieldCipher | None = None) -> Iterator[OrderLine]:
    """The export's tuples of `query_store.order_stream` rows: the same values as
    `order_row`, without its per-row costs (see the module's doc)."""
    days: dict[str, str] = {}
    for (
        order_id, kind, created, reference, product, channel, status, currency, amount,
        fee, refunded, counterparty, parent_id, finished, sealed,
    ) in rows:  # fmt: skip
        description = "" if sealed is None else _description(cipher, order_id, sealed)
        at = _naive_utc(created) if type(created) is str else created
        created_text = at.isoformat() + "Z"
        # "YYYY-MM-DDTHH": the UTC hour, the key of its bill day.
        day = days.get(created_text[:13]) or _bill_day(at, created_text[:13], days)
        if finished is not None:
            finished = (
                _naive_utc(finished) if type(finished) is str else finished
            ).isoformat() + "Z"
        yield (
            order_id, kind, created_text, day, reference, product, channel, status,
            currency, amount, fee, refunded, counterparty, parent_id, finished, description,
        )  # fmt: skip


def _naive_utc(text: str) -> datetime:
    """A naive UTC datetime from SQLite's text of one (naive UTC as UTCDateTime writes
    it; with an offset, if something else wrote it)."""
    at = datetime.fromisoformat(text)
    return at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)


def _bill_day(at: datetime, hour: str, days: dict[str, str]) -> str:
    """The bill day of naive UTC `at`, kept for its whole UTC hour when the zone's offset
    and date are the same at both ends of that hour. They are not when the zone changes
    its offset within the hour, or when its midnight falls inside an hour (an offset of
    old that is not whole hours, such as Shanghai's local mean time)."""
    utc = at.replace(tzinfo=UTC)
    start = utc.replace(minute=0, second=0, microsecond=0)
    first = start.astimezone(BILL_ZONE)
    last = (start + (_HOUR - _MICROSECOND)).astimezone(BILL_ZONE)
    if first.utcoffset() == last.utcoffset() and first.date() == last.date():
        days[hour] = first.date().isoformat()
        return days[hour]
    return bill_day_of(utc).isoformat()


def transfer_row(r: Any) -> Row:
    (
        _seq, account_id, side, transfer_id, debit_id, credit_id, amount, currency, code,
        status, pending_id, metadata, created_at, own,
    ) = r  # fmt: skip
    incoming = side == "credit"
    order_id = metadata.get("order_id") if isinstance(metadata, dict) else None
    return {
        "id": transfer_id,
        "created_at": _instant(created_at),
        "bill_date": bill_day_of(created_at).isoformat(),
        "account_id": account_id,
        "direction": "own" if own else ("in" if incoming else "out"),
        "counterparty": debit_id if incoming else credit_id,
        "category": classify(transfer_id, code, incoming).value,
        "currency": currency,
        "amount_minor": amount,
        "code": code,
        "status": status,
        "pending_id": pending_id,
        "order_id": order_id if isinstance(order_id, str) else None,
    }


def line_row(line: dict[str, object]) -> Row:
    def integer(name: str) -> int | None:
        value = line.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return {
        "account_id": str(line.get("account_id", "")),
        "line": str(line.get("line", "")),
        "product": str(line.get("product") or "") or None,
        "channel": str(line.get("channel") or "") or None,
        "currency": str(line.get("currency", "")),
        "amount_minor": integer("amount"),
        "amount_in_minor": integer("amount_in"),
        "amount_out_minor": integer("amount_out"),
        "count": integer("count"),
    }
