"""The Rollout's I/O: measurements, the rollback, and the GitOps revert through a local git cache."""
