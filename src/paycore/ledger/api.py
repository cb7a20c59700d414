"""HTTP routes of the ledger: parse, call the service, render."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from paycore import limits
from paycore.errors import Rejected
from paycore.ledger.model import (
    RESULTS,
    Account,
    AccountFlags,
    AccountStatus,
    Entry,
    Transfer,
    TransferFlags,
    TransferRequest,
    flag_names,
    metadata_too_large,
)
from paycore.ledger.service import AccountRequest, Ledger
from paycore.money import currency, is_known_currency

router = APIRouter(prefix="/v1", tags=["ledger"])


async def get_ledger(request: Request) -> Ledger:
    # async: a plain def would send every request through the thread pool just for this.
    ledger: Ledger = request.app.state.ledger
    return ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


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


def _flag_validator(kind: Any) -> Any:
    def check(names: list[str]) -> list[str]:
        known = {f.name.lower() for f in kind if f.value and f.name}
        for name in names:
            if name not in known:
                raise PydanticCustomError(
                    "unknown_flag",
                    "{name} is not one of {known}",
                    {"name": name, "known": sorted(known)},
                )
        return names

    return check


CurrencyCode = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(_currency)]
Metadata = Annotated[dict[str, Any], AfterValidator(_metadata)]
Amount = Annotated[int, Field(strict=True, gt=0, le=limits.AMOUNT_MAX)]
Code = Annotated[int, Field(strict=True, ge=0, le=limits.CODE_MAX)]
Id = Annotated[str, Field(min_length=1, max_length=limits.ID_LENGTH_MAX)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountIn(_Strict):
    id: Id | None = None
    currency: CurrencyCode
    code: Code = 0
    owner_id: Id | None = None
    flags: Annotated[list[str], AfterValidator(_flag_validator(AccountFlags))] = []
    metadata: Metadata = {}


class AccountOut(BaseModel):
    id: str
    currency: str
    currency_exponent: int  # minor units per major unit = 10 ** currency_exponent
    code: int
    owner_id: str | None
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


class AccountStatusIn(_Strict):
    status: Literal["active", "frozen", "closed"]


class TransferIn(_Strict):
    id: Id
    debit_account_id: Id | None = None
    credit_account_id: Id | None = None
    amount: Amount | None = None
    currency: CurrencyCode | None = None
    flags: Annotated[list[str], AfterValidator(_flag_validator(TransferFlags))] = []
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


class TransferBatchIn(_Strict):
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
def create_account(body: AccountIn, ledger: LedgerDep, response: Response) -> AccountOut:
    flags = AccountFlags.NONE
    for name in body.flags:
        flags |= AccountFlags[name.upper()]
    account, created = ledger.create_account(
        AccountRequest(
            id=body.id,
            currency=body.currency,
            code=body.code,
            owner_id=body.owner_id,
            flags=flags,
            metadata=body.metadata,
        )
    )
    if not created:
        response.status_code = 200
    return AccountOut.of(account)


@router.get("/accounts", response_model=AccountPageOut)
def list_accounts(
    ledger: LedgerDep,
    owner_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=limits.ACCOUNTS_PAGE_MAX)] = limits.ACCOUNTS_PAGE_DEFAULT,
    after: str | None = None,
) -> AccountPageOut:
    page = ledger.list_accounts(owner_id=owner_id, limit=limit, after=after)
    return AccountPageOut(
        accounts=[AccountOut.of(a) for a in page.accounts], next_cursor=page.next_cursor
    )


@router.get("/accounts/{account_id}", response_model=AccountOut)
def get_account(account_id: str, ledger: LedgerDep) -> AccountOut:
    account = ledger.get_account(account_id)
    if account is None:
        raise Rejected("account_not_found", f"no account {account_id}")
    return AccountOut.of(account)


@router.post("/accounts/{account_id}/status", response_model=AccountOut)
def set_account_status(account_id: str, body: AccountStatusIn, ledger: LedgerDep) -> AccountOut:
    return AccountOut.of(ledger.set_account_status(account_id, AccountStatus(body.status)))


@router.get("/accounts/{account_id}/entries", response_model=EntryPageOut)
def list_entries(
    account_id: str,
    ledger: LedgerDep,
    limit: Annotated[int, Query(ge=1, le=limits.ENTRIES_PAGE_MAX)] = limits.ENTRIES_PAGE_DEFAULT,
    after: str | None = None,
    order: Literal["newest_first", "oldest_first"] = "newest_first",
) -> EntryPageOut:
    page = ledger.entries(
        account_id, limit=limit, after=after, newest_first=order == "newest_first"
    )
    return EntryPageOut(
        entries=[EntryOut.of(e) for e in page.entries], next_cursor=page.next_cursor
    )


@router.get("/accounts/{account_id}/balance", response_model=BalanceOut)
def balance_at(account_id: str, at: datetime, ledger: LedgerDep) -> BalanceOut:
    if at.tzinfo is None:
        raise Rejected("timestamp_needs_timezone", "give `at` with an offset, e.g. Z")
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
async def create_transfers(body: TransferBatchIn, ledger: LedgerDep) -> JSONResponse:
    batch = [t.to_request() for t in body.transfers]
    results = await asyncio.wrap_future(ledger.submit_transfers(batch))
    # The hottest route renders its plain result list itself instead of having FastAPI
    # validate and serialize a model it just built; the schema is still TransferBatchOut.
    rendered = [{"id": t.id, "result": r} for t, r in zip(batch, results, strict=True)]
    return JSONResponse({"results": rendered})


@router.get("/transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: str, ledger: LedgerDep) -> TransferOut:
    transfer = ledger.get_transfer(transfer_id)
    if transfer is None:
        raise Rejected("transfer_not_found", f"no transfer {transfer_id}")
    return TransferOut.of(transfer)


@router.get("/ledger/check", response_model=CheckOut)
def check(ledger: LedgerDep) -> CheckOut:
    report = ledger.check()
    return CheckOut(
        ok=report.ok, accounts_checked=report.accounts_checked, problems=report.problems
    )
