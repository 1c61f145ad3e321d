"""app/Dockerfile's layer order, read as the builder reads it: what changes with every build comes last.

The classic builder re-runs every step after the first one whose cache key changed. The per-build values (commit,
tag, time, source, the lab's labels) change with every build, so they sit in one ARG, one LABEL and one ENV step at
the very end; the fixed metadata (USER, EXPOSE, STOPSIGNAL, HEALTHCHECK, CMD) comes before them and is cached.
tests/integration/test_app_image.py checks the same on a real build.
"""

from __future__ import annotations

from pathlib import Path

from lab.steps.app_image import label_build_args
from lab.tools.docker import labels_for

ROOT = Path(__file__).resolve().parents[2]
PER_BUILD = ("APP_COMMIT", "APP_IMAGE_TAG", "APP_BUILD_TIME", "APP_SOURCE")


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined, comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), rest))
    return out


def runtime_stage() -> list[tuple[str, str]]:
    steps = instructions((ROOT / "app" / "Dockerfile").read_text())
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from + 1 :]


def test_the_per_build_values_are_one_arg_one_label_one_env_step_at_the_end() -> None:
    steps = runtime_stage()
    first = next(i for i, (_, rest) in enumerate(steps) if any(name in rest for name in PER_BUILD))
    assert [keyword for keyword, _ in steps[first:]] == ["ARG", "LABEL", "ENV"], steps[first:]
    declared = {word.split("=", 1)[0] for word in steps[first][1].split()}
    assert set(PER_BUILD) <= declared


def test_the_fixed_metadata_comes_before_them() -> None:
    keywords = [keyword for keyword, _ in runtime_stage()]
    for fixed in ("USER", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "CMD"):
        assert keywords.index(fixed) < keywords.index("ARG"), keywords


def test_the_labs_labels_are_build_args_of_that_label_step() -> None:
    """ship passes the labels `invoke down` finds the lab's images by as build args (no --label flags)."""
    steps = runtime_stage()
    arg = next(rest for keyword, rest in steps if keyword == "ARG")
    label = next(rest for keyword, rest in steps if keyword == "LABEL")
    declared = {word.split("=", 1)[0] for word in arg.split()}
    for key, name in zip(labels_for("app", "c"), label_build_args(dict(labels_for("app", "c"))), strict=True):
        assert name in declared
        assert f'{key}="${{{name}}}"' in label, label
