"""The docs and comments stand on their own and say what the code does."""

from __future__ import annotations

import re
import subprocess

from lab.config import ROOT

# Working notes that are not part of the repository: citing them leaves a reader with nothing to check. The
# patterns are escaped so that this file does not match itself.
UNPUBLISHED = re.compile(r"FACTS\.md|DESIGN\.md|\.\./shared")


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    files = [name for name in out.decode().split("\0") if name]
    assert files, f"git ls-files found nothing in {ROOT}"
    return files


def test_no_tracked_file_cites_notes_outside_the_repository() -> None:
    found = []
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file():  # deleted in the work tree, not yet in the index
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        found += [
            f"{name}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if UNPUBLISHED.search(line)
        ]
    assert found == [], "cite the upstream source instead:\n" + "\n".join(found)
