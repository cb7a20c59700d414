"""`paycore security inventory`: coverage per class and the share of C2 encrypted at rest."""

from __future__ import annotations

import json
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from paycore.security.classification import AtRest, Field, Level, table_fields
from paycore.security.classification_files import file_fields
from paycore.security.cli_inventory import security_app
from paycore.security.inventory import inventory, percent


def _field(
    name: str, level: Level, at_rest: AtRest = AtRest.CLEAR, *, in_file: bool = False
) -> Field:
    return Field("t", name, level, at_rest, "holds", "x.py:f", in_file=in_file)


def test_the_share_counts_only_c2_fields_that_keep_a_full_value() -> None:
    fields = [
        _field("a", Level.C2, AtRest.ENCRYPTED),
        _field("b", Level.C2, AtRest.CLEAR, in_file=True),
        _field("c", Level.C2, AtRest.MASKED),
        _field("d", Level.C2, AtRest.HASHED),
        _field("e", Level.C1),
        _field("f", Level.C3, AtRest.HASHED),
    ]
    found = inventory(fields)
    assert found.c2_encrypted_share == Fraction(1, 2)
    assert found.c2_encrypted_share_of_all == Fraction(1, 4)
    assert [f.key for f in found.c2_in_clear] == ["t:b"]
    assert found.c3_in_clear == ()
    c2 = next(level for level in found.levels if level.level is Level.C2)
    assert (c2.classified, c2.columns, c2.file_fields) == (4, 3, 1)
    assert c2.by_protection[AtRest.MASKED] == 1


def test_a_c3_value_in_clear_is_listed_as_a_defect() -> None:
    found = inventory([_field("key", Level.C3, AtRest.CLEAR, in_file=True)])
    assert [f.key for f in found.c3_in_clear] == ["t:key"]


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=10_000))
def test_a_percentage_is_never_rounded_up(numerator: int, extra: int) -> None:
    share = Fraction(numerator, numerator + extra)
    shown = Fraction(percent(share).rstrip("%")) / 100
    assert shown <= share < shown + Fraction(1, 1000)


def test_with_no_c2_field_in_clear_the_goal_is_met() -> None:
    found = inventory([_field("a", Level.C2, AtRest.ENCRYPTED), _field("b", Level.C1)])
    assert percent(found.c2_encrypted_share) == "100.0%"


def test_the_json_report_lists_every_c2_value_the_registry_keeps_in_clear() -> None:
    result = CliRunner().invoke(security_app, ["inventory", "--json"])
    assert result.exit_code == 0
    report = json.loads(result.output)
    every = [*table_fields(), *file_fields()]
    clear = [f.key for f in every if f.level is Level.C2 and f.at_rest is AtRest.CLEAR]
    assert [entry["field"] for entry in report["c2_in_clear"]] == clear
    assert all(entry["written_by"] for entry in report["c2_in_clear"])
    figure = report["c2_encrypted_at_rest"]
    assert figure["share"] == percent(inventory().c2_encrypted_share)
    assert figure["goal"] == "100.0%"
    levels = {entry["level"]: entry for entry in report["levels"]}
    assert levels["C2"]["classified"] == sum(1 for f in every if f.level is Level.C2)


def test_the_report_exits_0_and_shows_the_figure_and_the_fields_in_clear() -> None:
    result = CliRunner().invoke(security_app, ["inventory"])
    assert result.exit_code == 0
    found = inventory()
    assert f"C2 encrypted at rest: {percent(found.c2_encrypted_share)}" in result.output
    assert "86%" in result.output
    for field in found.c2_in_clear[:3]:
        assert field.key in result.output


def test_a_frozen_field_is_listed_apart_and_left_out_of_the_share() -> None:
    found = inventory(
        [_field("a", Level.C2, AtRest.ENCRYPTED), _field("b", Level.C2, AtRest.FROZEN)]
    )
    assert found.c2_encrypted_share == 1
    assert [f.key for f in found.c2_frozen] == ["t.b"]
    assert found.c2_in_clear == ()


def test_only_the_audit_logs_old_reasons_are_frozen_and_the_cli_names_them() -> None:
    assert [f.key for f in inventory().c2_frozen] == ["audit_log.reason"]
    result = CliRunner().invoke(security_app, ["inventory"])
    assert result.exit_code == 0
    assert "C2 frozen" in result.output and "audit_log.reason" in result.output
