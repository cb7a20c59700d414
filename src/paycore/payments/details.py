"""An order's free text sealed at rest: its description and metadata, one token per order.

Merchants type them; card, ID and phone numbers are masked before saving, but a name
cannot be recognised, so the text is C2 and stored only as `payment_orders.details_enc`:
the JSON `{"description": ..., "metadata": ...}` sealed by the payments cipher under the
context `order-details:<order id>` (a token copied to another order does not open). No
data-subject key: it is the merchant's text, not the payer's fields.

An order with neither (no description, empty metadata) stores no token at all: nothing
to seal, and the pay-ins of most merchants cost no encryption for it. Rows written before
migration 0029 keep their clear columns (and no token) until `encrypt-backfill` moves
them with `seal_order_details`.

The store opens tokens wherever it reads orders, whoever asks (settlement, the janitor,
replays, reveals, the flows built on payments), through the cipher registered for the
engine the connection comes from (`use_cipher`, called by `Payments`): those readers
hold a connection, not a cipher. A token read through an engine with no cipher is a
wiring defect and raises, never reads as empty.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine

from paycore.security.crypto import FieldCipher, KeyStoreUnbound

_CIPHERS: weakref.WeakKeyDictionary[Engine, FieldCipher | Callable[[], FieldCipher]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def details_context(order_id: str) -> str:
    return f"order-details:{order_id}"


def seal_order_details(
    cipher: FieldCipher, order_id: str, description: str, metadata: Mapping[str, Any]
) -> str | None:
    """The order's token, or None when there is nothing to seal (no description, no
    metadata). For new orders and for the backfill of rows written in clear."""
    if not description and not metadata:
        return None
    document = json.dumps(
        {"description": description, "metadata": dict(metadata)},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return cipher.encrypt(document, context=details_context(order_id))


def open_order_details(
    cipher: FieldCipher, order_id: str, token: str
) -> tuple[str, dict[str, Any]]:
    """(description, metadata) of a token `seal_order_details` made for this order."""
    document = json.loads(cipher.decrypt(token, context=details_context(order_id)))
    return str(document["description"]), dict(document["metadata"])


def use_cipher(engine: Engine, cipher: FieldCipher | Callable[[], FieldCipher]) -> None:
    """Open and seal the details of orders read or written through `engine` with `cipher`;
    given a function, it is called on the first sealed row (a bill worker binds its
    cipher to the key store only if it ever meets one)."""
    with _LOCK:
        _CIPHERS[_root(engine)] = cipher


def cipher_of(conn: Connection) -> FieldCipher:
    """The cipher registered for the connection's engine; raises when there is none."""
    found = cipher_for(conn.engine)
    if found is None:
        raise KeyStoreUnbound(
            "no cipher for order details on this engine: build Payments on it, or call "
            "payments.details.use_cipher(engine, cipher)"
        )
    return found


def cipher_for(engine: Engine) -> FieldCipher | None:
    root = _root(engine)
    found = _CIPHERS.get(root)
    if found is None or isinstance(found, FieldCipher):
        return found
    with _LOCK:
        current = _CIPHERS.get(root)
        if current is not None and not isinstance(current, FieldCipher):
            current = current()
            _CIPHERS[root] = current
        return current


def _root(engine: Engine) -> Engine:
    # `engine.execution_options(...)` makes a proxy sharing the pool (merchants, reveals
    # keep one for writing): it reads the same database, so it uses the same cipher.
    while True:
        proxied = getattr(engine, "_proxied", None)
        if not isinstance(proxied, Engine):
            return engine
        engine = proxied
