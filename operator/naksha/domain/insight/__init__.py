"""InsightStream's pure logic: telemetry records, detectors and their methods, trigger signals.

``records`` parses payloads, ``detectors`` scores series (with ``methods`` and ``predictive``),
``signals`` turns an anomaly into the AgentRun it names. The worker process that feeds them is
``naksha.services.insight``.
"""
