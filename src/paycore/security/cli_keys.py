"""`paycore security rotate-kek|rotate-dek|reencrypt|keys-status`.

Exit codes: 0 done, 2 refused (the reason is printed on stderr)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.security import store_keys
from paycore.security.crypto import CipherError, FieldCipher, load_field_cipher
from paycore.security.reencrypt import BatchDone, reencrypt_all, values_per_key

security_keys_app = typer.Typer(help="Key-encryption keys and data keys.", no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


@contextmanager
def bound_cipher() -> Iterator[FieldCipher]:
    settings = Settings.from_env()
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        yield load_field_cipher(settings).bind(engine)
    except CipherError as exc:
        err.print(f"[red]error[/red] keys: {exc}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


@security_keys_app.command("rotate-kek")
def rotate_kek(
    destroy_previous: Annotated[
        bool, typer.Option(help="Then destroy the KEKs that no longer wrap any data key.")
    ] = False,
) -> None:
    """Create a new KEK and rewrap every data key under it (the data is not touched)."""
    with bound_cipher() as cipher:
        kek_id, rewrapped = cipher.keyring.rotate_kek()
        destroyed = cipher.keyring.destroy_unused_keks() if destroy_previous else []
    out.print(f"KEK {kek_id} is active; {rewrapped} data keys rewrapped")
    for old in destroyed:
        out.print(f"KEK {old} destroyed")


@security_keys_app.command("rotate-dek")
def rotate_dek() -> None:
    """Create a new data key for new values; run `reencrypt` to move the old ones."""
    with bound_cipher() as cipher:
        dek_id = cipher.keyring.create_dek()
    out.print(f"data key {dek_id} is active (servers switch within 10 s)")


@security_keys_app.command("reencrypt")
def reencrypt(
    offline: Annotated[
        bool,
        typer.Option(
            help="No server runs: start at once instead of waiting for servers to "
            "switch to the new data key (up to 10 s)."
        ),
    ] = False,
) -> None:
    """Move every encrypted value to the active data key (resumable, online)."""
    with bound_cipher() as cipher, Progress(console=out) as progress:
        tasks: dict[str, TaskID] = {}

        def shown(done: BatchDone) -> None:
            if done.column not in tasks:
                tasks[done.column] = progress.add_task(done.column, total=None)
            progress.update(tasks[done.column], completed=done.rows_done)

        wait = (lambda _s: None) if offline else time.sleep
        moved = reencrypt_all(cipher.keyring.engine, cipher, on_batch=shown, wait=wait)
    out.print(f"{moved} values moved to data key {cipher.keyring.active().id}")


@security_keys_app.command("keys-status")
def keys_status() -> None:
    """KEKs, data keys, and how many stored values each key holds."""
    with bound_cipher() as cipher:
        engine = cipher.keyring.engine
        with engine.connect() as conn:
            deks = store_keys.all_data_keys(conn)
            live, shredded = store_keys.count_subject_keys(conn)
        counts = values_per_key(engine)
        keks = cipher.keyring.provider.kek_ids()
        active = cipher.keyring.active().id
    out.print(f"provider {cipher.keyring.provider.name}; KEKs: {', '.join(keks)} (newest active)")
    per_key: dict[str, int] = {}
    for column in counts.values():
        for key_id, n in column.items():
            per_key[key_id] = per_key.get(key_id, 0) + n
    table = Table("data key", "KEK", "created", "state", "values")
    for row in deks:
        state = "active" if row.id == active else ("destroyed" if row.destroyed_at else "retired")
        table.add_row(row.id, row.kek_id, str(row.created_at), state, str(per_key.pop(row.id, 0)))
    for key_id, n in sorted(per_key.items()):
        table.add_row(key_id, "-", "-", "static key", str(n))
    out.print(table)
    out.print(f"subject keys: {live} live, {shredded} shredded")
