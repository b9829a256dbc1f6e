"""Pydantic models of the six kinds: the single source of truth of the API and the CRDs."""

from naksha.models.agentrun import AgentRunSpec
from naksha.models.chaosexperiment import ChaosExperimentSpec
from naksha.models.edgenode import EdgeNodeSpec
from naksha.models.group import API_VERSION, CATEGORY, GROUP, VERSION
from naksha.models.insightstream import InsightStreamSpec
from naksha.models.kinds import KINDS, KINDS_BY_NAME, KindInfo
from naksha.models.modelversion import ModelVersionSpec
from naksha.models.rollout import RolloutSpec

__all__ = [
    "API_VERSION",
    "CATEGORY",
    "GROUP",
    "KINDS",
    "KINDS_BY_NAME",
    "VERSION",
    "AgentRunSpec",
    "ChaosExperimentSpec",
    "EdgeNodeSpec",
    "InsightStreamSpec",
    "KindInfo",
    "ModelVersionSpec",
    "RolloutSpec",
]
