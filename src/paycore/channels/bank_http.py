"""One bank's HTTP connections: a keep-alive urllib3 pool, and what its failures mean.

Measured against a local sandbox bank (/tmp/bankclient/cpu_per_call.py, one thread): a
signed pay-in cost ~0.8 ms of client CPU through httpx's transport and ~0.3 ms through
this pool; httpcore's locks, h11's state machine and httpx's request/response models were
most of it, and a bank needs none of them (no cookies, redirects, proxies or HTTP/2).

Whether a failed exchange may have reached the bank decides between failing over and
"result unknown", so every error is sorted here, once:

| what failed                                              | raises                    |
|----------------------------------------------------------|---------------------------|
| TCP connect refused or timed out, DNS, TLS certificate   | ChannelUnavailable        |
| no free connection within the timeout, pool closed       | ChannelUnavailable        |
| anything after the connection was up: read timeout,      | ChannelTimeout            |
| reset, closed mid-answer (a reused keep-alive connection |                           |
| the bank had just closed included), a short body         |                           |

urllib3 with `retries=False` re-raises the first error as is: connect failures as
`ConnectTimeoutError` / `NewConnectionError` (raised before a byte is written), the rest
as `ReadTimeoutError` or `ProtocolError` (the request may have been written).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    EmptyPoolError,
    HTTPError,
    SSLError,
)

from paycore.channels.model import ChannelTimeout, ChannelUnavailable

CONNECT_TIMEOUT_S_MAX = 1.0
"""A bank that does not accept a connection within a second is down for our purposes."""
CONNECTIONS_MAX = 256
KEEPALIVE_EXPIRY_S = 4.0
"""Idle connections are dropped before the bank's 5 s keep-alive closes them: a request
racing that close would fail after sending and read as "result unknown" although the bank
never saw it (measured with httpx: 2 in 800 without an expiry)."""
_IDLE_SINCE = "_paycore_idle_since"


@dataclass(frozen=True, slots=True)
class BankAnswer:
    """A whole HTTP answer: status, headers (case-insensitive) and the body, read to its end."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class _IdleExpiringPool(HTTPConnectionPool):
    """urllib3's pool, plus httpx's keep-alive expiry (urllib3 only drops connections the
    peer has already closed)."""

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            setattr(conn, _IDLE_SINCE, time.monotonic())
        super()._put_conn(conn)

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        idle_since = getattr(conn, _IDLE_SINCE, None)
        if idle_since is not None and time.monotonic() - idle_since > KEEPALIVE_EXPIRY_S:
            conn.close()  # reconnects on its next request
        return conn


class _IdleExpiringHttpsPool(_IdleExpiringPool, HTTPSConnectionPool):
    pass


class BankConnections:
    """Keep-alive connections to one base URL; thread-safe. `exchange` sends one request
    and reads the whole answer, or raises ChannelUnavailable / ChannelTimeout."""

    def __init__(self, channel: str, base_url: str, timeout_s: float) -> None:
        self._channel = channel
        url = urllib3.util.parse_url(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{base_url}: the bank's URL must be http(s)://host")
        self._path_prefix = (url.path or "").rstrip("/")
        self._pool_timeout_s = timeout_s
        options: dict[str, Any] = {
            "maxsize": CONNECTIONS_MAX,
            "block": True,  # at most CONNECTIONS_MAX at once; a wait past the timeout: not sent
            "retries": False,
            "timeout": urllib3.Timeout(
                connect=min(timeout_s, CONNECT_TIMEOUT_S_MAX), read=timeout_s
            ),
        }
        if url.scheme == "https":
            # The trust store httpx used (certifi, or SSL_CERT_FILE / SSL_CERT_DIR).
            self._pool: HTTPConnectionPool = _IdleExpiringHttpsPool(
                url.host, url.port, ssl_context=httpx.create_ssl_context(), **options
            )
        else:
            self._pool = _IdleExpiringPool(url.host, url.port, **options)

    def exchange(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str]
    ) -> BankAnswer:
        try:
            response = self._pool.urlopen(
                method,
                self._path_prefix + path,
                body=body or None,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                # Annotated int, handed to queue.get(timeout=...), which takes seconds.
                pool_timeout=self._pool_timeout_s,  # type: ignore[arg-type]
                preload_content=True,  # the whole body, then the connection goes back
            )
        except HTTPError as exc:
            raise transport_error(self._channel, exc) from exc
        except OSError as exc:  # not wrapped by urllib3: cannot tell, so unknown
            raise ChannelTimeout(self._channel, f"no answer: {type(exc).__name__}") from exc
        return BankAnswer(response.status, response.headers, response.data)

    def close(self) -> None:
        self._pool.close()


def transport_error(channel: str, exc: HTTPError) -> ChannelUnavailable | ChannelTimeout:
    """Nothing reached the bank (unavailable) or the answer did not reach us (timeout)."""
    if isinstance(exc, ConnectTimeoutError | EmptyPoolError | ClosedPoolError) or (
        isinstance(exc, SSLError) and _certificate_refused(exc)
    ):
        return ChannelUnavailable(channel, f"not sent: {type(exc).__name__}")
    return ChannelTimeout(channel, f"no answer: {type(exc).__name__}")


def _certificate_refused(exc: SSLError) -> bool:
    """A certificate is refused during the handshake, before any request byte."""
    causes = [*exc.args, exc.__cause__, exc.__context__]
    return any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes)
