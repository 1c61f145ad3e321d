"""The docs and comments stand on their own and say what the code does."""

from __future__ import annotations

import re
import subprocess

import pytest

from lab.core.config import ROOT

# Working notes that are not part of the repository: citing them leaves a reader with nothing to check. The
# patterns are escaped so that this file does not match itself.
UNPUBLISHED = re.compile(r"FACTS\.md|DESIGN\.md|\.\./shared")


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    files = [name for name in out.decode().split("\0") if name]
    assert files, f"git ls-files found nothing in {ROOT}"
    return files


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
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


def gunicorn_default(name: str) -> int:
    match = re.search(rf'_int_env\("{name}", (\d+),', (ROOT / "app" / "gunicorn.conf.py").read_text())
    assert match, f"app/gunicorn.conf.py reads no {name}"
    return int(match[1])


def test_the_graceful_timeout_the_docs_give_is_the_apps() -> None:
    code = gunicorn_default("GUNICORN_GRACEFUL_TIMEOUT")
    for path in (ROOT / "docs" / "environments.md", ROOT / "overlays" / "base" / "deployment.yaml"):
        text = re.sub(r"\s+#?\s*", " ", path.read_text())  # joined across (comment) line breaks
        said = re.findall(r"GUNICORN_GRACEFUL_TIMEOUT`?, (\d+) s by default", text)
        assert said == [str(code)], f"{path.relative_to(ROOT)} says {said}, app/gunicorn.conf.py {code}"


def test_the_poll_interval_the_pipeline_doc_gives_is_the_labs() -> None:
    from lab.manifests.argocd import InstallOptions

    options = InstallOptions()
    text = re.sub(r"\s+", " ", (ROOT / "docs" / "pipeline.md").read_text())
    said = re.findall(r"Argo CD polls git every (\d+ ?s)\b", text)
    assert [s.replace(" ", "") for s in said] == [options.reconciliation_timeout], said
    assert options.reconciliation_jitter == "0s" and "no jitter" in text
