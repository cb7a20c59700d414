"""`paycore notifications list|show|resend|stats` against the test database."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine
from typer.testing import CliRunner

from paycore.cli import app
from paycore.notifications import cli as notifications_cli
from paycore.notifications.model import DeliveryStatus
from paycore.notifications.relay import WebhookRelay
from paycore.notifications.service import Notifications
from paycore.platform.db import make_engine
from tests.notifications.conftest import FIELD_KEY, Receiver

Emit = Callable[..., list[str]]


@pytest.fixture
def paycore(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run `paycore ARGS...`; every engine the CLI opens is disposed after the test."""
    engines: list[Engine] = []

    def recording_make_engine(url: str, **kwargs: Any) -> Engine:
        engine = make_engine(url, **kwargs)
        engines.append(engine)
        return engine

    monkeypatch.setattr(notifications_cli, "make_engine", recording_make_engine)
    runner = CliRunner()

    def run(*args: str) -> Result:
        env = {
            "PAYCORE_DATABASE_URL": database_url,
            "PAYCORE_FIELD_KEYS": "notif1:" + base64.b64encode(FIELD_KEY).decode(),
        }
        return runner.invoke(app, list(args), env=env)

    yield run
    for engine in engines:
        engine.dispose()


def test_list_shows_events_with_their_delivery_state_and_pages(
    emit: Emit, paycore: Any, relay: WebhookRelay, receiver: Receiver
) -> None:
    ids = emit(3)
    receiver.answers = [500]
    relay.run_once()

    first = paycore("notifications", "list", "--limit", "2")
    failed_once = paycore("notifications", "list", "--merchant", "mer_a", "--status", "pending")

    assert first.exit_code == 0, first.output
    assert ids[2] in first.output and ids[1] in first.output and ids[0] not in first.output
    assert f"--after {ids[1]}" in first.output
    assert failed_once.exit_code == 0
    assert "500" in failed_once.output
    assert sum(i in failed_once.output for i in ids) == 1


def test_show_prints_the_event_and_its_attempts(
    emit: Emit, paycore: Any, relay: WebhookRelay
) -> None:
    [event_id] = emit(1)
    relay.run_once()

    shown = paycore("notifications", "show", event_id)

    assert shown.exit_code == 0, shown.output
    assert "delivered" in shown.output
    assert "https://merchant.example/webhooks" in shown.output


def test_resend_schedules_the_event_and_an_unknown_one_exits_2(
    emit: Emit, paycore: Any, relay: WebhookRelay, notifications: Notifications
) -> None:
    [event_id] = emit(1)
    relay.run_once()

    resent = paycore("notifications", "resend", event_id)
    unknown = paycore("notifications", "resend", "evt_nope")

    assert resent.exit_code == 0, resent.output
    delivery = notifications.get_event(event_id, merchant_id=None).delivery
    assert delivery.status is DeliveryStatus.PENDING
    assert unknown.exit_code == 2
    assert "event_not_found" in unknown.output


def test_stats_show_the_backlog(emit: Emit, paycore: Any) -> None:
    emit(2)

    shown = paycore("notifications", "stats")

    assert shown.exit_code == 0, shown.output
    assert "pending" in shown.output
