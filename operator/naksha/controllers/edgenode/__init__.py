"""The operator's API I/O for EdgeNodes (the hub, ``naksha.services.hub``, does the rest)."""
