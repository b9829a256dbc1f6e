"""The insight worker (``naksha insight-worker``): telemetry in, anomalies out, AgentRuns started.

Parsing, scoring and the AgentRun an anomaly names are pure (``naksha.domain.insight``). Here:
``dispatch`` creates that AgentRun exactly once, ``pipeline`` ties parsing, scoring and dispatch
together for a batch, ``sources`` feed batches from Kafka or Redis Streams (``http_api`` takes HTTP
push), ``checkpoint`` and ``state_store`` keep the detectors' state with the source position,
``reporter`` writes the worker's summary into the stream's status, ``worker`` wires it all.
"""
