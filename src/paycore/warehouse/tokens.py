"""Blind tokens the export computes itself: a statement line's account (the virtual
account a custody payer credited) is sealed and the index holds no token of it, so its
token is made here, in memory, from the sealed value. The same token as the custody
sub-account's `virtual_account_hmac`, so the warehouse can join a line to its
sub-account; the clear number never leaves this function."""

from __future__ import annotations

from collections.abc import Callable

from paycore.recon.store_lines import account_context
from paycore.security.blind import BlindIndexer, normalize_or_none
from paycore.security.crypto import FieldCipher

AccountToken = Callable[[str, int, str], "str | None"]
"""(import id, line no, sealed account) -> the account's blind token, or None."""


def line_account_tokens(cipher: FieldCipher, indexer: BlindIndexer) -> AccountToken:
    def token(import_id: str, line_no: int, sealed: str) -> str | None:
        clear = cipher.decrypt(sealed, context=account_context(import_id, line_no))
        normalized = normalize_or_none("account_number", clear)
        return None if normalized is None else indexer.token("account_number", normalized)

    return token
