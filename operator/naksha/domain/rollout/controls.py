"""The annotations through which users and AgentRuns steer a Rollout.

They are the API between whoever asks (``kubectl annotate``, the ``rollback-rollout`` work
package, the CLI) and the Rollout controller, which honours them: an abort scales the canary
down, restores the stable revision and reverts the spec (and the GitOps repo).
"""

from __future__ import annotations

from naksha.models.group import GROUP

ABORT = f"{GROUP}/abort"  # value: the reason, shown in the RolledBack condition and the revert commit
ABORT_REQUESTED_BY = f"{GROUP}/abort-requested-by"  # who asked: "<namespace>/<AgentRun>" or a user
PROMOTE = f"{GROUP}/promote"  # any value: leave an indefinite pause / promote to the end
RETRY = f"{GROUP}/retry"  # any value: start the aborted revision again
