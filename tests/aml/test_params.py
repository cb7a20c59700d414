"""Rule parameters: defaults, overrides from a TOML or JSON file, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paycore.aml import params
from paycore.aml.params import Params
from paycore.errors import Rejected


def test_without_a_rules_file_the_defaults_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(params.RULES_FILE_ENV, raising=False)
    assert params.load() == Params()


def test_a_toml_file_named_by_the_environment_overrides_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        "[fan_in]\nmin_payers = 40\n[structuring]\nthresholds_minor = [2000000]\n"
        "[scoring]\nthreshold = 70\n"
    )
    monkeypatch.setenv(params.RULES_FILE_ENV, str(path))
    loaded = params.load()
    assert loaded.fan_in.min_payers == 40
    assert loaded.structuring.thresholds_minor == (2_000_000,)
    assert loaded.scoring.threshold == 70
    assert loaded.cycle == Params().cycle


def test_a_json_file_overrides_a_share_given_as_a_whole_number(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"pass_through": {"min_quick_share": 1}}))
    assert params.load(path).pass_through.min_quick_share == 1.0


@pytest.mark.parametrize(
    "raw",
    [
        {"fan_inn": {"min_payers": 3}},
        {"fan_in": {"min_payer": 3}},
        {"fan_in": {"min_payers": "many"}},
        {"fan_in": {"min_payers": True}},
        {"fan_in": {"min_payers": -1}},
        {"structuring": {"thresholds_minor": []}},
        {"fan_in": 3},
    ],
)
def test_a_typo_or_a_wrong_type_is_refused_not_ignored(tmp_path: Path, raw: object) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(Rejected) as refused:
        params.load(path)
    assert refused.value.code == "aml_rules_invalid"


def test_an_unreadable_rules_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[fan_in\n")
    with pytest.raises(Rejected) as refused:
        params.load(path)
    assert refused.value.code == "aml_rules_invalid"
