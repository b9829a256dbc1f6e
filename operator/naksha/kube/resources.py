"""The kinds Naksha reads or writes, as the API client sees them: ``naksha.models.resources``.

The catalogue itself is plain data beside the models, so pure code can name a resource without
importing the API client; this module keeps ``naksha.kube.resources`` working for its callers.
"""

from naksha.models.resources import ResourceRef, resource_for

__all__ = ["ResourceRef", "resource_for"]
