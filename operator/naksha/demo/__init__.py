"""``naksha demo``: the closed loop as a scripted story in scenes, on one machine, everything real.

Sits beside ``naksha.cli`` at the top of the layers: the only callers are ``naksha.cli.demo`` and
the tests, and like them it may use ``naksha.local`` (the control plane, the tansu broker).

- ``stage``: what runs underneath (control plane, broker, operator) and the scenes' handles
- ``progress``: one timestamped line per event
- ``scenes``: the story's scenes and whether this build can play each
- ``story``: plays scenes on a stage and sums up
- ``telemetry``, ``traffic``: the InsightStream, and the traffic whose telemetry feeds it
- ``scene_remediate`` (1), ``scene_rollout`` (3): the scenes this build plays
"""
