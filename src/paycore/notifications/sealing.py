"""Event payloads at rest: the webhook body's `data` is a copy of an order's view (the
payer's masked numbers, the merchant's description), C2, so it is kept sealed in
`notification_events.payload_enc`, bound to its event.

The JSON text is sealed as `new_event` checked it and opened with `json.loads`, which
keeps the keys' order: the body a relay signs is built from the same mapping as before.
Rows written before migration 0030 kept a clear `payload` until the encrypt backfill moved
them (`seal_payload_row`); migration 0032 drops that column.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from paycore.errors import InvariantViolation
from paycore.security.crypto import FieldCipher


def payload_context(event_id: str) -> str:
    """Binds a sealed payload to its event (the table's primary key)."""
    return f"notification-event:{event_id}"


def seal_payload(cipher: FieldCipher, event_id: str, payload: Mapping[str, Any]) -> str:
    document = json.dumps(dict(payload), separators=(",", ":"), ensure_ascii=False)
    return cipher.encrypt(document, context=payload_context(event_id))


def open_payload(cipher: FieldCipher, event_id: str, sealed: str | None) -> dict[str, Any]:
    """The payload of a stored event, opened."""
    if sealed is None:
        raise InvariantViolation(f"event {event_id} has no payload")
    opened: dict[str, Any] = json.loads(cipher.decrypt(sealed, context=payload_context(event_id)))
    return opened


def seal_payload_row(cipher: FieldCipher, row: Mapping[str, Any]) -> dict[str, str | None]:
    """For the encrypt backfill: one old row (`id`, clear `payload`) to its sealed column;
    the backfill writes it and empties `payload` (still there until migration 0032)."""
    return {"payload_enc": seal_payload(cipher, str(row["id"]), row["payload"])}
