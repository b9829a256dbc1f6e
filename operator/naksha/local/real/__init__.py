"""The real control plane backend: etcd, kube-apiserver, the controllers and the node agent."""

from naksha.local.real.binaries import Binaries, BinariesMissing, ensure, locate
from naksha.local.real.controlplane import RealControlPlane

__all__ = ["Binaries", "BinariesMissing", "RealControlPlane", "ensure", "locate"]
