"""Use cases of the bills slice: statements derived from the ledger journal."""

from __future__ import annotations

from sqlalchemy import Engine

from paycore.clock import Clock


class Bills:
    """Statements, their proof and month close. Reads go to `read_engine` (the bounded
    reports pool, possibly a replica); day rollups and seals are written to `engine`."""

    def __init__(self, engine: Engine, read_engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.read_engine = read_engine
        self.clock = clock
