"""The six capabilities the reports cover: their report file, kind, controller and tests.

Whether a capability is built is looked up (its handler module exists), never written down, so a
report written by a build that has the controller says so without an edit here.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Capability:
    report: str  # D.1 ... D.6
    file: str
    title: str
    kind: str
    plural: str
    controller: str  # the module of its kopf handlers
    tests: tuple[str, ...]  # test folder names (under tests/unit and tests/integration)

    def built(self) -> bool:
        return importlib.util.find_spec(self.controller) is not None


CAPABILITIES: tuple[Capability, ...] = (
    Capability(
        "D.1",
        "D.1_insight_stream.md",
        "Insight streams",
        "InsightStream",
        "insightstreams",
        "naksha.handlers.insightstream",
        ("insight",),
    ),
    Capability(
        "D.2",
        "D.2_agent_framework.md",
        "Agent framework",
        "AgentRun",
        "agentruns",
        "naksha.handlers.agentrun",
        ("agent",),
    ),
    Capability(
        "D.3",
        "D.3_cll_trainer.md",
        "Continuous learning (trainer)",
        "ModelVersion",
        "modelversions",
        "naksha.handlers.modelversion",
        ("learning", "modelversion", "trainer"),
    ),
    Capability(
        "D.4",
        "D.4_federation.md",
        "Federation (hub and edge)",
        "EdgeNode",
        "edgenodes",
        "naksha.handlers.edgenode",
        ("federation", "edge", "edgenode"),
    ),
    Capability(
        "D.5",
        "D.5_chaos.md",
        "Chaos experiments",
        "ChaosExperiment",
        "chaosexperiments",
        "naksha.handlers.chaosexperiment",
        ("chaos",),
    ),
    Capability(
        "D.6",
        "D.6_deploy_pipeline.md",
        "Deploy pipeline (rollouts)",
        "Rollout",
        "rollouts",
        "naksha.handlers.rollout",
        ("rollout",),
    ),
)


def by_report(report: str) -> Capability:
    for capability in CAPABILITIES:
        if capability.report == report:
            return capability
    raise KeyError(report)
