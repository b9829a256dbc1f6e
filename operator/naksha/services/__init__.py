"""Programs that run beside the operator and may do I/O: the federation hub, the edge agent, ..."""
