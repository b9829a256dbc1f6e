"""The exception tree of Naksha.

::

    NakshaError                      root of everything Naksha raises on purpose
    ├── ConfigError                  operator settings are unusable (bad env value)
    ├── RetryableError               transient: kopf retries the handler after ``delay``
    └── PermanentError               retrying cannot help: kopf stops retrying this change
        └── InvalidSpecError         a spec breaks a rule; reported as the InvalidSpec condition

The retryable and permanent branches subclass kopf's own errors, so handlers can raise them
directly and kopf applies the right retry policy.
"""

from __future__ import annotations

import kopf


class NakshaError(Exception):
    """Root of the errors Naksha raises on purpose."""


class ConfigError(NakshaError):
    """The operator's settings (environment) cannot be used."""


class RetryableError(NakshaError, kopf.TemporaryError):
    """A transient failure: the handler is retried after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float = 10.0) -> None:
        kopf.TemporaryError.__init__(self, message, delay=delay)


class PermanentError(NakshaError, kopf.PermanentError):
    """A failure that retrying cannot fix."""


class InvalidSpecError(PermanentError):
    """A spec that violates a rule; ``reason`` says which, in words a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
