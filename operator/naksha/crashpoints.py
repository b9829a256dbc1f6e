"""Crash points: the named places where a crash test makes the process die, on purpose.

Crash safety is tested by killing real processes at the worst moments (an action's intent
recorded but not applied, a revert pushed but not recorded...). ``NAKSHA_CRASH_POINT`` names one
point; the process that reaches it SIGKILLs itself there, the death an OOM kill or a lost node
gives, at exactly that place and with no timing guesswork in the test. Unset, which is always
the case outside the crash tests, ``crash_point`` does nothing.

Most points are reached only on the path that first makes the state it guards (a new intent, a
fresh revert), so the restarted process, which inherits the same environment (a Job's next pod
does), carries on instead of dying there again. A point that every attempt reaches (a retried
pod trains again) fires once when ``NAKSHA_CRASH_ONCE`` names a marker path: the first process to
reach the point creates the marker (``O_EXCL``, so exactly one wins) and dies; every later one
finds it and carries on. The marker must be on a filesystem the attempts share (the local
control plane runs a pod's processes on the host's).
"""

from __future__ import annotations

import logging
import os
import signal

ENV = "NAKSHA_CRASH_POINT"
ONCE_ENV = "NAKSHA_CRASH_ONCE"
POINTS = frozenset(
    {
        "agentrun.before-apply",  # an action's intent is recorded in status; nothing has changed yet
        "rollout.before-gitops",  # the rollback is recorded and the spec reverted; no revert commit yet
        "rollout.after-gitops-push",  # the revert commit is on the remote; the status does not say so
        "insight.before-trigger",  # a batch's anomalies are detected; no AgentRun created yet
        "insight.after-trigger",  # the AgentRuns exist; the batch is not acknowledged yet
        "chaos.before-inject",  # a ChaosExperiment's intent is recorded; the fault is not injected yet
        "chaos.after-restore",  # the fault is restored; the status does not say so yet
        # A ModelVersion is trained; its artifact is not written. Unlike the others it is reached
        # by every attempt (a Job's retried pod trains again): each attempt dies there, or only the
        # first with NAKSHA_CRASH_ONCE.
        "trainer.before-write",
    }
)

logger = logging.getLogger(__name__)


def crash_point(name: str) -> None:
    """Die here (SIGKILL, no cleanup) when ``NAKSHA_CRASH_POINT`` names this point (and, with
    ``NAKSHA_CRASH_ONCE``, this process is the first to reach it)."""
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r}; known: {', '.join(sorted(POINTS))}")
    if os.environ.get(ENV) == name:
        marker = os.environ.get(ONCE_ENV)
        if marker and not first_to_reach(marker, name):
            logger.warning("crash point %s: fired once already (%s); carrying on", name, marker)
            return
        logger.warning("crash point %s: killing this process (SIGKILL)", name)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def first_to_reach(marker: str, name: str) -> bool:
    """Create ``marker`` if no process has; True only for the one that created it."""
    try:
        descriptor = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as file:
        file.write(f"{name} {os.getpid()}\n")
    return True
