"""HTTP routes of the rewards slice: budgets, funding, batches and their result files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import Field, ValidationError
from starlette.concurrency import run_in_threadpool

from paycore import limits, strict_json
from paycore.errors import Rejected
from paycore.rewards.files import BatchFile, csv_file, json_file
from paycore.rewards.model import (
    BATCH_FILE_BYTES_MAX,
    BATCH_ROWS_MAX,
    ROWS_PAGE_DEFAULT,
    ROWS_PAGE_MAX,
)
from paycore.rewards.service import Rewards
from paycore.rewards.views import batch_view, budget_view, row_view
from paycore.security.api import merchant_of, require
from paycore.security.model import Principal
from paycore.web.bodies import JsonRoute, StrictBody
from paycore.web.openapi import raw_body

router = APIRouter(prefix="/v1", tags=["rewards"], route_class=JsonRoute)


async def get_rewards(request: Request) -> Rewards:
    rewards: Rewards = request.app.state.runtime.rewards
    return rewards


RewardsDep = Annotated[Rewards, Depends(get_rewards)]
Reader = Annotated[Principal, Depends(require("payments:read"))]
Writer = Annotated[Principal, Depends(require("payments:write"))]
Name = Annotated[str, Field(min_length=1, max_length=64)]
# Bounds are the service's rule (`invalid_limit`), shown in the schema.
Limit = Annotated[
    int, Field(strict=True, json_schema_extra={"minimum": 1, "maximum": limits.PAYMENT_AMOUNT_MAX})
]


class BudgetIn(StrictBody):
    budget_id: Name
    name: Annotated[str, Field(min_length=1, max_length=128)]
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    row_amount_max: Limit
    recipient_total_max: Limit
    merchant_id: str | None = None


class FundIn(StrictBody):
    amount: Annotated[int, Field(strict=True, gt=0)]
    reference: Name
    merchant_id: str | None = None


class BatchIn(StrictBody):
    budget_id: Name
    batch_id: Name
    # Rows are checked one by one by the batch rules, so that one bad row is reported
    # with its reason instead of refusing the whole request.
    rows: Annotated[list[Any], Field(max_length=BATCH_ROWS_MAX)]
    merchant_id: str | None = None


_BATCH_SCHEMA = BatchIn.model_json_schema()


@router.post("/reward-budgets", status_code=201)
async def create_budget(body: BudgetIn, rewards: RewardsDep, principal: Writer) -> dict[str, Any]:
    """Create a budget (again with the same terms: no change, other terms: 409)."""
    budget = await run_in_threadpool(
        rewards.create_budget,
        merchant_of(principal, body.merchant_id),
        body.budget_id,
        name=body.name,
        currency=body.currency,
        row_amount_max=body.row_amount_max,
        recipient_total_max=body.recipient_total_max,
    )
    return budget_view(budget)


@router.get("/reward-budgets")
def list_budgets(
    rewards: RewardsDep, principal: Reader, merchant_id: str | None = None
) -> dict[str, Any]:
    found = rewards.list_budgets(merchant_of(principal, merchant_id))
    return {"data": [budget_view(b) for b in found]}


@router.get("/reward-budgets/{budget_id}")
def get_budget(
    budget_id: str, rewards: RewardsDep, principal: Reader, merchant_id: str | None = None
) -> dict[str, Any]:
    return budget_view(rewards.get_budget(merchant_of(principal, merchant_id), budget_id))


@router.post("/reward-budgets/{budget_id}/fund", status_code=201)
async def fund_budget(
    budget_id: str, body: FundIn, rewards: RewardsDep, principal: Writer
) -> dict[str, Any]:
    """Merchant wallet → budget; idempotent by `reference`."""
    merchant = merchant_of(principal, body.merchant_id)
    transfer_id = await run_in_threadpool(
        rewards.fund, merchant, budget_id, amount=body.amount, reference=body.reference
    )
    budget = await run_in_threadpool(rewards.get_budget, merchant, budget_id)
    return {"transfer_id": transfer_id, "budget": budget_view(budget)}


@router.post(
    "/reward-batches",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                **raw_body("text/csv")["requestBody"]["content"],
                **raw_body("application/json", schema=_BATCH_SCHEMA)["requestBody"]["content"],
            },
        }
    },
)
async def pay_batch(
    request: Request,
    rewards: RewardsDep,
    principal: Writer,
    budget: Annotated[str | None, Query(max_length=64)] = None,
    batch: Annotated[str | None, Query(max_length=64)] = None,
    merchant_id: str | None = None,
) -> dict[str, Any]:
    """Run a batch: JSON `{budget_id, batch_id, rows: [...]}`, or a CSV body
    (`Content-Type: text/csv`) with `?budget=&batch=`. The same batch again retries only
    its failed retryable rows; another file under the same batch id is `batch_reused`."""
    content = await _read_body(request)
    if request.headers.get("content-type", "").split(";")[0].strip() == "text/csv":
        if not budget or not batch:
            raise Rejected("missing_field", "a CSV batch names ?budget= and ?batch=")
        source: BatchFile = csv_file(content)
        budget_id, batch_id = budget, batch
    else:
        body = _batch_body(content)
        source, budget_id, batch_id = json_file(body.rows), body.budget_id, body.batch_id
        merchant_id = body.merchant_id or merchant_id
    summary = await run_in_threadpool(
        rewards.pay,
        merchant_of(principal, merchant_id),
        budget_id=budget_id,
        batch_id=batch_id,
        source=source,
    )
    return batch_view(summary)


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BATCH_FILE_BYTES_MAX:
            raise Rejected("batch_too_large", f"a batch has at most {BATCH_FILE_BYTES_MAX} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _batch_body(content: bytes) -> BatchIn:
    raw = strict_json.loads(content)  # malformed_json, naming the problem
    try:
        return BatchIn.model_validate(raw)
    except ValidationError as exc:
        # The same problem codes as any other JSON body (unknown_field, missing_field, ...).
        raise RequestValidationError(exc.errors()) from exc


@router.get("/reward-batches/{batch_id}")
def get_batch(
    batch_id: str, rewards: RewardsDep, principal: Reader, merchant_id: str | None = None
) -> dict[str, Any]:
    return batch_view(rewards.summary(merchant_of(principal, merchant_id), batch_id))


@router.get("/reward-batches/{batch_id}/rows")
def batch_rows(
    batch_id: str,
    rewards: RewardsDep,
    principal: Reader,
    merchant_id: str | None = None,
    after: Annotated[int, Query(ge=0, le=limits.INTEGER_COLUMN_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=ROWS_PAGE_MAX)] = ROWS_PAGE_DEFAULT,
    status: str | None = None,
) -> dict[str, Any]:
    """Rows in file order; `after` is the previous page's `next_cursor` (a position)."""
    found = rewards.rows(
        merchant_of(principal, merchant_id), batch_id, after=after, limit=limit, status=status
    )
    next_cursor = found[-1].position if len(found) == limit else None
    return {"data": [row_view(r) for r in found], "next_cursor": next_cursor}


@router.get("/reward-batches/{batch_id}/result.csv")
def batch_result(
    batch_id: str, rewards: RewardsDep, principal: Reader, merchant_id: str | None = None
) -> StreamingResponse:
    merchant = merchant_of(principal, merchant_id)
    rewards.summary(merchant, batch_id)  # 404 before the stream starts
    lines: Iterator[str] = rewards.result_csv(merchant, batch_id)
    return StreamingResponse(
        lines,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{batch_id}-result.csv"'},
    )
