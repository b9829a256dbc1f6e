"""Everything that does API I/O for a kind inside the operator, through ``naksha.kube`` only.

One package per kind (``agentrun``, ``rollout``, ``chaosexperiment``); ``probes`` holds the small
HTTP reads shared by AgentRun work packages and Rollout measurements. Decisions they act on live in
``naksha.domain``; reconcilers and handlers call these.
"""
