"""`paycore security subject-export|subject-erase`: data-subject requests from a shell.

The operator acts as a platform key with `admin` and `pii:reveal` (`cli:<user>` in the
audit log); a reason is required, as on the API. `subject-export` writes the document to
a new file (owner-only, never overwritten: JSON, keys sorted, objects in id order) and
prints only counts; nothing personal is printed. Exit codes: 0 done, 1 nothing found,
2 refused (the code and reason on stderr).

A number given as an argument shows in `ps` and the shell's history: keep such shells'
history off.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from paycore.clock import SystemClock
from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.security.blind import load_blind_indexer
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import load_field_cipher
from paycore.security.model import Principal, Scope
from paycore.security.reveal import AuditLog
from paycore.security.subjects import Subjects

subjects_app = typer.Typer(help="Data-subject requests: export or erase a payer's data.")
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

CardOption = Annotated[str | None, typer.Option(help="a bank card number")]
IdOption = Annotated[str | None, typer.Option(help="a resident ID number")]
PhoneOption = Annotated[str | None, typer.Option(help="a mainland mobile number")]
AccountOption = Annotated[str | None, typer.Option(help="a bank account number")]
ReasonOption = Annotated[str, typer.Option(help="why: 10-500 characters, audited")]


@contextmanager
def open_subjects() -> Iterator[Subjects]:
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, pool_size=2)
    clock = SystemClock()
    indexer = load_blind_indexer(str(settings.blind_index_key), Path(settings.data_dir))
    cipher = load_field_cipher(settings).bind(engine, clock=clock)
    try:
        yield Subjects(
            engine,
            cipher=cipher,
            blind=BlindIndex(engine, indexer, clock),
            audit=AuditLog(engine, clock, cipher=cipher),
        )
    except Rejected as exc:
        err.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(1 if exc.code == "subject_not_found" else 2) from exc
    finally:
        engine.dispose()


def operator() -> Principal:
    """Whoever runs the command on the platform's host: a platform key's rights."""
    return Principal(
        key_id=f"cli:{getpass.getuser()}"[:64],
        merchant_id=None,
        scopes=frozenset({Scope.ADMIN, Scope.PII_REVEAL}),
    )


@subjects_app.command("subject-export")
def subject_export(
    output: Annotated[Path, typer.Option("--out", help="a new file for the JSON document")],
    reason: ReasonOption,
    card_number: CardOption = None,
    id_number: IdOption = None,
    phone: PhoneOption = None,
    account_number: AccountOption = None,
) -> None:
    """Everything paycore holds on the payer with this number, to a new file."""
    numbers = _numbers(card_number, id_number, phone, account_number)
    with open_subjects() as subjects:
        document = subjects.export(
            operator(), numbers=numbers, reason=reason, request_id=_request_id()
        )
    _write_private(output, json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True))
    counts = ", ".join(
        f"{len(document[part])} {part.replace('_', ' ')}"
        for part in ("payment_orders", "collection_plans", "custody_receipts", "recon_lines")
    )
    out.print(f"wrote {output}: {counts}; audit record {document['audit_seq']}")


@subjects_app.command("subject-erase")
def subject_erase(
    reason: ReasonOption,
    card_number: CardOption = None,
    id_number: IdOption = None,
    phone: PhoneOption = None,
    account_number: AccountOption = None,
) -> None:
    """Crypto-shred the payer's data; amounts, statuses and the ledger stay."""
    numbers = _numbers(card_number, id_number, phone, account_number)
    with open_subjects() as subjects:
        erased = subjects.erase(
            operator(), numbers=numbers, reason=reason, request_id=_request_id()
        )
    out.print(
        f"erased {erased.objects} object(s): {erased.subjects_shredded} subject key(s) "
        f"destroyed, {erased.index_rows_removed} index row(s) removed; "
        f"audit record {erased.audit_seq}"
    )


def _numbers(
    card_number: str | None, id_number: str | None, phone: str | None, account_number: str | None
) -> dict[str, str | None]:
    return {
        "card_number": card_number,
        "id_number": id_number,
        "phone": phone,
        "account_number": account_number,
    }


def _request_id() -> str:
    return f"cli-{uuid.uuid4().hex}"


def _write_private(path: Path, text: str) -> None:
    """Owner-only, and never over an existing file (an export is personal data)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        err.print(f"[red]error[/red] {path} exists: give a new file")
        raise typer.Exit(2) from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text + "\n")
