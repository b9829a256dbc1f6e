"""The edge agent (``naksha edge-agent``): registers once, heartbeats, rotates, pulls and runs triggers.

``state`` (the state directory: key, identity, replay ledger, result queue; every write atomic),
``execute`` (running an allowed ``Execution``), ``agent`` (the loops talking to the hub).
"""
