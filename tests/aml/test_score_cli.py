"""`paycore aml score` and the service the cases workflow calls."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from paycore.aml.cli import aml_app
from paycore.aml.model import TRANSACTION_IDS_MAX, SubjectType, Typology
from paycore.aml.params import Params
from paycore.aml.service import alerts
from tests.aml.kit import Warehouse, at


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    w = Warehouse()
    w.transfer("mch_1:a", "mch_2:b", 20_000_00, at(1, 9))
    w.transfer("mch_2:b", "mch_1:a", 19_800_00, at(1, 21))
    for k in range(30):
        w.transfer("mch_3:c", f"mch_4:u{k}", 2000_00, at(2, 10, k))
    return w.write(tmp_path / "warehouse")


def test_alerts_carry_their_reasons_in_two_languages_and_the_transactions_behind(
    warehouse: Path,
) -> None:
    found = {a.subject_id: a for a in alerts(warehouse, params=Params())}
    assert set(found) == {"mch_1:a", "mch_2:b", "mch_3:c"}
    fan_out = found["mch_3:c"]
    assert fan_out.subject_type is SubjectType.OWNER
    assert fan_out.key == "owner:mch_3:c"
    (reason,) = fan_out.reasons
    assert reason.typology is Typology.FAN_OUT
    assert reason.transaction_count == 30
    assert len(reason.transaction_ids) == TRANSACTION_IDS_MAX
    assert "30 distinct payees" in reason.words.en and "30 个收款方" in reason.words.zh
    assert fan_out.score == reason.weight >= fan_out.threshold


def test_paycore_aml_score_prints_the_top_subjects_with_reasons(warehouse: Path) -> None:
    result = CliRunner().invoke(aml_app, ["score", "--warehouse", str(warehouse), "--top", "5"])
    assert result.exit_code == 0, result.output
    assert "mch_3:c" in result.output and "[fan_out +" in result.output
    assert "[cycle +" in result.output and "个收款方" in result.output


def test_paycore_aml_score_refuses_a_missing_warehouse(tmp_path: Path) -> None:
    result = CliRunner().invoke(aml_app, ["score", "--warehouse", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "warehouse_not_found" in result.output
