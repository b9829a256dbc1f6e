"""The built-in work packages; importing this package registers them in the WPK ``REGISTRY``.

The registry is ``naksha.controllers.agentrun.wpk.REGISTRY``.
"""

from naksha.controllers.agentrun.packages import observations, rollouts, workloads

__all__ = ["observations", "rollouts", "workloads"]
