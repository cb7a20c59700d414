"""A personal number sent in a query string anyway is masked in the access log."""

from __future__ import annotations

import io
import logging

import pytest
from uvicorn.logging import AccessFormatter

from paycore.security.masking import install_redaction

CARD = "6217001234567890128"
PHONE = "13900001111"
ID_NUMBER = "44030419900101123X"


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        (f"card_number={CARD}", "card_number=621700*********0128"),
        (f"phone=%2B86{PHONE}", "phone=%2B861******1111"),
        (f"id_number={ID_NUMBER}", "id_number=4****************X"),
        ("card_number=6217-0012-3456-7890-128", "card_number=621700*********0128"),
    ],
)
def test_a_number_in_a_query_string_is_masked_in_the_access_log(query: str, shown: str) -> None:
    install_redaction()
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    access = logging.getLogger("uvicorn.access")
    access.addHandler(handler)
    try:
        # uvicorn's access record: exactly five arguments, the path with its query.
        access.warning(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/v1/payins?{query}", "1.1", 200
        )
    finally:
        access.removeHandler(handler)
    line = written.getvalue()
    assert shown in line
    assert "200" in line
