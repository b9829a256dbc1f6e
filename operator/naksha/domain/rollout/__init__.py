"""Rollout's pure logic: revisions, analysis judgement, stable health, the GitOps manifest edit.

The Rollout's I/O (measurements, the rollback, the git cache) is in ``naksha.controllers.rollout``.
"""
