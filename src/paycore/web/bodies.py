"""The base of every JSON request body: a field the API does not know is refused
(`unknown_field`), never silently dropped, so a typo cannot change what a request does."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
