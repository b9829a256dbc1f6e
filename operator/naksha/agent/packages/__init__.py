"""The built-in work packages; importing this package registers them in ``naksha.agent.wpk.REGISTRY``."""

from naksha.agent.packages import observations, workloads

__all__ = ["observations", "workloads"]
