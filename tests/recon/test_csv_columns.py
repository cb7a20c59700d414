"""A refused CSV row names its field, even where the header leaves a column unnamed."""

from __future__ import annotations

import pytest

from paycore.recon.csv_columns import Columns
from paycore.recon.model import MalformedStatement

WANTED = {"id": ("id",), "amount": ("amount",)}


def test_a_short_row_under_an_unnamed_header_column_names_that_column_by_number() -> None:
    columns = Columns(["id", "amount", "", "note"], WANTED, line=1)

    with pytest.raises(MalformedStatement) as refused:
        columns.check_row(["1", "2"], line=2)

    assert refused.value.field == "column 3"


def test_a_nul_in_an_unnamed_column_names_that_column_by_number() -> None:
    columns = Columns(["id", "amount", ""], WANTED, line=1)

    with pytest.raises(MalformedStatement) as refused:
        columns.check_row(["1", "2", "a\x00b"], line=2)

    assert refused.value.field == "column 3"


def test_a_short_row_names_the_first_missing_field_by_its_header_name() -> None:
    columns = Columns(["id", "amount", "note"], WANTED, line=1)

    with pytest.raises(MalformedStatement) as refused:
        columns.check_row(["1"], line=2)

    assert refused.value.field == "amount"
