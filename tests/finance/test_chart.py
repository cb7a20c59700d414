"""The GL chart: every ledger code paycore uses is mapped by default; a chart file is read
strictly and refused with `invalid_finance_chart` naming what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from paycore.chart import CHART
from paycore.errors import Rejected
from paycore.finance.chart import DEFAULT_CHART, load_chart, parse_chart


def _document() -> dict[str, Any]:
    return {
        "accounts": [
            {"code": a.code, "name_zh": a.name_zh, "name_en": a.name_en}
            for a in DEFAULT_CHART.accounts.values()
        ],
        "map": {str(code): gl for code, gl in DEFAULT_CHART.by_ledger_code.items()},
    }


def _refusal(doc: Any) -> str:
    with pytest.raises(Rejected) as refused:
        parse_chart(doc)
    assert refused.value.code == "invalid_finance_chart"
    return refused.value.detail


def test_every_ledger_code_of_paycore_maps_to_a_declared_gl_account_by_default() -> None:
    assert set(DEFAULT_CHART.by_ledger_code) == set(CHART)
    assert set(DEFAULT_CHART.by_ledger_code.values()) <= set(DEFAULT_CHART.accounts)
    assert all(a.name_zh and a.name_en for a in DEFAULT_CHART.accounts.values())


def test_an_unmapped_code_is_a_stable_error_not_a_dropped_line() -> None:
    with pytest.raises(Rejected) as refused:
        DEFAULT_CHART.gl_of(9999)
    assert refused.value.code == "finance_code_unmapped"


def test_a_chart_file_replaces_the_default(tmp_path: Path) -> None:
    doc = _document()
    doc["accounts"].append({"code": "224199", "name_zh": "其他", "name_en": "Other"})
    doc["map"]["2001"] = "224199"
    path = tmp_path / "chart.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    loaded = load_chart(str(path))

    assert loaded.gl_of(2001) == "224199" and loaded.gl_of(4001) == "600101"
    assert load_chart("") is DEFAULT_CHART


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d.update(extra=1), "needs ['accounts', 'map']"),
        (lambda d: d["accounts"][0].update(code="12"), "accounts[0].code"),
        (lambda d: d["accounts"][1].update(name_en=" "), "accounts[1].name_en"),
        (lambda d: d["accounts"].append(dict(d["accounts"][0])), "given twice"),
        (lambda d: d["map"].update({"2001": "999999"}), "map[2001]"),
        (lambda d: d["map"].update({"02001": "224101"}), "given twice"),
        (lambda d: d["map"].update({"x1": "224101"}), "'x1' is not a ledger code"),
        (lambda d: d["map"].pop("4002"), "[4002] are not mapped"),
        (lambda d: d.update(accounts=[]), "non-empty list"),
    ],
)
def test_a_chart_that_is_not_exactly_right_is_refused_naming_the_fault(
    change: Any, named: str
) -> None:
    doc = _document()
    change(doc)
    assert named in _refusal(doc)


def test_a_chart_file_that_is_missing_or_not_strict_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chart.json"
    path.write_text('{"accounts": [], "accounts": []}', encoding="utf-8")
    for name in (str(path), str(tmp_path / "none.json")):
        with pytest.raises(Rejected) as refused:
            load_chart(name)
        assert refused.value.code == "invalid_finance_chart" and name in refused.value.detail
