"""kopf handlers: thin decorators that parse the body, call a reconciler and return.

Importing this package registers every handler with kopf's default registry; ``naksha
operator`` and the tests (``kopf run -m naksha.handlers``) do exactly that.
"""

from naksha.handlers import (
    admission,
    agentrun,
    chaosexperiment,
    edgenode,
    insightstream,
    lifecycle,
    modelversion,
    rollout,
)

__all__ = [
    "admission",
    "agentrun",
    "chaosexperiment",
    "edgenode",
    "insightstream",
    "lifecycle",
    "modelversion",
    "rollout",
]
