"""Pure logic per capability: decisions, parsing, scoring; no API client, no kopf, no I/O."""
