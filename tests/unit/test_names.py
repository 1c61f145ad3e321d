"""The lab's own names (lab/core/names.py) are written once: no other lab/ module repeats one as a literal."""

from __future__ import annotations

import ast
from pathlib import Path

from lab.core import names

LAB = Path(names.__file__).resolve().parents[1]
# Values checked as whole string literals anywhere. "argocd" (also a directory and a port-mapping name) and
# "gitops-lab" (also the default of several unrelated things) are checked where they name the namespace/user only.
DISTINCT = {
    value: key
    for key, value in vars(names).items()
    if key.isupper() and isinstance(value, str) and key not in {"LAB", "ARGOCD_NAMESPACE", "LABEL_PREFIX"}
}
# Modules being rewritten in parallel (issue 11: ship stages, the component list); they move
# onto lab.core.names with their rewrite. Remove an entry when its module no longer repeats a name.
PENDING = {"steps/lab.py", "steps/ship.py"}


def _repeats(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in DISTINCT:
            found.append((node.lineno, f"{node.value!r} (names.{DISTINCT[node.value]})"))
        elif (
            isinstance(node, ast.keyword)
            and node.arg == "namespace"
            and isinstance(node.value, ast.Constant)
            and node.value.value == names.ARGOCD_NAMESPACE
        ):
            found.append((node.lineno, "namespace='argocd' (names.ARGOCD_NAMESPACE)"))
    return found


def test_no_lab_module_repeats_a_name_that_lab_core_names_holds() -> None:
    offenders = []
    for path in sorted(LAB.rglob("*.py")):
        rel = path.relative_to(LAB).as_posix()
        if rel == "core/names.py" or rel in PENDING:
            continue
        offenders += [f"lab/{rel}:{line}: {what}" for line, what in _repeats(ast.parse(path.read_text()))]
    assert offenders == []


def test_the_check_finds_a_repeated_name() -> None:
    tree = ast.parse('x = "lab-registry"\nget("svc", namespace="argocd")\nok = names.GIT_CONTAINER\n')
    assert [line for line, _ in _repeats(tree)] == [1, 2]
