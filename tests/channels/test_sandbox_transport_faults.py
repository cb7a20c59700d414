"""Each way a bank connection can fail maps to the right error, against real local sockets.

ChannelUnavailable (the route may fail over) only when the request cannot have reached the
bank; whenever it may have been written, ChannelTimeout (result unknown).
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from paycore.channels import bank_http
from paycore.channels.model import (
    ChannelTimeout,
    ChannelUnavailable,
    Operation,
    Payer,
    PayinRequest,
)
from paycore.channels.sandbox import SandboxChannel, load_sandbox_channel
from paycore.ids import new_id
from paycore.sandbox_bank.launcher import ensure_keys
from tests.channels.fault_server import Behaviour, FaultServer, answer, fault_server, reset

TIMEOUT_S = 0.3


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    ensure_keys(directory)
    return directory


def _channel(keys_dir: Path, url: str) -> SandboxChannel:
    return load_sandbox_channel("bank", url, keys_dir, timeout_s=TIMEOUT_S)


def _payin() -> PayinRequest:
    return PayinRequest(
        reference=new_id("pay"), amount_minor=100, currency="CNY",
        payer=Payer(card_number="4111111111111111", name="Li Lei"), description="rent",
        expires_at=datetime.now(UTC) + timedelta(minutes=30), notify_url="http://127.0.0.1:9/",
    )  # fmt: skip


def _pay_in_against(keys_dir: Path, server: FaultServer) -> None:
    with _channel(keys_dir, server.url) as channel:
        channel.pay_in(_payin())


# -- certainly not sent: the route may try another channel --------------------------------------


def test_a_refused_connection_is_unavailable(keys_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]

    with _channel(keys_dir, f"http://127.0.0.1:{closed_port}") as channel:
        with pytest.raises(ChannelUnavailable, match="not sent"):
            channel.pay_in(_payin())
        with pytest.raises(ChannelUnavailable, match="not sent"):
            channel.query(Operation.PAYIN, "pay_1")


def test_a_connection_never_accepted_in_time_is_unavailable(keys_dir: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepted: once its queue is full, SYNs go unanswered
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        fillers = [socket.create_connection(listener.getsockname(), timeout=0.2)]
        try:
            while True:  # fill the accept queue until a connect times out
                fillers.append(socket.create_connection(listener.getsockname(), timeout=0.2))
        except OSError:
            pass
        try:
            with _channel(keys_dir, url) as channel, pytest.raises(ChannelUnavailable):
                channel.pay_in(_payin())
        finally:
            for filler in fillers:
                filler.close()


def test_an_unknown_host_is_unavailable(keys_dir: Path) -> None:
    with (
        _channel(keys_dir, "http://bank.invalid:8100") as channel,
        pytest.raises(ChannelUnavailable, match="not sent"),
    ):
        channel.pay_in(_payin())


def test_a_503_is_unavailable(keys_dir: Path) -> None:
    def unavailable(server: FaultServer, connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        connection.sendall(answer(503))

    with fault_server(unavailable) as server, pytest.raises(ChannelUnavailable, match="503"):
        _pay_in_against(keys_dir, server)


# -- may have been sent: result unknown, never another channel ------------------------------


def _read_then(action: str) -> Behaviour:
    def behaviour(server: FaultServer, connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        if action == "reset":
            reset(connection)
        elif action == "hang":
            time.sleep(TIMEOUT_S * 4)
        elif action == "partial":
            connection.sendall(answer(200, b'{"status": "succeeded"}')[:-5])
        elif action == "garbage":
            connection.sendall(b"SMTP ready\r\n\r\n")
        # "close": leave the `with` in FaultServer, a FIN without an answer

    return behaviour


@pytest.mark.parametrize("action", ["reset", "close", "hang", "partial", "garbage"])
def test_a_request_that_reached_the_bank_without_a_whole_answer_is_a_timeout(
    keys_dir: Path, action: str
) -> None:
    with fault_server(_read_then(action)) as server:
        with pytest.raises(ChannelTimeout, match="no answer"):
            _pay_in_against(keys_dir, server)

        assert server.requests == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_gateway_errors_are_timeouts(keys_dir: Path, status: int) -> None:
    def failing(server: FaultServer, connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        connection.sendall(answer(status))

    with fault_server(failing) as server, pytest.raises(ChannelTimeout, match=str(status)):
        _pay_in_against(keys_dir, server)


def test_an_answer_not_signed_by_the_bank_is_not_trusted(keys_dir: Path) -> None:
    body = b'{"status": "succeeded", "reference": "x", "bank_txn_no": "BT1"}'

    def unsigned(server: FaultServer, connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        connection.sendall(answer(200, body))

    with (
        fault_server(unsigned) as server,
        _channel(keys_dir, server.url) as channel,
        pytest.raises(ChannelTimeout, match="unverifiable"),
    ):
        channel.query(Operation.PAYIN, "x")


# -- kept-alive connections ---------------------------------------------------------------------


def test_a_kept_alive_connection_that_dies_after_the_request_was_written_is_a_timeout(
    keys_dir: Path,
) -> None:
    def answers_once(server: FaultServer, connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        connection.sendall(answer(200))
        server.read_request(connection)
        reset(connection)

    with fault_server(answers_once) as server, _channel(keys_dir, server.url) as channel:
        channel.probe()
        with pytest.raises(ChannelTimeout):
            channel.pay_in(_payin())

        assert (server.connections, server.requests) == (1, 2)


def test_a_kept_alive_connection_the_bank_closed_while_idle_is_replaced_not_failed(
    keys_dir: Path,
) -> None:
    def closes_after_answering(server: FaultServer, connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        connection.sendall(answer(200))

    with fault_server(closes_after_answering) as server, _channel(keys_dir, server.url) as c:
        c.probe()
        time.sleep(0.05)  # the bank's FIN arrives while the connection is idle
        c.probe()

        assert (server.connections, server.requests) == (2, 2)


def test_a_connection_idle_past_the_keep_alive_expiry_is_not_reused(
    keys_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def keeps_answering(server: FaultServer, connection: socket.socket, _: int) -> None:
        while server.read_request(connection):
            connection.sendall(answer(200))

    with fault_server(keeps_answering) as server, _channel(keys_dir, server.url) as channel:
        channel.probe()
        channel.probe()
        monkeypatch.setattr(bank_http, "KEEPALIVE_EXPIRY_S", 0.0)
        time.sleep(0.01)
        channel.probe()

        assert (server.connections, server.requests) == (2, 3)


def test_a_channel_refuses_a_base_url_that_is_not_http(keys_dir: Path) -> None:
    with pytest.raises(ValueError, match="http"):
        _channel(keys_dir, "ftp://bank")


def test_a_base_url_path_prefixes_every_request(keys_dir: Path) -> None:
    seen: list[bytes] = []

    def records(server: FaultServer, connection: socket.socket, _: int) -> None:
        seen.append(server.read_request(connection).split(b"\r\n")[0])
        connection.sendall(answer(200))

    with fault_server(records) as server, _channel(keys_dir, server.url + "/bank/") as channel:
        channel.probe()

    assert seen == [b"GET /bank/health HTTP/1.1"]


def test_closed_connections_are_unavailable_afterwards(keys_dir: Path) -> None:
    channel = _channel(keys_dir, "http://127.0.0.1:9")
    channel.close_connections()

    with pytest.raises(ChannelUnavailable):
        channel.pay_in(_payin())
