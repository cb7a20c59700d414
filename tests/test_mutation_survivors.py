"""The mutation table's one judgement call: a mutant that only rewords an error message."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools"


@pytest.fixture(scope="module")
def survivors() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mutation_survivors", TOOLS / "mutation_survivors.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mutation_survivors", module)
    spec.loader.exec_module(module)
    return module


ORIGINAL = """
def check(amount):
    if amount < 1:
        raise Rejected("amount_must_be_positive", f"{amount} is below 1")
    return amount
"""


def _only_messages(survivors: ModuleType, mutant: str, codes: set[str]) -> bool:
    result: bool = survivors._only_messages(ast.parse(ORIGINAL), ast.parse(mutant), codes)
    return result


@pytest.mark.parametrize(
    "mutant",
    [
        ORIGINAL.replace('f"{amount} is below 1"', '"XXis below 1XX"'),
        ORIGINAL.replace(', f"{amount} is below 1"', ""),
        ORIGINAL.replace('f"{amount} is below 1"', "None"),
    ],
    ids=["reworded", "detail dropped", "detail None"],
)
def test_a_mutant_that_only_changes_the_detail_of_an_asserted_code_is_message_only(
    survivors: ModuleType, mutant: str
) -> None:
    assert _only_messages(survivors, mutant, {"amount_must_be_positive"})


def test_the_same_reword_is_not_message_only_when_no_test_asserts_the_code(
    survivors: ModuleType,
) -> None:
    mutant = ORIGINAL.replace('f"{amount} is below 1"', '"XXis below 1XX"')
    assert not _only_messages(survivors, mutant, set())


@pytest.mark.parametrize(
    "mutant",
    [
        ORIGINAL.replace('"amount_must_be_positive"', '"XXamount_must_be_positiveXX"'),
        ORIGINAL.replace("amount < 1", "amount <= 1"),
        ORIGINAL.replace("return amount", "return None"),
        ORIGINAL.replace(
            'raise Rejected("amount_must_be_positive", f"{amount} is below 1")', "pass"
        ),
    ],
    ids=["code changed", "bound moved", "result changed", "raise removed"],
)
def test_a_mutant_that_changes_the_code_or_the_rule_is_never_message_only(
    survivors: ModuleType, mutant: str
) -> None:
    assert not _only_messages(survivors, mutant, {"amount_must_be_positive"})


def test_asserted_codes_are_the_snake_case_literals_the_tests_mention(
    survivors: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "test_x.py").write_text('assert e.code == "payin_not_succeeded"\nx = "Ab"\n')
    assert survivors.asserted_codes(tmp_path) == {"payin_not_succeeded"}
