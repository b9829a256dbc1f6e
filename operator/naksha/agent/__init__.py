"""The agent engine behind AgentRun: safe expressions, work packages (WPKs), playbooks, the graph runner."""
