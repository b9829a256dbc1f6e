"""EdgeNode federation's pure part: tokens, replay ledgers, leases, rate limits, the edge allow-list.

Used by the hub (``naksha.services.hub``), the edge agent (``naksha.services.edge_agent``), the
operator's EdgeNode controller and the ``naksha edge`` commands. Nothing here does I/O.
"""
