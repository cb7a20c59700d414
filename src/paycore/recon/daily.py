"""Closing each business day: fetch every online channel's statement, import it, run it.

A payment department reconciles every day. Once a business day (Asia/Shanghai) has ended
and a grace period has passed for the channel to publish its file, the flows worker
fetches the statement of each channel that serves one online, keeps the file under
`data_dir/recon/<channel>/` (encrypted with the recon's cipher as `<day>.statement.enc`:
it names payers and their accounts; see security/files.py), imports it and runs the day.
Everything here is idempotent: a statement is imported once (by its hash), a day's run
adds no break twice, and a day that has a run is not closed again; a channel whose file
is not there yet is asked again a few minutes later (RETRY_S). A host-to-host bank's files
(pain.002 reports, camt.053 statements) are taken from its inbound folder on every tick
(`inbox.py`); Alipay and WeChat bills are imported with `paycore recon import`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from paycore.channels.model import ChannelError
from paycore.channels.registry import ChannelRegistry
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.recon import store
from paycore.recon.h2h_service import H2hFiles
from paycore.recon.inbox import H2hInbox, InboxItem
from paycore.recon.model import business_date_of, day_start
from paycore.recon.service import Recon
from paycore.security import files

log = logging.getLogger(__name__)

GRACE_S = 2 * 3600
"""How long after midnight a channel's statement of the day before is expected."""
RETRY_S = 300
"""A statement that could not be fetched is asked for again this much later, not on every
tick: a channel that is down or slow gets no extra load from the daily close."""

STATEMENT_FORMAT_ATTRIBUTE = "statement_format"
"""A channel adapter that serves statements online names their format in this attribute."""
STATEMENT_FILE_KIND = "channel_statement"
"""The file kind a kept statement's data key is sealed under (security/files.py)."""


@dataclass(frozen=True, slots=True)
class Closed:
    channel: str
    business_date: date
    import_id: str
    run: dict[str, Any]


class DailyClose:
    def __init__(
        self,
        recon: Recon,
        channels: ChannelRegistry,
        *,
        data_dir: Path,
        clock: Clock,
        grace_s: int = GRACE_S,
        retry_s: int = RETRY_S,
        inbox: H2hInbox | None = None,
    ) -> None:
        self._recon = recon
        self.inbox = inbox or H2hInbox(
            recon=recon,
            channels=channels,
            files=H2hFiles(engine=recon.engine, payments=recon.payments, clock=clock),
        )
        self.collected: list[InboxItem] = []
        """What the last tick took from the host-to-host inboxes."""
        self._channels = channels
        self._dir = data_dir / "recon"
        self._clock = clock
        self._grace = timedelta(seconds=grace_s)
        self._retry = timedelta(seconds=retry_s)
        self._not_before: dict[tuple[str, date], datetime] = {}

    def online(self) -> dict[str, str]:
        """Channel name -> the format of the statements it serves online."""
        found = {}
        for name in self._channels.names():
            fmt = getattr(self._channels.get(name), STATEMENT_FORMAT_ATTRIBUTE, None)
            if isinstance(fmt, str):
                found[name] = fmt
        return found

    def close_day(self, channel: str, day: date) -> Closed:
        """Fetch, keep, import and run one channel's day (safe to repeat)."""
        fmt = self.online().get(channel)
        if fmt is None:
            raise Rejected("no_online_statement", f"{channel} does not serve statements online")
        if self._clock.now() < day_start(day + timedelta(days=1)):
            raise Rejected("business_day_not_ended", f"{day} has not ended yet")
        # Straight to the adapter, not through the registry: a file not published yet says
        # nothing about the channel's payments, so it must not count in its health.
        body = self._channels.get(channel).fetch_statement(day)
        cipher = self._recon.cipher
        path = keep_statement(self._dir / channel, f"{day.isoformat()}.statement", body, cipher)
        with readable_statement(path, cipher) as clear:
            imported, _new = self._recon.import_file(clear, format=fmt, source=channel)
        run = self._recon.run(source=channel, business_date=day)
        return Closed(channel, day, str(imported["id"]), run)

    def due(self) -> list[tuple[str, date]]:
        """(channel, yesterday) for every online channel whose yesterday has no run yet,
        once the grace period after midnight has passed."""
        now = self._clock.now()
        yesterday = business_date_of(now) - timedelta(days=1)
        if now < day_start(yesterday + timedelta(days=1)) + self._grace:
            return []
        with self._recon.engine.connect() as conn:
            return [
                (name, yesterday)
                for name in sorted(self.online())
                if not store.has_closing_run(conn, source=name, business_date=yesterday)
            ]

    def tick(self) -> list[Closed]:
        # First the files banks dropped: a camt.053 there closes its days like a fetched one.
        self.collected = self.inbox.tick()
        closed = []
        now = self._clock.now()
        for channel, day in self.due():
            if now < self._not_before.get((channel, day), now):
                continue
            try:
                closed.append(self.close_day(channel, day))
            except (ChannelError, Rejected) as error:  # not published yet, or refused
                self._not_before[(channel, day)] = now + self._retry
                log.warning("recon: %s's statement of %s not closed yet: %s", channel, day, error)
            else:
                self._not_before.pop((channel, day), None)
        return closed


def keep_statement(folder: Path, name: str, body: bytes, cipher: files.FieldSealer | None) -> Path:
    """Keep a fetched statement in `folder`, whole or not at all for whoever reads the
    folder: sealed as `<name>.enc` with a cipher, in clear without one (tests, tools)."""
    folder.mkdir(parents=True, exist_ok=True)
    if cipher is not None:
        path = folder / f"{name}{files.SEALED_SUFFIX}"
        files.seal_bytes(path, body, cipher, kind=STATEMENT_FILE_KIND)
        return path
    path = folder / name
    part = path.with_suffix(".part")
    part.write_bytes(body)
    part.replace(path)
    return path


@contextmanager
def readable_statement(path: Path, cipher: files.FieldSealer | None) -> Iterator[Path]:
    """A path the statement parsers can read: a kept clear file as it is, a sealed one as
    a private clear copy that is gone once the import is done."""
    if cipher is None or not files.is_sealed(path):
        yield path
        return
    with files.clear_copy(path, cipher, kind=STATEMENT_FILE_KIND) as clear:
        yield clear
