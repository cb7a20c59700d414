"""How request bodies are read. Every router is an `APIRouter(route_class=JsonRoute)`, so
every JSON body is parsed by `strict_json` (duplicate keys, bad UTF-8, deep nesting and
NaN are `malformed_json`, never a guess or a 500), and every body model is a StrictBody:
a field the API does not know is refused (`unknown_field`), never silently dropped, so a
typo cannot change what a request does; text that cannot be stored is `invalid_text`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError
from starlette.types import Scope

from paycore import strict_json
from paycore.clock import date_problem
from paycore.errors import Rejected
from paycore.text import first_text_problem, text_problem


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """NUL and other control characters in any text field, at any depth (metadata
        too), are refused: PostgreSQL cannot store NUL, and the rest forge log lines. A
        date or instant outside the business years is refused before any arithmetic."""
        if isinstance(value, date):
            problem = date_problem(value)
            if problem is not None:
                raise PydanticCustomError("date_out_of_range", problem)
            return value
        problem = first_text_problem(value)
        if problem is not None:
            raise PydanticCustomError("invalid_text", problem)
        return value


def _query_date(value: date) -> date:
    problem = date_problem(value)
    if problem is not None:
        raise PydanticCustomError("date_out_of_range", problem)
    return value


BusinessDate = Annotated[date, AfterValidator(_query_date)]
"""A date in a query or path parameter (StrictBody checks the dates of bodies)."""
BusinessInstant = Annotated[datetime, AfterValidator(_query_date)]


class JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = strict_json.loads(body)
            except strict_json.MalformedJson as exc:
                # FastAPI turns a JSONDecodeError into a validation error of type
                # `json_invalid`, which problems.py answers as `malformed_json`.
                raise json.JSONDecodeError(exc.detail, "", 0) from exc
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            check_target(request.scope)
            return await handler(JsonRequest(request.scope, request.receive))

        return strict_handler


# A control character percent-encoded in a query (C0, DEL, or C1 as UTF-8), or sent raw.
_QUERY_CONTROL = re.compile(rb"%(?:[01][0-9A-Fa-f]|7[Ff]|[Cc]2%[89][0-9A-Fa-f])|[\x00-\x1f\x7f]")


def check_target(scope: Scope) -> None:
    """Ids and filters in the path and query reach SQL as text, so they obey the rule of
    stored text (PostgreSQL refuses a NUL in a parameter: a 500 otherwise)."""
    problem = text_problem(scope["path"])
    if problem is not None:
        raise Rejected("invalid_text", f"path: {problem}")
    query = scope.get("query_string", b"")
    if query and _QUERY_CONTROL.search(query):
        raise Rejected("invalid_text", "query: a control character is not text")
