"""`paycore serve --access-log`: personal numbers in URLs are masked in its log, and every
line still prints."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.processes import free_port, paycore_serve, wait_healthy

CARD, ID_NUMBER, PHONE = "6228480402564890018", "11010519491231002X", "13812345678"


def test_the_access_log_masks_card_id_and_phone_numbers_in_paths_and_queries(
    database_url: str, tmp_path: Path, admin_key: str
) -> None:
    port = free_port()
    env = {"PAYCORE_DATABASE_URL": database_url, "PAYCORE_DATA_DIR": str(tmp_path)}
    output = tmp_path / "serve.out"
    args = ["--port", str(port), "--no-sandbox", "--access-log"]
    with paycore_serve(args, env=env, output=output) as serve:
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(serve, f"{base_url}/healthz", output)
        auth = {"Authorization": f"Bearer {admin_key}"}
        with httpx.Client(base_url=base_url, headers=auth, timeout=10) as http:
            answers = [
                http.get(f"/v1/payins/{CARD}"),
                http.get(f"/v1/payins/x?phone={PHONE}&id_number={ID_NUMBER}"),
                http.get(f"/v1/accounts/{ID_NUMBER}", headers={"Authorization": "Bearer x"}),
                http.get(f"/v1/nowhere/+86{PHONE}"),
            ]
    log = output.read_text()

    assert [a.status_code for a in answers] == [404, 404, 401, 404]
    assert "Logging error" not in log and "Traceback" not in log
    for value in (CARD, ID_NUMBER, PHONE):
        assert value not in log
        assert all(value not in a.text for a in answers)
    assert '"GET /v1/payins/622848*********0018 HTTP/1.1" 404' in log
    assert '"GET /v1/payins/x?phone=138****5678&id_number=1****************X HTTP/1.1"' in log
    assert '"GET /v1/accounts/1****************X HTTP/1.1" 401' in log
    assert '"GET /v1/nowhere/+86*******5678 HTTP/1.1" 404' in log
