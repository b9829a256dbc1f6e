"""The local kubelet: runs Deployments, Jobs and their pods for the local control plane.

Pods whose container runs a ``naksha`` command become local processes; other images are
simulated as running. See ``node.Kubelet`` for how it follows the API and ``pods`` for how a
pod runs.
"""

from naksha.local.kubelet.node import Kubelet

__all__ = ["Kubelet"]
