"""The bill looked at in a real browser: the app served by uvicorn on a free port, the
page loaded by Debian's headless Chromium (driven by Playwright) with the merchant's key,
its figures read off the rendered page and its two charts measured on screen. A
screenshot of each language is left in the temp directory for a person to look at."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from paycore.bills.chart import money_text
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.bills.conftest import Shop
from tests.bills.test_page_http import MONTH, figures

CHROMIUM = Path("/usr/bin/chromium")
SERVER_START_S_MAX = 15.0

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(runtime: Runtime) -> Iterator[str]:
    """The app over the test runtime, served by uvicorn in a thread: its base URL."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(runtime=runtime), host="127.0.0.1", port=port, log_level="warning", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bill-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_S_MAX
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=SERVER_START_S_MAX)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_chromium_shows_the_bills_figures_and_draws_both_charts(
    billed_merchant: Shop, runtime: Runtime, served: str, lang: str
) -> None:
    from playwright.sync_api import sync_playwright

    expected = figures(runtime.bills.statement(billed_merchant.merchant_id, MONTH))
    shot = Path(tempfile.gettempdir()) / f"paycore-bill-{lang}.png"
    url = f"{served}/v1/bills/{billed_merchant.merchant_id}/{MONTH}.html?lang={lang}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(
                viewport={"width": 800, "height": 1200},
                extra_http_headers={"Authorization": f"Bearer {billed_merchant.key}"},
            )
            page = context.new_page()
            answer = page.goto(url)
            assert answer is not None and answer.status == 200
            shown = {
                name: page.inner_text(f'[data-figure="{name}"]')
                for name in ("opening", "in", "out", "closing")
            }
            charts = [svg.bounding_box() for svg in page.query_selector_all("svg.chart")]
            bars = page.eval_on_selector_all(
                "svg.chart rect[data-amount]",
                "rects => rects.filter(r => r.getBoundingClientRect().height > 0).length",
            )
            body = page.inner_text("body")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    assert shown == {name: money_text(v, "CNY", lang) for name, v in expected.items()}
    assert len(charts) == 2
    assert all(box is not None and box["width"] > 100 and box["height"] > 40 for box in charts)
    assert bars >= 4  # the days and months that moved money have visible bars
    assert ("没有需要您处理的事" if lang == "zh" else "Nothing needs your attention") in body
    assert shot.stat().st_size > 10_000
