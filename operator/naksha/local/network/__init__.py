"""Pod networking for a node on one machine: a network namespace and a 127/8 address per pod.

``NodeNetwork`` gives each pod its ``PodNetwork`` (namespace, address, forwarders) and removes
what crashed kubelets left; ``ServiceProxy`` gives Services a ClusterIP and spreads their
connections over ready pods. No address outside 127.0.0.0/8 is ever used, inside namespaces
either. Independent of the API: the local kubelet uses it, and so can a node agent for a real API
server.
"""

from naksha.local.network.node import NodeNetwork
from naksha.local.network.pods import PodNetwork
from naksha.local.network.services import ServiceProxy, ready_endpoints

__all__ = ["NodeNetwork", "PodNetwork", "ServiceProxy", "ready_endpoints"]
