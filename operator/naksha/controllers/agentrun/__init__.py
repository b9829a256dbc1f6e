"""The AgentRun controller: the graph engine, its recorder and executors, work packages (WPKs),
guardrails and fence, playbook loading, the runner and the HTTP API."""

from naksha.kube.resources import resource_for
from naksha.models.group import API_VERSION

AGENT_RUNS = resource_for(API_VERSION, "AgentRun")
