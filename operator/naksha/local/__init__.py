"""The local control plane: a Kubernetes API emulator and a local kubelet, for one machine.

It serves the test suite and the demo; ``naksha local up`` runs it in the foreground.
"""

from naksha.local.controlplane import LocalControlPlane

__all__ = ["LocalControlPlane"]
