"""AML case use cases: open from alerts, read, move through the workflow, draft the STR.

Each change is one unit of work: check the caller's version, apply the state machine
(cases_model.step), bump the version and append the event of the new version, together.
A stale version is `case_version_conflict`, whoever changed the case in between.
Notes (and the STR draft, which quotes the conclusion) are sealed with the FieldCipher,
bound to their event (`aml-case-note:<case id>:<seq>`) or draft.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from paycore.aml import store_cases as store
from paycore.aml.cases_model import (
    ACTOR_LENGTH_MAX,
    ASSIGNEE_LENGTH_MAX,
    CASES_PAGE_DEFAULT,
    CASES_PAGE_MAX,
    CONCLUSION_LENGTH_MAX,
    NOTE_LENGTH_MAX,
    TRANSITION_ACTIONS,
    Case,
    CaseAction,
    CaseEvent,
    CaseStatus,
    Step,
    check_text,
    step,
)
from paycore.aml.cases_open import Opening, open_cases
from paycore.aml.model import Alert
from paycore.aml.str_draft import Institution, build, transaction_ids
from paycore.aml.str_draft_lookup import TransactionLookup, WarehouseLookup
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.security.crypto import FieldCipher

DEFAULT_INSTITUTION = Institution(name="paycore platform operator", code="UNSET")


def build_cases(engine: Engine, cipher: FieldCipher, clock: Clock, settings: Settings) -> Cases:
    """The service as the runtime, the API and the CLI use it: transactions for the STR are
    read from the settings' warehouse; the institution from PAYCORE_AML_INSTITUTION_NAME
    and _CODE (unset: DEFAULT_INSTITUTION)."""
    institution = Institution(
        name=settings.aml_institution_name or DEFAULT_INSTITUTION.name,
        code=settings.aml_institution_code or DEFAULT_INSTITUTION.code,
    )
    lookup = WarehouseLookup(settings.warehouse_path())
    return Cases(engine, cipher, clock, lookup=lookup, institution=institution)


def note_context(case_id: str, seq: int) -> str:
    return f"aml-case-note:{case_id}:{seq}"


def draft_context(case_id: str, draft_no: int) -> str:
    return f"aml-str:{case_id}:{draft_no}"


class Cases:
    def __init__(
        self,
        engine: Engine,
        cipher: FieldCipher,
        clock: Clock,
        *,
        lookup: TransactionLookup | None = None,
        institution: Institution = DEFAULT_INSTITUTION,
    ) -> None:
        self._engine = engine
        self._cipher = cipher
        self._clock = clock
        self._lookup = lookup
        self._institution = institution

    # -- opening --------------------------------------------------------------------------

    def open_cases(self, alerts: Iterable[Alert], *, period: str, actor: str = "aml") -> Opening:
        return open_cases(self._engine, self._clock, alerts, period=period, actor=actor)

    # -- reading --------------------------------------------------------------------------

    def get(self, case_id: str) -> Case:
        with store.reading(self._engine) as conn:
            return _case(_row(conn, case_id))

    def list_cases(
        self,
        *,
        status: str | None = None,
        subject_id: str | None = None,
        after: str | None = None,
        limit: int = CASES_PAGE_DEFAULT,
    ) -> list[Case]:
        if status is not None and status not in {s.value for s in CaseStatus}:
            raise Rejected("invalid_value", f"status is one of {[s.value for s in CaseStatus]}")
        if not 1 <= limit <= CASES_PAGE_MAX:
            raise Rejected("invalid_value", f"limit is 1 to {CASES_PAGE_MAX}")
        with store.reading(self._engine) as conn:
            rows = store.list_cases(
                conn, status=status, subject_id=subject_id, after=after, limit=limit
            )
        return [_case(r) for r in rows]

    def events(self, case_id: str, *, open_notes: bool) -> list[CaseEvent]:
        """The trail, oldest first; notes in clear only if `open_notes` (the caller's right)."""
        with store.reading(self._engine) as conn:
            _row(conn, case_id)
            rows = store.events_of(conn, case_id)
        return [self._event(r, open_notes=open_notes) for r in rows]

    def _event(self, row: Mapping[str, Any], *, open_notes: bool) -> CaseEvent:
        sealed = row["note_enc"]
        note = None
        if sealed is not None and open_notes:
            note = self._cipher.decrypt(sealed, context=note_context(row["case_id"], row["seq"]))
        return CaseEvent(
            seq=int(row["seq"]),
            case_id=row["case_id"],
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            from_status=row["from_status"],
            to_status=row["to_status"],
            details=row["details"],
            note=note,
            has_note=sealed is not None,
        )

    # -- the workflow ---------------------------------------------------------------------

    def transition(
        self, case_id: str, action: str, *, version: int, actor: str, note: str = ""
    ) -> Case:
        """investigate, report (needs a draft) or dismiss (needs a note)."""
        if action not in {a.value for a in TRANSITION_ACTIONS}:
            raise Rejected(
                "case_transition_invalid",
                f"action is one of {[a.value for a in TRANSITION_ACTIONS]}",
            )
        text = check_text(note, name="note", length_max=NOTE_LENGTH_MAX, required=False)
        return self._change(case_id, CaseAction(action), version=version, actor=actor, note=text)

    def assign(self, case_id: str, *, assignee: str, version: int, actor: str) -> Case:
        who = check_text(assignee, name="assignee", length_max=ASSIGNEE_LENGTH_MAX)
        return self._change(
            case_id,
            CaseAction.ASSIGN,
            version=version,
            actor=actor,
            values={"assignee": who},
            details={"assignee": who},
        )

    def add_note(self, case_id: str, *, note: str, version: int, actor: str) -> Case:
        text = check_text(note, name="note", length_max=NOTE_LENGTH_MAX)
        return self._change(case_id, CaseAction.NOTE, version=version, actor=actor, note=text)

    def _change(
        self,
        case_id: str,
        action: CaseAction,
        *,
        version: int,
        actor: str,
        note: str = "",
        values: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
        draft: tuple[int, str] | None = None,
    ) -> Case:
        actor = check_text(actor, name="actor", length_max=ACTOR_LENGTH_MAX)
        with store.writing(self._engine) as conn:
            case = _case(_row(conn, case_id))
            _check_version(case, version)
            has_draft = store.last_draft_no(conn, case_id) > 0
            moved = step(case.status, action, has_draft=has_draft, has_note=bool(note))
            now = self._clock.now()
            changes = {**(values or {}), "status": moved.to_status.value, "updated_at": now}
            if not store.bump(conn, case_id, version=version, values=changes):
                raise _conflict(case_id, version)
            if draft is not None:
                draft_no, document = draft
                sealed = self._cipher.encrypt(document, context=draft_context(case_id, draft_no))
                store.insert_draft(
                    conn, case_id=case_id, draft_no=draft_no, at=now, actor=actor, sealed=sealed
                )
            self._append(conn, case_id, version + 1, now, actor, moved, note, details or {})
            return _case(_row(conn, case_id))

    def _append(
        self,
        conn: Connection,
        case_id: str,
        seq: int,
        now: datetime,
        actor: str,
        moved: Step,
        note: str,
        details: Mapping[str, Any],
    ) -> None:
        sealed = self._cipher.encrypt(note, context=note_context(case_id, seq)) if note else None
        store.append_event(
            conn,
            {
                "case_id": case_id,
                "seq": seq,
                "at": now,
                "actor": actor,
                "action": moved.action.value,
                "from_status": moved.from_status.value,
                "to_status": moved.to_status.value,
                "details": dict(details),
                "note_enc": sealed,
            },
        )

    # -- the STR draft --------------------------------------------------------------------

    def draft_str(
        self, case_id: str, *, conclusion: str, measures: str = "", version: int, actor: str
    ) -> dict[str, Any]:
        """A new draft of the case's report (the earlier ones are kept); returns it."""
        text = check_text(conclusion, name="conclusion", length_max=CONCLUSION_LENGTH_MAX)
        taken = check_text(measures, name="measures", length_max=NOTE_LENGTH_MAX, required=False)
        case = self.get(case_id)
        _check_version(case, version)
        step(case.status, CaseAction.DRAFT)  # refuse early, before reading the warehouse
        wanted = transaction_ids(case)
        found = self._lookup.find(wanted) if self._lookup is not None else []
        with store.reading(self._engine) as conn:
            draft_no = store.last_draft_no(conn, case_id) + 1
        document = build(
            case,
            draft_no=draft_no,
            drafted_at=self._clock.now(),
            drafted_by=actor,
            institution=self._institution,
            transactions=found,
            conclusion=text,
            measures=taken,
        )
        encoded = json.dumps(document, ensure_ascii=False, sort_keys=True)
        self._change(
            case_id,
            CaseAction.DRAFT,
            version=version,
            actor=actor,
            details={"draft_no": draft_no, "transactions": len(found)},
            draft=(draft_no, encoded),
        )
        return document

    def str_document(self, case_id: str) -> dict[str, Any]:
        """The latest draft, opened; `case_str_missing` before the first."""
        with store.reading(self._engine) as conn:
            _row(conn, case_id)
            row = store.latest_draft(conn, case_id)
        if row is None:
            raise Rejected("case_str_missing", f"case {case_id} has no report draft yet")
        context = draft_context(case_id, int(row["draft_no"]))
        document: dict[str, Any] = json.loads(
            self._cipher.decrypt(row["document_enc"], context=context)
        )
        return document


def _row(conn: Connection, case_id: str) -> dict[str, Any]:
    row = store.get_case(conn, case_id)
    if row is None:
        raise Rejected("case_not_found", f"no AML case {case_id}")
    return row


def _case(row: Mapping[str, Any]) -> Case:
    return Case(
        id=row["id"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        score=int(row["score"]),
        typologies=tuple(row["typologies"]),
        reasons=tuple(row["reasons"]),
        status=CaseStatus(row["status"]),
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        assignee=row["assignee"],
        version=int(row["version"]),
        previous_case_id=row["previous_case_id"],
    )


def _check_version(case: Case, version: int) -> None:
    if case.version != version:
        raise _conflict(case.id, version, current=case.version)


def _conflict(case_id: str, version: int, *, current: int | None = None) -> Rejected:
    now = f"; it is at {current}" if current is not None else ""
    return Rejected(
        "case_version_conflict",
        f"case {case_id} changed since version {version}{now}: read it again",
    )
