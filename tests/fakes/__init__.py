"""Fakes of the systems the lab drives, one module each: the process runner (runner.py, strict), a clock
(clock.py), bind mounts as Docker keeps them (binds.py), the generic Kubernetes client (kube.py, strict), the
Docker daemon behind the docker CLI (docker.py, strict, checked against real Docker by tests/contract/).
`from fakes import FakeRunner` keeps working."""

from fakes.binds import Bind, read_through
from fakes.clock import Clock
from fakes.runner import Call, FakeRunner, Responder, UnscriptedCommand

__all__ = ["Bind", "Call", "Clock", "FakeRunner", "Responder", "UnscriptedCommand", "read_through"]
