"""Naksha: a Kubernetes operator for autonomous operations.

The package holds the operator (``naksha.handlers`` on kopf), the domain logic per
capability, the builders of the workloads it runs, and a local control plane
(``naksha.local``) that runs all of it on one machine without a cluster.
"""

__version__ = "4.0.0"
