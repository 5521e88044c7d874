from __future__ import annotations

from tests.support.sandbox import Harness

CREDENTIALS = {
    "userName": "sandbox-backoffice",
    "password": "sandbox-backoffice-password",
    "checkForBot": "net",
}


async def test_sign_in_and_list_hpf_scripts(sandbox: Harness) -> None:
    signed_in = await sandbox.client.post("/backoffice/users/sign-in", json=CREDENTIALS)
    assert signed_in.status_code == 200
    token = signed_in.json()["accessToken"]
    assert signed_in.json()["expiresIn"] == 3600

    response = await sandbox.client.get(
        "/backoffice/hpf/script", headers={"authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200
    scripts = response.json()
    active = [item for item in scripts if item["status"] == "ACTIVE" and not item["deleted"]]
    [default] = [item for item in active if item["isDefault"]]
    assert default["netvalveScriptSrc"] == "http://127.0.0.1:8081/sdk/index.sandbox.js"
    assert default["integrity"] == sandbox.sandbox.script.integrity
    assert set(default) >= {"id", "clientVersion", "createdDate"}


async def test_wrong_password_is_unauthorized(sandbox: Harness) -> None:
    response = await sandbox.client.post(
        "/backoffice/users/sign-in", json=CREDENTIALS | {"password": "guess"}
    )

    assert response.status_code == 401
    assert response.json()["responseCode"] == "GTW_9001"


async def test_scripts_need_a_valid_bearer_token(sandbox: Harness) -> None:
    missing = await sandbox.client.get("/backoffice/hpf/script")
    forged = await sandbox.client.get("/backoffice/hpf/script", headers={"authorization": "Bearer forged"})

    assert (missing.status_code, forged.status_code) == (401, 401)
