"""The API emulator of the local control plane: a Kubernetes API server in memory, on kmock."""

from naksha.local.apiserver.server import ApiEmulator

__all__ = ["ApiEmulator"]
