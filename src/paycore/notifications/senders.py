"""How the relay POSTs a webhook: a pooled urllib3 client, or httpx when it must be httpx.

Measured on the 2-core development VM against a local receiver, 16 sending threads
(`bench/background.py`): one POST costs ~0.3 ms of CPU through urllib3 and ~0.75 ms through
httpx.Client (httpx.AsyncClient: ~2.7 ms). At one webhook per pay-in that difference is a
large part of the pay-in's whole CPU budget, so the relay sends with urllib3.

httpx stays for two cases: a test hands the relay an `httpx` transport (MockTransport),
and the environment names an HTTP(S) proxy, which httpx honours (HTTPS_PROXY, NO_PROXY,
...) exactly as the relay always did, and a bare urllib3 pool would silently bypass.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from typing import Protocol

import httpx
import urllib3

RESPONSE_BYTES_KEPT_MAX = 65_536
"""A receiver's answer body is read (up to this much) and dropped; past it the connection
is closed instead of read on: only the status code matters."""
HOSTS_POOLED_MAX = 100
"""Receivers (scheme, host, port) whose idle connections are kept; the least recent go."""


class Sender(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST `body`; the status code. Raises for anything that is not an answer."""
        ...

    def close(self) -> None: ...


class PooledSender:
    """urllib3: keep-alive pools per receiver, no retries, no redirects, timeouts."""

    def __init__(self, *, timeout_s: float, connections: int, user_agent: str) -> None:
        self._user_agent = user_agent
        self._pools = urllib3.PoolManager(
            num_pools=HOSTS_POOLED_MAX,
            maxsize=connections,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
            # The trust store httpx used (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), so a
            # receiver that verified before verifies now, slim containers included.
            ssl_context=httpx.create_ssl_context(),
        )

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        response = self._pools.request(
            "POST",
            url,
            body=body,
            headers={**headers, "User-Agent": self._user_agent},
            redirect=False,
            retries=False,
            preload_content=False,
            decode_content=False,
        )
        try:
            kept = response.read(RESPONSE_BYTES_KEPT_MAX + 1)
            if len(kept) > RESPONSE_BYTES_KEPT_MAX:
                response.close()  # not read to its end: the connection cannot be reused
            return response.status
        finally:
            response.release_conn()

    def close(self) -> None:
        self._pools.clear()


class HttpxSender:
    def __init__(
        self,
        *,
        timeout_s: float,
        connections: int,
        user_agent: str,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            follow_redirects=False,
            headers={"User-Agent": user_agent},
        )

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        return self._client.post(url, content=body, headers=dict(headers)).status_code

    def close(self) -> None:
        self._client.close()


def make_sender(
    *,
    timeout_s: float,
    connections: int,
    user_agent: str,
    transport: httpx.BaseTransport | None = None,
) -> Sender:
    """urllib3 unless a transport is given or the environment names a proxy."""
    if transport is not None or _proxies_configured():
        return HttpxSender(
            timeout_s=timeout_s, connections=connections, user_agent=user_agent,
            transport=transport,
        )  # fmt: skip
    return PooledSender(timeout_s=timeout_s, connections=connections, user_agent=user_agent)


def _proxies_configured() -> bool:
    proxies = urllib.request.getproxies()
    return any(scheme in proxies for scheme in ("http", "https", "all"))
