"""Everything that does API I/O for a kind inside the operator, through ``naksha.kube`` only."""
