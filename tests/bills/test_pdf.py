"""The bill as a PDF: WeasyPrint lays out the same page; pypdf reads it back, in Chinese
and in English, on one A4 page, with every summary figure in its text."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from paycore.bills.chart import money_text
from paycore.bills.page_service import BillPages, render_html
from paycore.bills.pdf import render_pdf
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.bills.conftest import Shop
from tests.bills.test_page_http import MONTH, figures


def pdf_text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_pdf_opens_on_one_page_and_holds_the_figures(
    billed_merchant: Shop, runtime: Runtime, lang: str
) -> None:
    expected = figures(runtime.bills.statement(billed_merchant.merchant_id, MONTH))
    view = BillPages(runtime.bills, runtime.merchants).view(
        billed_merchant.merchant_id, MONTH, lang=lang
    )

    pages, text = pdf_text(render_pdf(render_html(view)))

    assert pages == 1
    for name, amount in expected.items():
        assert money_text(amount, "CNY", lang) in text, name
    assert view.title in text
    assert ("顾客付款" if lang == "zh" else "Paid by your customers") in text
    assert "张*" in text  # the masked payer, in the CJK font


def test_the_pdf_is_served_with_the_merchants_key(billed_merchant: Shop, runtime: Runtime) -> None:
    with TestClient(create_app(runtime=runtime)) as client:
        answer = client.get(
            f"/v1/bills/{billed_merchant.merchant_id}/{MONTH}.pdf?lang=en",
            headers={"Authorization": f"Bearer {billed_merchant.key}"},
        )

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")
    _pages, text = pdf_text(answer.content)
    assert "Lakeside Rentals: bill for November 2026" in text
    assert "Nothing needs your attention." in text
