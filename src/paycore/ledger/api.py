"""HTTP routes of the ledger: parse, call the service, render."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import AfterValidator, BaseModel, Field, JsonValue
from pydantic_core import PydanticCustomError

from paycore import limits
from paycore.errors import Rejected
from paycore.ledger.model import (
    RESULTS,
    Account,
    AccountFlags,
    AccountOrigin,
    AccountStatus,
    Caller,
    Entry,
    Transfer,
    TransferFlags,
    TransferRequest,
    flag_names,
    metadata_too_large,
)
from paycore.ledger.service import AccountRequest, Ledger
from paycore.money import currency, is_known_currency
from paycore.security.api import owner_filter, require, require_platform, require_visible
from paycore.security.model import Principal, Scope
from paycore.web.bodies import BusinessInstant, JsonRoute, StrictBody
from paycore.web.fastlane import Lane, LaneRequest

router = APIRouter(prefix="/v1", tags=["ledger"], route_class=JsonRoute)


async def get_ledger(request: Request) -> Ledger:
    # async: a plain def would send every request through the thread pool just for this.
    ledger: Ledger = request.app.state.ledger
    return ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]
Reader = Annotated[Principal, Depends(require(Scope.LEDGER_READ))]
Writer = Annotated[Principal, Depends(require(Scope.LEDGER_WRITE))]


# -- who may touch which account ------------------------------------------------------------
# A platform key sees the whole ledger; a merchant key only accounts it owns: any other
# account answers 404 account_not_found, exactly like a missing one. Money moves only
# between accounts opened through this API (a merchant's: its own); the flows' accounts and
# holds are theirs alone. The rules live in the service (`Caller`), so the CLI and HTTP agree.


def _caller(principal: Principal) -> Caller:
    return Caller(merchant_id=principal.merchant_id)


def _check_account_visible(ledger: Ledger, principal: Principal, account_id: str) -> None:
    if principal.merchant_id is None:
        return
    account = ledger.get_account(account_id)
    require_visible(
        principal,
        account.owner_id if account else None,
        code="account_not_found",
        detail=f"no account {account_id}",
    )


# -- validators: each failure carries the stable code the problem document shows ----------


def _currency(value: str) -> str:
    if not is_known_currency(value):
        raise PydanticCustomError(
            "unknown_currency", "{value} is not an ISO 4217 code", {"value": value}
        )
    return value


def _metadata(value: dict[str, Any]) -> dict[str, Any]:
    if metadata_too_large(value):
        raise PydanticCustomError(
            "metadata_too_large",
            "metadata is over {limit} bytes",
            {"limit": limits.METADATA_BYTES_MAX},
        )
    return value


def _flag_names(kind: Any) -> list[str]:
    return sorted(f.name.lower() for f in kind if f.value and f.name)


def _flag_validator(kind: Any) -> Any:
    def check(names: list[str]) -> list[str]:
        known = _flag_names(kind)
        for name in names:
            if name not in known:
                raise PydanticCustomError(
                    "unknown_flag",
                    "{name} is not one of {known}",
                    {"name": name, "known": known},
                )
        return names

    return check


def _flag_list(kind: Any) -> Any:
    """A list of flag names; the document lists the names (`unknown_flag` otherwise)."""
    names: list[JsonValue] = list(_flag_names(kind))
    return Field(json_schema_extra={"items": {"type": "string", "enum": names}})


CurrencyCode = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(_currency)]
Metadata = Annotated[dict[str, Any], AfterValidator(_metadata)]
Amount = Annotated[int, Field(strict=True, gt=0, le=limits.AMOUNT_MAX)]
Code = Annotated[int, Field(strict=True, ge=0, le=limits.CODE_MAX)]
Id = Annotated[str, Field(min_length=1, max_length=limits.ID_LENGTH_MAX)]


AccountFlagNames = Annotated[list[str], AfterValidator(_flag_validator(AccountFlags))]
TransferFlagNames = Annotated[list[str], AfterValidator(_flag_validator(TransferFlags))]


class AccountIn(StrictBody):
    id: Id | None = None
    currency: CurrencyCode
    code: Code = 0
    owner_id: Id | None = None
    flags: Annotated[
        list[str], AfterValidator(_flag_validator(AccountFlags)), _flag_list(AccountFlags)
    ] = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)


class AccountOut(BaseModel):
    id: str
    currency: str
    currency_exponent: int  # minor units per major unit = 10 ** currency_exponent
    code: int
    owner_id: str | None
    origin: Annotated[
        str,
        Field(
            description="`api`: opened through this API; `flow`: a paycore flow's, which no "
            "API key moves (see the ledger README)",
            json_schema_extra={"enum": [o.value for o in AccountOrigin]},
        ),
    ]
    flags: list[str]
    status: str
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    available: int
    metadata: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, a: Account) -> AccountOut:
        return cls(
            id=a.id,
            currency=a.currency,
            currency_exponent=currency(a.currency).exponent,
            code=a.code,
            owner_id=a.owner_id,
            origin=a.origin.value,
            flags=flag_names(AccountFlags, a.flags),
            status=a.status.value,
            debits_pending=a.debits_pending,
            debits_posted=a.debits_posted,
            credits_pending=a.credits_pending,
            credits_posted=a.credits_posted,
            available=a.available,
            metadata=dict(a.metadata),
            created_at=a.created_at,
        )


class AccountPageOut(BaseModel):
    accounts: list[AccountOut]
    next_cursor: str | None


class AccountStatusIn(StrictBody):
    status: Literal["active", "frozen", "closed"]


class TransferIn(StrictBody):
    id: Id
    debit_account_id: Id | None = None
    credit_account_id: Id | None = None
    amount: Amount | None = None
    currency: CurrencyCode | None = None
    flags: Annotated[
        list[str], AfterValidator(_flag_validator(TransferFlags)), _flag_list(TransferFlags)
    ] = Field(default_factory=list)
    pending_id: Id | None = None
    timeout_s: Annotated[int, Field(strict=True, ge=0, le=limits.TRANSFER_TIMEOUT_S_MAX)] = 0
    code: Code = 0
    metadata: Metadata | None = None

    def to_request(self) -> TransferRequest:
        flags = TransferFlags.NONE
        for name in self.flags:
            flags |= TransferFlags[name.upper()]
        return TransferRequest(
            id=self.id,
            debit_account_id=self.debit_account_id,
            credit_account_id=self.credit_account_id,
            amount=self.amount,
            currency=self.currency,
            flags=flags,
            pending_id=self.pending_id,
            timeout_s=self.timeout_s,
            code=self.code,
            metadata=self.metadata,
        )


class TransferBatchIn(StrictBody):
    transfers: Annotated[
        list[TransferIn], Field(min_length=1, max_length=limits.TRANSFER_BATCH_MAX)
    ]


class TransferResultOut(BaseModel):
    id: str
    result: Annotated[
        str,
        Field(
            description="`created`, or why not; precedence and meaning in the ledger README",
            json_schema_extra={"enum": list(RESULTS)},
        ),
    ]


class TransferBatchOut(BaseModel):
    results: list[TransferResultOut]


class TransferOut(BaseModel):
    id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    currency: str
    flags: list[str]
    pending_id: str | None
    timeout_s: int
    code: int
    status: str
    metadata: dict[str, Any]
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, t: Transfer) -> TransferOut:
        return cls(
            id=t.id,
            debit_account_id=t.debit_account_id,
            credit_account_id=t.credit_account_id,
            amount=t.amount,
            currency=t.currency,
            flags=flag_names(TransferFlags, t.flags),
            pending_id=t.pending_id,
            timeout_s=t.timeout_s,
            code=t.code,
            status=t.status.value,
            metadata=dict(t.metadata),
            created_at=t.created_at,
            expires_at=t.expires_at,
        )


class EntryOut(BaseModel):
    transfer_id: str
    event: str
    side: str
    amount: int
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    created_at: datetime

    @classmethod
    def of(cls, e: Entry) -> EntryOut:
        return cls(
            transfer_id=e.transfer_id,
            event=e.event,
            side=e.side,
            amount=e.amount,
            debits_pending=e.debits_pending,
            debits_posted=e.debits_posted,
            credits_pending=e.credits_pending,
            credits_posted=e.credits_posted,
            created_at=e.created_at,
        )


class EntryPageOut(BaseModel):
    entries: list[EntryOut]
    next_cursor: str | None


class BalanceOut(BaseModel):
    account_id: str
    at: datetime
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int


class CheckOut(BaseModel):
    ok: bool
    accounts_checked: int
    problems: list[str]


# -- routes -------------------------------------------------------------------------------


@router.post("/accounts", status_code=201, response_model=AccountOut)
def create_account(
    body: AccountIn, ledger: LedgerDep, response: Response, principal: Writer
) -> AccountOut:
    flags = AccountFlags.NONE
    for name in body.flags:
        flags |= AccountFlags[name.upper()]
    request = AccountRequest(
        id=body.id,
        currency=body.currency,
        code=body.code,
        owner_id=body.owner_id,
        flags=flags,
        metadata=body.metadata,
    )
    [(account, created)] = ledger.create_accounts([request], caller=_caller(principal))
    if not created:
        response.status_code = 200
    return AccountOut.of(account)


@router.get("/accounts", response_model=AccountPageOut)
def list_accounts(
    ledger: LedgerDep,
    principal: Reader,
    owner_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=limits.ACCOUNTS_PAGE_MAX)] = limits.ACCOUNTS_PAGE_DEFAULT,
    after: str | None = None,
) -> AccountPageOut:
    only = owner_filter(principal)
    if only is not None and owner_id not in (None, only):
        return AccountPageOut(accounts=[], next_cursor=None)
    page = ledger.list_accounts(owner_id=only or owner_id, limit=limit, after=after)
    return AccountPageOut(
        accounts=[AccountOut.of(a) for a in page.accounts], next_cursor=page.next_cursor
    )


@router.get("/accounts/{account_id}", response_model=AccountOut)
def get_account(account_id: str, ledger: LedgerDep, principal: Reader) -> AccountOut:
    account = ledger.get_account(account_id)
    if account is None or not principal.sees(account.owner_id):
        raise Rejected("account_not_found", f"no account {account_id}")
    return AccountOut.of(account)


@router.post("/accounts/{account_id}/status", response_model=AccountOut)
def set_account_status(
    account_id: str, body: AccountStatusIn, ledger: LedgerDep, principal: Writer
) -> AccountOut:
    status = AccountStatus(body.status)
    return AccountOut.of(ledger.set_account_status(account_id, status, caller=_caller(principal)))


@router.get("/accounts/{account_id}/entries", response_model=EntryPageOut)
def list_entries(
    account_id: str,
    ledger: LedgerDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=limits.ENTRIES_PAGE_MAX)] = limits.ENTRIES_PAGE_DEFAULT,
    after: str | None = None,
    order: Literal["newest_first", "oldest_first"] = "newest_first",
) -> EntryPageOut:
    _check_account_visible(ledger, principal, account_id)
    page = ledger.entries(
        account_id, limit=limit, after=after, newest_first=order == "newest_first"
    )
    return EntryPageOut(
        entries=[EntryOut.of(e) for e in page.entries], next_cursor=page.next_cursor
    )


@router.get("/accounts/{account_id}/balance", response_model=BalanceOut)
def balance_at(
    account_id: str, at: BusinessInstant, ledger: LedgerDep, principal: Reader
) -> BalanceOut:
    if at.tzinfo is None:
        raise Rejected("timestamp_needs_timezone", "give `at` with an offset, e.g. Z")
    _check_account_visible(ledger, principal, account_id)
    dp, dpo, cp, cpo = ledger.balance_at(account_id, at)
    return BalanceOut(
        account_id=account_id,
        at=at,
        debits_pending=dp,
        debits_posted=dpo,
        credits_pending=cp,
        credits_posted=cpo,
    )


@router.post("/transfers", response_model=TransferBatchOut)
async def create_transfers(
    body: TransferBatchIn, ledger: LedgerDep, principal: Writer
) -> JSONResponse:
    return await _submit_transfers(ledger, principal, body)


async def _transfers_lane(request: LaneRequest) -> Response:
    assert request.principal is not None  # the lane requires ledger:write
    return await _submit_transfers(request.state.ledger, request.principal, request.body)


async def _submit_transfers(
    ledger: Ledger, principal: Principal, body: TransferBatchIn
) -> JSONResponse:
    batch = [t.to_request() for t in body.transfers]
    submitted = ledger.submit_transfers(batch, caller=_caller(principal))
    results = await asyncio.wrap_future(submitted)
    # The hottest route renders its plain result list itself instead of having FastAPI
    # validate and serialize a model it just built; the schema is still TransferBatchOut.
    rendered = [{"id": t.id, "result": r} for t, r in zip(batch, results, strict=True)]
    return JSONResponse({"results": rendered})


LANES = [
    Lane("POST", "/v1/transfers", _transfers_lane, scope=Scope.LEDGER_WRITE, body=TransferBatchIn)
]
"""POST /v1/transfers, the hottest route, in the web app's fast lane (web/fastlane.py)."""


