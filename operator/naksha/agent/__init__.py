"""The agent engine behind AgentRun: safe expressions, work packages (WPKs), playbooks, the graph runner."""

from naksha.kube.resources import resource_for
from naksha.models.group import API_VERSION

AGENT_RUNS = resource_for(API_VERSION, "AgentRun")
