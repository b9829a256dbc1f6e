"""The demo's scenes, in story order, and whether this build can play each one.

A scene runs when everything it shows exists in this build. Scenes whose kinds have no
controller yet stay in the list (the story's shape does not change) and are reported as "not
available in this build" with the reason, found by looking for the controller's module rather
than written down, so a build that gains the controller and the scene's script shows it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from naksha.demo import scene_chaos, scene_edge, scene_learn, scene_remediate, scene_rollout
from naksha.demo.stage import Stage


@dataclass(frozen=True)
class Scene:
    number: int
    title: str
    shows: str
    needs: tuple[str, ...] = ()  # the modules of the controllers the scene drives
    play: Callable[[Stage], object] | None = None

    def unavailable(self) -> str | None:
        """Why the scene cannot run in this build, or None when it can."""
        missing = [module for module in self.needs if importlib.util.find_spec(module) is None]
        if missing:
            return f"no controller for its kind ({', '.join(missing)} missing)"
        if self.play is None:
            return "its controllers are in this build but the scene's script is not"
        return None


SCENES: tuple[Scene, ...] = (
    Scene(
        1,
        "Detect and remediate",
        "telemetry through Kafka into an InsightStream; a latency spike, one AgentRun, a scale-out, MTTR",
        needs=("naksha.handlers.insightstream", "naksha.handlers.agentrun"),
        play=scene_remediate.run,
    ),
    Scene(
        2,
        "Learn",
        "a ModelVersion retrains from the outcomes, is evaluated and promoted; the next run uses it",
        needs=("naksha.handlers.modelversion",),
        play=scene_learn.run,
    ),
    Scene(
        3,
        "Roll out safely",
        "a Rollout from a GitOps repository: a good version promoted, a bad one rolled back and reverted",
        needs=("naksha.handlers.rollout",),
        play=scene_rollout.run,
    ),
    Scene(
        4,
        "Prove it with chaos",
        "a ChaosExperiment scales checkout to zero, an AgentRun brings it back: verdict, times, journal",
        needs=("naksha.handlers.chaosexperiment",),
        play=scene_chaos.run,
    ),
    Scene(
        5,
        "Reach the edge",
        "an edge agent registers with the hub, turns Ready, runs a signed, allow-listed command",
        needs=("naksha.handlers.edgenode", "naksha.services.hub"),
        play=scene_edge.run,
    ),
)


def scene(number: int) -> Scene:
    for candidate in SCENES:
        if candidate.number == number:
            return candidate
    known = ", ".join(str(s.number) for s in SCENES)
    raise ValueError(f"there is no scene {number}; the scenes are {known}")
