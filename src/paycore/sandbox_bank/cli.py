"""`paycore sandbox-bank`: run the sandbox bank as its own process (registered by paycore.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from paycore.errors import Rejected
from paycore.sandbox_bank.config import BankConfig, faults_from_json
from paycore.sandbox_bank.keys import prepare_data_dir
from paycore.sandbox_bank.model import DEFAULT_DATA_DIR, DEFAULT_PORT


def serve_bank(
    port: Annotated[int, typer.Option(help="HTTP port")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    data_dir: Annotated[
        Path, typer.Option(help="keys, bank.db and an optional bank.json live here")
    ] = Path(DEFAULT_DATA_DIR),
    seed: Annotated[int | None, typer.Option(help="seed of the failure mix's RNG")] = None,
    faults: Annotated[
        str | None, typer.Option(help="failure mix as JSON, e.g. '{\"decline_rate\": 0.05}'")
    ] = None,
) -> None:
    """Run the sandbox bank: a separate process that behaves (and fails) like a real bank.

    On first start it generates the bank's and the merchant's key pairs in the data dir;
    paycore reads merchant_private.pem and bank_public.pem from there.
    """
    import uvicorn

    from paycore.sandbox_bank.api import create_bank_app

    try:
        overrides = faults_from_json(faults) if faults else None
        config = BankConfig.load(data_dir, port=port, host=host, seed=seed, faults=overrides)
    except Rejected as exc:
        typer.echo(f"error {exc.code}: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    files, generated = prepare_data_dir(config)
    typer.echo(
        f"sandbox bank {'generated' if generated else 'uses'} keys in {config.data_dir}:\n"
        f"  merchant id         {config.merchant_id}\n"
        f"  merchant private    {files.merchant_private}   (paycore signs requests with it)\n"
        f"  bank public         {files.bank_public}   (paycore verifies the bank with it)\n"
        f"  database            {config.database_path}\n"
        f"listening on http://{config.host}:{config.port}  (admin endpoints under /admin)"
    )
    uvicorn.run(
        create_bank_app(config), host=config.host, port=config.port, log_level="warning",
        access_log=False, ws="none", timeout_graceful_shutdown=2,
    )  # fmt: skip
