"""The built-in work packages; importing this package registers them in ``naksha.agent.wpk.REGISTRY``."""

from naksha.agent.packages import observations, rollouts, workloads

__all__ = ["observations", "rollouts", "workloads"]
