"""What every step receives: the settings, the runner that starts processes, and the UI."""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.config import Settings
from lab.runner import Runner, SubprocessRunner
from lab.ui import UI


@dataclass
class Context:
    settings: Settings
    runner: Runner = field(default_factory=SubprocessRunner)
    ui: UI = field(default_factory=UI)

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run
