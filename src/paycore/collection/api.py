"""HTTP routes of the collection slice."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["collection"])
