"""The AgentRun controller: the graph engine, its recorder and executors, work packages (WPKs),
guardrails and fence, playbook loading, the runner and the HTTP API."""

# Named here too for code written against this package; the resource itself lives in one place.
from naksha.models.resources import AGENT_RUNS as AGENT_RUNS
