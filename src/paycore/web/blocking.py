"""The hop from the event loop to a thread for blocking work on the money path.

Starlette's `run_in_threadpool` goes through anyio's worker threads, which hand work over
with a pure-Python `queue.Queue` (a `threading.Condition`): measured under uvloop with 16
concurrent callers, ~50-65 us of CPU per hop against ~16-24 us for a standard
`ThreadPoolExecutor` (a C `SimpleQueue`), and the profile of a pay-in showed the hop at
~0.9 ms of the server's CPU. The lanes of `fastlane.py` make this hop once per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

THREADS_MAX = 40
"""As many as anyio's default limiter lets run at once, so the lanes put no more work on
the database pool than the routes they stand in for."""

_executor: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(THREADS_MAX, thread_name_prefix="paycore-request")
    return _executor


async def run_blocking(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`func(*args, **kwargs)` on a thread, with this task's context (the request id)."""
    context = contextvars.copy_context()
    call: Callable[[], T] = functools.partial(context.run, func, *args, **kwargs)
    loop = asyncio.get_running_loop()
    result: T = await loop.run_in_executor(_threads(), call)
    return result
