"""The bank's credentials and the merchant's, as a bank hands them over at onboarding.

Files in the data dir (see README): bank_private.pem, bank_public.pem (the bank's
Ed25519 pair), merchant_private.pem, merchant_public.pem (the default merchant's pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from paycore.channels import signing
from paycore.sandbox_bank.config import BankConfig


@dataclass(frozen=True, slots=True)
class KeyFiles:
    bank_private: Path
    bank_public: Path
    merchant_private: Path
    merchant_public: Path


def prepare_data_dir(config: BankConfig) -> tuple[KeyFiles, bool]:
    """Create the data dir and, on first start, the bank's and the merchant's key pairs.

    A real bank hands a merchant its credentials at onboarding; the sandbox writes the
    merchant's private key next to its own so paycore can read it. Returns the paths and
    whether keys were generated now.
    """
    directory = config.data_dir
    directory.mkdir(parents=True, exist_ok=True)
    files = KeyFiles(
        bank_private=directory / BankConfig.BANK_PRIVATE_KEY_FILE,
        bank_public=directory / BankConfig.BANK_PUBLIC_KEY_FILE,
        merchant_private=directory / BankConfig.MERCHANT_PRIVATE_KEY_FILE,
        merchant_public=directory / BankConfig.MERCHANT_PUBLIC_KEY_FILE,
    )
    generated = False
    for private, public in (
        (files.bank_private, files.bank_public),
        (files.merchant_private, files.merchant_public),
    ):
        if not private.exists():
            key = signing.generate_private_key()
            signing.save_private_key(key, private)
            signing.save_public_key(key.public_key(), public)
            generated = True
        elif not public.exists():
            signing.save_public_key(signing.load_private_key(private).public_key(), public)
    return files, generated
