"""Pure logic per capability: decisions, parsing, signing and verifying; no API, kopf or local I/O."""
