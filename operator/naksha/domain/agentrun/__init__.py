"""AgentRun's pure logic: playbook graphs and their validation, the run's progress, API tokens."""
