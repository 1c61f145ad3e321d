"""The write token (app/write_token.py): POST and DELETE on /items need it once its file exists; reads never do;
no file configured (or none there yet) leaves writes open; a rotated file takes effect on the next request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import TestConfig, create_app
from app.settings import load

ITEMS = "/api/v1/items"
ITEM = {"name": "bolt", "quantity": 3}


def client_for(token_file: str) -> FlaskClient:
    config = {key: getattr(TestConfig, key) for key in dir(TestConfig) if key.isupper()}
    config["APP_WRITE_TOKEN_FILE"] = token_file
    return create_app(config).test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_data(as_text=True))
    assert body["status"] == status
    return body


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "write-token"
    path.write_text("s3cret-token\n")  # a Secret's value may end with a newline: it is not part of the token
    return path


def test_without_a_token_file_configured_writes_stay_open() -> None:
    client = client_for("")
    created = client.post(ITEMS, json=ITEM)
    assert created.status_code == 201
    assert client.delete(f"{ITEMS}/{created.json['id']}").status_code == 204
    assert client.get("/").json["write_protection"] == "open"


def test_a_configured_file_that_does_not_exist_yet_leaves_writes_open(tmp_path: Path) -> None:
    client = client_for(str(tmp_path / "not-there-yet"))
    assert client.post(ITEMS, json=ITEM).status_code == 201
    assert client.get("/").json["write_protection"] == "open"


def test_with_the_token_file_a_write_without_the_token_is_a_401_problem(token_file: Path) -> None:
    client = client_for(str(token_file))
    body = problem(client.post(ITEMS, json=ITEM), 401)
    assert body["type"] == "urn:gitops-lab:problem:unauthorized"
    assert "Authorization: Bearer" in body["detail"]
    assert client.post(ITEMS, json=ITEM).headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get(ITEMS).json["count"] == 0  # nothing was created
    assert client.get("/").json["write_protection"] == "token"


def test_a_wrong_token_is_refused_and_the_right_one_accepted(token_file: Path) -> None:
    client = client_for(str(token_file))
    body = problem(client.post(ITEMS, json=ITEM, headers=bearer("s3cret-tokeN")), 401)
    assert "wrong" in body["detail"]
    assert "s3cret" not in json.dumps(body)  # the expected token is never echoed
    problem(client.post(ITEMS, json=ITEM, headers={"Authorization": "Basic s3cret-token"}), 401)
    created = client.post(ITEMS, json=ITEM, headers=bearer("s3cret-token"))
    assert created.status_code == 201
    item = f"{ITEMS}/{created.json['id']}"
    problem(client.delete(item), 401)
    problem(client.delete(item, headers=bearer("nope")), 401)
    assert client.delete(item, headers=bearer("s3cret-token")).status_code == 204


def test_reads_never_need_the_token(token_file: Path) -> None:
    client = client_for(str(token_file))
    assert client.get(ITEMS).status_code == 200
    assert client.get(f"{ITEMS}/1").status_code == 404
    assert client.get("/health").status_code == 200


def test_a_rotated_token_takes_effect_on_the_next_request_without_a_restart(token_file: Path) -> None:
    client = client_for(str(token_file))
    assert client.post(ITEMS, json=ITEM, headers=bearer("s3cret-token")).status_code == 201
    token_file.write_text("rotated-token")
    problem(client.post(ITEMS, json=ITEM, headers=bearer("s3cret-token")), 401)
    assert client.post(ITEMS, json=ITEM, headers=bearer("rotated-token")).status_code == 201


def test_an_empty_token_file_refuses_every_write(tmp_path: Path) -> None:
    path = tmp_path / "write-token"
    path.write_text("\n")
    client = client_for(str(path))
    problem(client.post(ITEMS, json=ITEM), 401)
    problem(client.post(ITEMS, json=ITEM, headers={"Authorization": "Bearer "}), 401)


def test_the_setting_is_read_from_the_environment_and_stripped() -> None:
    settings = load(None, {"APP_WRITE_TOKEN_FILE": " /run/secrets/lab-app/write-token "})
    assert settings.write_token_file == "/run/secrets/lab-app/write-token"
    assert load(None, {}).write_token_file == ""
