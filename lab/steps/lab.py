"""The lab as a whole, as tasks.py calls it: doctor, up, down, status, dashboard, cache and a manual sync. Each
lives in its own module (preflight, up, down, status, cache, sync) and goes through the lab's components
(lab/components) in their order."""

from __future__ import annotations

from lab.steps.cache import cache, cached_image_file
from lab.steps.down import down, down_aws
from lab.steps.preflight import doctor, kind_check, owned_ports
from lab.steps.status import admin_password, dashboard, status
from lab.steps.sync import sync
from lab.steps.up import UpResult, _first_deploy, up, up_aws

__all__ = [
    "UpResult",
    "_first_deploy",
    "admin_password",
    "cache",
    "cached_image_file",
    "dashboard",
    "doctor",
    "down",
    "down_aws",
    "kind_check",
    "owned_ports",
    "status",
    "sync",
    "up",
    "up_aws",
]
