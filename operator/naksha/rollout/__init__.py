"""Progressive delivery: the Rollout controller's domain logic (no kopf imports)."""
