"""Everything that does API I/O for a kind inside the operator, one package per kind."""
