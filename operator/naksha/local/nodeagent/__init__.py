"""The node agent: the local kubelet's pod runner serving a real kube-apiserver as one Node."""

from naksha.local.nodeagent.agent import NodeAgent

__all__ = ["NodeAgent"]