@router.get("/transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: str, ledger: LedgerDep, principal: Reader) -> TransferOut:
    transfer = ledger.get_transfer(transfer_id)
    if transfer is None or not _merchant_takes_part(ledger, principal, transfer):
        raise Rejected("transfer_not_found", f"no transfer {transfer_id}")
    return TransferOut.of(transfer)


@router.get("/ledger/check", response_model=CheckOut)
def check(ledger: LedgerDep, principal: Reader) -> CheckOut:
    require_platform(principal)
    report = ledger.check()
    return CheckOut(
        ok=report.ok, accounts_checked=report.accounts_checked, problems=report.problems
    )


class CheckRunOut(BaseModel):
    id: str
    started_at: datetime
    finished_at: datetime
    ok: bool
    accounts_checked: int
    problems: list[str]
    trigger: str


@router.post("/ledger/checks", response_model=CheckRunOut, status_code=201)
def run_check(request: Request, principal: Reader) -> CheckRunOut:
    """Run the self-check now and record it (the server also runs it on a schedule)."""
    require_platform(principal)
    run, _report = request.app.state.runtime.ledger_checks.run(trigger="http")
    return CheckRunOut(**asdict(run))


@router.get("/ledger/checks", response_model=list[CheckRunOut])
def list_checks(
    request: Request, principal: Reader, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[CheckRunOut]:
    require_platform(principal)
    runs = request.app.state.runtime.ledger_checks.history(limit=limit)
    return [CheckRunOut(**asdict(run)) for run in runs]


@router.get(
    "/ledger/trial-balance",
    response_model=None,
    responses={
        200: {
            "description": "JSON by default; with `?format=csv`, the same rows as CSV.",
            "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def trial_balance(
    ledger: LedgerDep, principal: Reader, format: Literal["json", "csv"] = "json"
) -> dict[str, Any] | PlainTextResponse:
    """Balances summed per currency and chart-of-accounts code, with a total per currency."""
    from paycore.chart import to_csv, trial_balance_view

    require_platform(principal)
    view = trial_balance_view(ledger.trial_balance())
    if format == "csv":
        return PlainTextResponse(to_csv(view), media_type="text/csv")
    return {"data": view}


def _merchant_takes_part(ledger: Ledger, principal: Principal, transfer: Transfer) -> bool:
    if principal.merchant_id is None:
        return True
    for account_id in (transfer.debit_account_id, transfer.credit_account_id):
        account = ledger.get_account(account_id)
        if account is not None and principal.sees(account.owner_id):
            return True
    return False
