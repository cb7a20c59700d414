"""Which data subject a payer's personal fields are sealed under (crypto-shredding).

A subject is the blind-index token of the payer's strongest identifier, in this order:
ID number, card number, phone, account number (the first a row holds that is a
well-formed number). It is opaque (an HMAC, never the number), stable (every order of
the same payer gets the same one) and found again from the number a data-subject request
names: the token is in the blind index next to the object. Erasing it shreds exactly
that payer's key, so another payer's data stays readable.

No subject (the value sealed under the data key, as before) when the cipher is not bound
to a key store or there is no blind index: such rows can then only be erased by the
blind-index removal, not shredded.
"""

from __future__ import annotations

from collections.abc import Mapping

from paycore.security.blind import BlindKind, normalize_or_none
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher, SubjectKey

SUBJECT_KINDS: tuple[BlindKind, ...] = ("id_number", "card_number", "phone", "account_number")
"""Strongest first: an ID number names one person; a card, a phone, an account may be
shared (a family card, a company account), so they only name the subject when nothing
stronger is known."""


def payer_subject(
    cipher: FieldCipher, blind: BlindIndex | None, numbers: Mapping[str, str | None]
) -> str | None:
    """The subject to seal `numbers`' owner's fields under, its key created now in its
    own transaction (call it before the write transaction: on SQLite a key created inside
    it would wait on it)."""
    subject = payer_subject_name(cipher, blind, numbers)
    if subject is not None:
        cipher.ensure_subject(subject)
    return subject


def payer_subject_key(
    cipher: FieldCipher, blind: BlindIndex | None, numbers: Mapping[str, str | None]
) -> SubjectKey | None:
    """The key to seal `numbers`' owner's fields under, without writing: when
    `new`, the caller claims it in its write transaction (`FieldCipher.claim_subject`)
    and caches it after the commit (`remember_subject`); see envelope.py."""
    subject = payer_subject_name(cipher, blind, numbers)
    return None if subject is None else cipher.subject_key(subject)


def payer_subject_name(
    cipher: FieldCipher, blind: BlindIndex | None, numbers: Mapping[str, str | None]
) -> str | None:
    """The subject `numbers`' owner is, or None (no key store, no blind index, no number)."""
    if blind is None or not cipher.bound:
        return None
    for kind in SUBJECT_KINDS:
        normalized = normalize_or_none(kind, numbers.get(kind))
        if normalized is not None:
            return blind.indexer.token(kind, normalized)
    return None
