"""The federation hub (``naksha hub``): registers edge agents, keeps their leases, delivers triggers.

``settings`` (configuration), ``store`` (everything it reads and writes on the API, through
``naksha.kube``), ``ledger`` (the durable replay ledger), ``registry`` (the nodes and their leases
in memory, and the status writes their transitions cause), ``deliveries`` (trigger requests and
their results), ``app`` (the HTTP endpoints) and ``main`` (start-up).
"""
