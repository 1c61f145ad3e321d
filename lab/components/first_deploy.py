"""The first deploy: the app in every environment, so each has a real image and a deploy commit from the start
(and dev can report Healthy). The deploy itself is the pipeline's own code (ship + promote, lab/steps/up.py hands
it in as `Up.first_deploy`); this component places it in the order."""

from __future__ import annotations

from lab.components.base import BOTH, Component, Up


class FirstDeployComponent(Component):
    name = "first deploy"
    targets = BOTH

    def ensure(self, run: Up) -> None:
        # No deploy given (the aws plan, or `up_aws` called on its own): the caller deploys, or nothing does.
        if run.first_deploy is not None:
            run.made[self.name] = run.first_deploy(run)
