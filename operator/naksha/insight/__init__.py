"""The insight worker (``naksha insight-worker``): telemetry in, anomalies out, AgentRuns started.

``records`` parses payloads, ``detectors`` scores series, ``signals`` turns an anomaly into an
AgentRun, ``dispatch`` creates it exactly once, ``pipeline`` ties them together for a batch,
``sources`` feed batches from Kafka or Redis Streams (``http_api`` takes HTTP push),
``reporter`` writes the worker's summary into the stream's status, ``worker`` wires it all.
"""
