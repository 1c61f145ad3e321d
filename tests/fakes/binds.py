"""Bind mounts as the kernel keeps them, for the Docker fakes (a container reads the directory it was started with)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Bind:
    """A bind mount as the kernel keeps it: the host directory it was made from (held open), not its path. After
    the path is removed and made again, a container still reads the old directory through it, as Docker's do."""

    source: str
    target: str
    fd: int

    @classmethod
    def mount(cls, spec: str) -> Bind | None:
        """From `docker run -v SRC:DST[:ro]`; None for a named volume or a single file."""
        source, target = spec.split(":")[:2]
        if not os.path.isabs(source) or not os.path.isdir(source):
            return None
        return cls(source, target, os.open(source, os.O_RDONLY))

    def remount(self) -> Bind:
        """What `docker start` does: mount the path afresh."""
        return Bind(self.source, self.target, os.open(self.source, os.O_RDONLY))

    def current(self) -> bool:
        """True when the path still names the directory this mount holds."""
        held = os.fstat(self.fd)
        try:
            now = os.stat(self.source)
        except FileNotFoundError:
            return False
        return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)

    def read(self, path: str) -> str | None:
        """PATH (inside the container) read through the held directory; None if it is not there."""
        if not path.startswith(self.target.rstrip("/") + "/"):
            return None
        relative = path[len(self.target.rstrip("/")) + 1 :]
        try:
            fd = os.open(relative, os.O_RDONLY, dir_fd=self.fd)
        except OSError:
            return None
        with os.fdopen(fd) as f:
            return f.read()


def read_through(binds: Sequence[Bind], path: str) -> str | None:
    """`cat PATH` in a container with these bind mounts (None: "No such file or directory")."""
    for bind in binds:
        found = bind.read(path)
        if found is not None:
            return found
    return None
