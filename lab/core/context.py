"""What every step receives: the settings, the runner that starts processes, and the UI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lab.core.config import Settings
from lab.core.runner import Runner, SubprocessRunner
from lab.core.ui import UI


@dataclass
class Context:
    settings: Settings
    runner: Runner = field(default_factory=SubprocessRunner)
    ui: UI = field(default_factory=UI)
    # Called once by `checks_passed` (tasks.py: remember the choices of `invoke up` only once it got that far).
    on_checks_passed: Callable[[Context], None] | None = None

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run

    def checks_passed(self) -> None:
        """A step calls this when its checks passed, right before it changes anything (never in a dry run)."""
        hook, self.on_checks_passed = self.on_checks_passed, None
        if hook is not None and not self.dry_run:
            hook(self)
