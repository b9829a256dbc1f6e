"""The exception tree of Naksha: one root, standard library only.

Every error Naksha raises on purpose derives from ``NakshaError``. The root and the errors about
retrying live here; the others live beside the code that raises them::

    NakshaError                        root of everything Naksha raises on purpose
    ├── ConfigError                    settings or a mounted file are unusable (bad env value)
    ├── RetryableError                 transient: retried after ``delay`` seconds
    ├── PermanentError                 retrying cannot help: kopf stops retrying this change
    ├── KubeError                      naksha.kube: the API answered with an error
    │   ├── NotFound                   404
    │   └── Conflict                   409
    ├── ExpressionError                naksha.domain.expressions: an expression is refused
    ├── PlaybookError                  naksha.domain.agentrun.playbooks: a graph cannot run
    ├── Unauthorized, Forbidden        naksha.domain.agentrun.tokens: a bearer token is refused
    ├── _Refused                       naksha.domain.insight.records: one payload is refused (private)
    ├── GitOpsError                    naksha.domain.rollout.manifest: the GitOps revert failed
    │   └── GitCommandError            naksha.controllers.rollout.gitcache: one git command failed
    ├── ObjectError                    naksha.controllers.rollout.gitobjects: a git object is unusable
    ├── ProbeError                     naksha.controllers.probes: an HTTP read failed
    ├── WpkError                       naksha.controllers.agentrun.wpk: a work package failed
    ├── NotYet                         a waiting work package: call again later (control flow)
    ├── Refusal                        naksha.controllers.agentrun.guardrails: an action is refused
    ├── RunGone                        naksha.controllers.agentrun.recorder: the AgentRun was deleted
    ├── Unauthenticated, Denied,       naksha.access.identity: a caller is unknown or not allowed,
    │   ReviewUnavailable              or the cluster could not be asked
    ├── TlsConfigError                 naksha.access.tls: the TLS files are unusable
    ├── IssuerConfigError              naksha.access.issuers: the issuers file is unusable
    ├── Refused                        naksha.services.insight.ingest_guard: a push is refused
    ├── DispatchError                  naksha.services.insight.dispatch: an AgentRun was not created
    ├── CheckpointError                naksha.services.insight.checkpoint: a checkpoint is unreadable
    ├── StateTooLarge                  naksha.services.insight.state_store: a checkpoint is too big
    └── KafkaStateUnavailable          naksha.services.insight.sources.kafka (also a KafkaError)

The errors that callers catch as ``ValueError`` (bad input: expressions, playbooks, checkpoints,
TLS and issuer files, git objects) derive from ``ValueError`` too.

No kopf here: the handlers (``naksha.handlers.common.kopf_errors``) turn ``RetryableError`` into
``kopf.TemporaryError`` and ``PermanentError`` into ``kopf.PermanentError``, so code below the
handlers (and the insight worker, which never runs kopf) does not load kopf.
"""

from __future__ import annotations


class NakshaError(Exception):
    """Root of the errors Naksha raises on purpose."""


class ConfigError(NakshaError):
    """The operator's settings (environment) cannot be used."""


class RetryableError(NakshaError):
    """A transient failure: the handler is retried after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float = 10.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(NakshaError):
    """A failure that retrying cannot fix."""
