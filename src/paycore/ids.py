"""Time-ordered ids with a type prefix (`acct_01J...`).

A UUIDv7 (RFC 9562) rendered in Crockford base32: 26 characters that sort by
creation time, so primary-key indexes stay append-mostly.
"""

from __future__ import annotations

import os
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_lock = threading.Lock()
_last = 0


def uuid7_int(unix_ms: int | None = None) -> int:
    """A UUIDv7; without `unix_ms`, strictly increasing within this process (RFC 9562
    §6.2 method 2): ids made in the same millisecond count up from a random start, so
    "newer id" always means "made later" here, and keyset pages never reorder."""
    global _last
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 9562 variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    if unix_ms is not None:
        return value
    with _lock:
        if value <= _last and (_last >> 80) >= ms - 1_000:
            # Same millisecond (or the clock stepped back a little): one more than the last.
            # The +1 lands in rand_b; its 62 bits never carry into the variant in practice.
            value = _last + 1
        _last = value
    return value


def encode_base32(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    return f"{prefix}_{encode_base32(uuid7_int())}"
