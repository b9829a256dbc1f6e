"""The annotations through which users and AgentRuns steer a Rollout.

They are the API between whoever asks (``kubectl annotate``, the ``rollback-rollout`` work
package, the CLI) and the Rollout controller, which honours them: an abort scales the canary
down, restores the stable revision and reverts the spec (and the GitOps repo). The keys are
spelled in ``naksha.models.labels``.
"""

from __future__ import annotations

from naksha.models.labels import ABORT, ABORT_REQUESTED_BY, PROMOTE, RETRY

__all__ = ["ABORT", "ABORT_REQUESTED_BY", "PROMOTE", "RETRY"]
