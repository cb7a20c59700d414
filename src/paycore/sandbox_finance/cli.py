"""`paycore sandbox-finance`: run the sandbox finance receiver as its own process
(registered by paycore.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from paycore import strict_json
from paycore.errors import Rejected
from paycore.sandbox_finance.keys import prepare_secret
from paycore.sandbox_finance.model import DEFAULT_DATA_DIR, DEFAULT_PORT, FaultMix
from paycore.sandbox_finance.service import ReceiverConfig


def _faults(text: str | None) -> FaultMix:
    if not text:
        return FaultMix()
    try:
        changes: Any = strict_json.loads(text)
    except strict_json.MalformedJson as exc:
        raise Rejected("invalid_voucher", f"faults is not JSON: {exc.detail}") from exc
    if not isinstance(changes, dict):
        raise Rejected("invalid_voucher", "faults must be a JSON object")
    return FaultMix().updated(changes)


def serve_finance(
    port: Annotated[int, typer.Option(help="HTTP port")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    data_dir: Annotated[Path, typer.Option(help="push_secret and finance.db live here")] = Path(
        DEFAULT_DATA_DIR
    ),
    seed: Annotated[int | None, typer.Option(help="seed of the fault mix's RNG")] = None,
    faults: Annotated[
        str | None,
        typer.Option(help="fault mix as JSON, e.g. '{\"down_rate\": 1}' or '{\"slow_rate\": 0.2}'"),
    ] = None,
) -> None:
    """Run the sandbox finance system: books pushed vouchers once by id, and can be down,
    slow, fail after storing, or acknowledge twice (PUT /admin/faults at runtime).

    On first start it generates the push secret in the data dir; paycore signs with it.
    """
    import uvicorn

    from paycore.sandbox_finance.api import create_finance_app

    try:
        mix = _faults(faults)
    except Rejected as exc:
        typer.echo(f"error {exc.code}: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    config = ReceiverConfig(data_dir=data_dir, host=host, port=port, seed=seed, faults=mix)
    secret, generated = prepare_secret(data_dir)
    typer.echo(
        f"sandbox finance {'generated' if generated else 'uses'} its secret in {data_dir}:\n"
        f"  push secret   {secret}   (paycore signs pushes with it)\n"
        f"  database      {config.database_path}\n"
        f"listening on http://{host}:{port}  (admin endpoints under /admin)"
    )
    uvicorn.run(
        create_finance_app(config), host=host, port=port, log_level="warning",
        access_log=False, ws="none", timeout_graceful_shutdown=2,
    )  # fmt: skip
