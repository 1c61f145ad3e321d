"""doctor's disk check measures the filesystem the state directory will be on, also when neither it nor its
parent exists yet (LAB_STATE_DIR=/new/dir/for/the/lab is valid: the lab creates it)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from fakes import FakeRunner

from lab.core.config import Settings
from lab.core.context import Context
from lab.core.ui import UI
from lab.steps import doctor


def test_the_disk_check_measures_the_nearest_directory_that_exists(tmp_path: Path) -> None:
    state_dir = tmp_path / "not" / "there" / "yet" / ".lab"
    ctx = Context(Settings(state_dir=state_dir), FakeRunner(), UI(err=io.StringIO(), out=io.StringIO()))
    check = doctor.check_disk(ctx, doctor.Probes())  # the real disk_free: shutil.disk_usage
    assert f"free at {tmp_path}" in check.detail, check.detail
    assert check.detail.startswith(f"{shutil.disk_usage(tmp_path).free / 1024**3:.0f} GiB")
    assert not (tmp_path / "not").exists(), "a check creates nothing"
