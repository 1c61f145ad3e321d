"""The personas' passwords: generated once, kept in a 0600 file under the state dir, and only their bcrypt hashes
(with the password's mtime) in argocd-secret, as argo-cd v3.5.1 util/settings/accounts.go reads them."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import datetime
from pathlib import Path

import bcrypt
import pytest

from lab.components import argocd_personas as personas
from lab.core.errors import ConfigError, Conflict
from lab.steps.personas import check_persona, persona_for


def test_the_first_up_makes_a_password_per_persona_in_a_file_only_its_owner_reads(tmp_path: Path) -> None:
    made = personas.ensure_file(tmp_path)
    path = tmp_path / "argocd-personas.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(made) == {"developer", "senior", "lead"}
    assert len({p.password for p in made.values()}) == 3 and all(len(p.password) >= 24 for p in made.values())
    for p in made.values():
        assert bcrypt.checkpw(p.password.encode(), p.password_hash.encode())
        assert p.password_hash.startswith("$2b$10$")  # Argo CD's minimum cost (util/password/password.go)
        datetime.strptime(p.mtime, "%Y-%m-%dT%H:%M:%SZ")  # RFC 3339, as accounts.go parses passwordMtime
    assert not [f for f in os.listdir(tmp_path) if f != "argocd-personas.json"], "no temporary file left"


def test_a_later_up_keeps_the_passwords_and_repairs_the_files_mode(tmp_path: Path) -> None:
    first = personas.ensure_file(tmp_path)
    path = tmp_path / "argocd-personas.json"
    path.chmod(0o644)
    again = personas.ensure_file(tmp_path, make=lambda name: pytest.fail(f"made a new password for {name}"))
    assert again == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_persona_missing_from_the_file_gets_one_and_the_others_stay(tmp_path: Path) -> None:
    first = personas.ensure_file(tmp_path)
    path = tmp_path / "argocd-personas.json"
    raw = json.loads(path.read_text())
    del raw["senior"]
    path.write_text(json.dumps(raw))
    again = personas.ensure_file(tmp_path)
    assert again["developer"] == first["developer"] and again["lead"] == first["lead"]
    assert again["senior"].password != first["senior"].password


def test_argocd_secret_holds_hashes_and_mtimes_never_a_password(tmp_path: Path) -> None:
    made = personas.ensure_file(tmp_path)
    doc = personas.secret_doc(made)
    assert doc["metadata"] == {"name": "argocd-secret", "namespace": "argocd"}
    data = {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
    assert set(data) == {f"accounts.{n}.{k}" for n in made for k in ("password", "passwordMtime")}
    for name, p in made.items():
        assert bcrypt.checkpw(p.password.encode(), data[f"accounts.{name}.password"].encode())
        assert data[f"accounts.{name}.passwordMtime"] == p.mtime
    text = json.dumps(doc)
    assert not [p.password for p in made.values() if p.password in text]


def test_a_personas_file_that_is_not_json_is_a_conflict_with_a_working_hint(tmp_path: Path) -> None:
    (tmp_path / "argocd-personas.json").write_text("{not json")
    with pytest.raises(Conflict) as info:
        personas.load(tmp_path)
    assert (
        info.value.hint
        == f"remove it and run `invoke up` to make new passwords: rm {tmp_path}/argocd-personas.json && invoke up"
    )


def test_an_unknown_persona_is_a_config_error_naming_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        check_persona("admin")
    assert info.value.exit_code == 2 and "--as 'admin'" in info.value.message
    assert info.value.hint == "valid personas: developer, senior, lead"
    assert persona_for("staging", None) == "senior" and persona_for("staging", "lead") == "lead"
