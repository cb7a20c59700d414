"""Fixtures for envelope encryption: key providers, a bound cipher, a private SoftHSM2
token in a temporary directory (the token needs only the `softhsm2` package)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete

from paycore.clock import ManualClock
from paycore.security import store_keys
from paycore.security.crypto import FieldCipher
from paycore.security.keys import FileKeyProvider, Pkcs11KeyProvider

SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN_LABEL = "paycore-test"
TOKEN_PIN = "1234"
STATIC_KEY = b"\x07" * 32


@pytest.fixture(name="key_tables")
def key_tables_fixture(engine: Engine) -> Engine:
    """The engine, with the key tables empty (not every run lists them for cleaning)."""
    with engine.begin() as conn:
        for table in (
            store_keys.reencrypt_progress,
            store_keys.subject_keys,
            store_keys.data_keys,
        ):
            conn.execute(delete(table))
    return engine


@pytest.fixture(name="file_provider")
def file_provider_fixture(tmp_path: Path) -> FileKeyProvider:
    return FileKeyProvider(tmp_path / "keys" / "kek.json")


@pytest.fixture(name="bound_cipher")
def bound_cipher_fixture(
    key_tables: Engine, file_provider: FileKeyProvider, clock: ManualClock
) -> FieldCipher:
    cipher = FieldCipher({"old1": STATIC_KEY}, "old1", provider=file_provider)
    return cipher.bind(key_tables, clock=clock)


@pytest.fixture(scope="session", name="softhsm_token")
def softhsm_token_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private token, initialised once per run (about 10 ms)."""
    util = shutil.which("softhsm2-util")
    if util is None or not Path(SOFTHSM_LIBRARY).exists():
        pytest.fail("SoftHSM2 is missing: apt-get install -y softhsm2")
    home = tmp_path_factory.mktemp("softhsm")
    (home / "tokens").mkdir()
    config = home / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\n")
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(config)
    pins = ("--so-pin", "9999", "--pin", TOKEN_PIN)
    subprocess.run(
        [util, "--init-token", "--free", "--label", TOKEN_LABEL, *pins],
        check=True,
        capture_output=True,
    )
    yield {"library": SOFTHSM_LIBRARY, "token_label": TOKEN_LABEL, "pin": TOKEN_PIN}
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before


@pytest.fixture(name="pkcs11_provider")
def pkcs11_provider_fixture(softhsm_token: dict[str, str]) -> Iterator[Pkcs11KeyProvider]:
    provider = Pkcs11KeyProvider(**softhsm_token)
    yield provider
    provider.close()
