"""Progress output in kind's style: ` • Creating cluster "lab" …` then ` ✓` / ` ✗` with the time taken.

Status goes to stderr, data (tables, manifests, URLs) to stdout. A spinner only on a TTY. Every phase is
timed; ``timings`` feeds the summary tables of `up` and `ship`. With LAB_TIMINGS=PATH in the environment, a task
writes its phases (title, start as a Unix time, seconds, ok) to PATH as JSON when it exits (bench/bench_ship.py
reads them; see ``write_timings``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text


@dataclass
class Phase:
    title: str
    seconds: float = 0.0
    ok: bool = True
    note: str = ""
    skipped: bool = False  # not run (a dry run that cannot know): shown as –, never as ✓
    started: float = 0.0  # time.time() when it began (for LAB_TIMINGS; durations use the monotonic clock)

    def skip(self, reason: str) -> None:
        """Mark this phase as not done after all (e.g. "dry run: no cluster answers"): it ends with – instead of ✓."""
        self.skipped, self.note = True, f"skipped ({reason})"


@dataclass
class UI:
    err: TextIO = field(default_factory=lambda: sys.stderr)
    out: TextIO = field(default_factory=lambda: sys.stdout)
    quiet: bool = False
    phases: list[Phase] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._err = Console(file=self.err, highlight=False, soft_wrap=True)
        self._out = Console(file=self.out, highlight=False, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        return self._err.is_terminal

    @contextmanager
    def phase(self, title: str) -> Iterator[Phase]:
        """Run a block as a named phase: prints • title, then ✓/✗ and its duration."""
        rec = Phase(title, started=time.time())
        self.phases.append(rec)
        start = time.monotonic()
        try:
            if self.interactive and not self.quiet:
                with self._err.status(f" {title} …", spinner="dots"):
                    yield rec
            else:
                if not self.quiet:
                    self._err.print(f" • {title} …", markup=False)
                yield rec
        except BaseException:
            rec.ok = False
            rec.seconds = time.monotonic() - start
            self._err.print(f" ✗ {title} ({rec.seconds:.1f}s)", markup=False)
            raise
        rec.seconds = time.monotonic() - start
        if not self.quiet:
            suffix = f" — {rec.note}" if rec.note else ""
            mark = "–" if rec.skipped else "✓"
            self._err.print(f" {mark} {title} ({rec.seconds:.1f}s){suffix}", markup=False)

    def done(self, title: str, seconds: float, *, started: float, ok: bool = True, note: str = "") -> Phase:
        """A phase that ran beside another one (ship's quality gate runs beside the build, in a thread that must not
        print): recorded and shown once it is over, as ` ✓ title (1.2s) — note`."""
        rec = Phase(title, seconds, ok, note, started=started)
        self.phases.append(rec)
        if not self.quiet or not ok:
            mark = "✓" if ok else "✗"
            suffix = f" — {note}" if note else ""
            self._err.print(f" {mark} {title} ({seconds:.1f}s){suffix}", markup=False)
        return rec

    def write_timings(self, path: Path) -> None:
        """The phases as JSON (LAB_TIMINGS): [{"title", "started" (Unix time), "seconds", "ok"}], and when this
        was written ("ended"), so that a caller that timed the whole process can tell start-up and exit apart."""
        phases = [{"title": p.title, "started": p.started, "seconds": p.seconds, "ok": p.ok} for p in self.phases]
        path.write_text(json.dumps({"phases": phases, "ended": time.time()}, indent=1))

    def skipped(self, title: str, reason: str) -> Phase:
        """A phase that did not run, and why (e.g. "dry run: Argo CD is not asked"): ` – title — skipped (reason)`."""
        rec = Phase(title)
        rec.skip(reason)
        self.phases.append(rec)
        if not self.quiet:
            self._err.print(f" – {title} — {rec.note}", markup=False)
        return rec

    def info(self, message: str) -> None:
        if not self.quiet:
            self._err.print(message, markup=False)

    def warn(self, message: str) -> None:
        self._err.print(f" ! {message}", markup=False)

    def data(self, text: str) -> None:
        """Data for the user or a pipe: stdout."""
        self._out.print(text, markup=False, highlight=False)

    def manifest(self, title: str, text: str) -> None:
        """A generated file, shown in dry runs: a YAML comment header then the document."""
        self._out.print(f"# --- {title} ---\n{text.rstrip()}\n", markup=False, highlight=False)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        table = Table(title=title, title_justify="left")
        for col in columns:
            table.add_column(col)
        for row in rows:  # cells are plain text: a value like `containers[name=app]` is not rich markup
            table.add_row(*(Text("" if v is None else str(v)) for v in row))
        self._out.print(table)

    def summary(self, title: str = "Phases") -> None:
        total = sum(p.seconds for p in self.phases)
        rows = [
            (
                "–" if p.skipped else "✓" if p.ok else "✗",
                p.title + (f" ({p.note})" if p.skipped else ""),
                f"{p.seconds:.2f}s",
            )
            for p in self.phases
        ]
        rows.append(("", "total", f"{total:.2f}s"))
        self.table(title, ("", "phase", "time"), rows)

    def next_steps(self, *commands: str) -> None:
        if commands:
            self.info("\nNext:")
            for cmd in commands:
                self.info(f"  {cmd}")
