"""The story: the scenes in order on one stage, then what ``kubectl get naksha -A`` tells and the reports.

``play`` is the code path of ``naksha demo`` and of the tests alike: it plays the chosen scenes
on a stage it is given, prints each unavailable one with its reason, and returns every scene's
result so a test can check the outcome against the objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from naksha.demo.scenes import SCENES, Scene
from naksha.demo.stage import Stage
from naksha.errors import ConfigError
from naksha.kube import KubeError


@dataclass(frozen=True)
class SceneReport:
    number: int
    title: str
    played: bool
    reason: str | None = None  # why it did not play, or why it failed
    result: object | None = None
    ok: bool = False  # played and reached the outcome it shows

    @property
    def failed(self) -> bool:
        return self.played and not self.ok


def play(stage: Stage, scenes: Sequence[Scene] = SCENES) -> list[SceneReport]:
    progress = stage.progress
    reports = []
    for scene in scenes:
        reason = scene.unavailable()
        if reason is not None or scene.play is None:
            progress.say(f"scene {scene.number}: {scene.title} — not available in this build: {reason}")
            reports.append(SceneReport(scene.number, scene.title, False, reason))
            continue
        progress.begin_scene(scene.number, scene.title)
        progress.say(scene.shows)
        try:
            result = scene.play(stage)
        except (ConfigError, KubeError) as error:
            # One scene's failure is reported and the story goes on: the next scene may still play.
            progress.say(f"scene {scene.number} failed: {error}")
            reports.append(SceneReport(scene.number, scene.title, True, reason=str(error)))
            continue
        finally:
            progress.end_scene()
        ok = bool(getattr(result, "ok", False))
        reports.append(SceneReport(scene.number, scene.title, True, result=result, ok=ok))
    return reports


def summary(stage: Stage, reports: Sequence[SceneReport]) -> None:
    """What each scene came to, then the objects as kubectl lists them."""
    for report in reports:
        if not report.played:
            state = f"not available in this build: {report.reason}"
        else:
            state = (
                "reached its outcome"
                if report.ok
                else f"did not reach its outcome ({report.reason or 'see above'})"
            )
        stage.progress.say(f"scene {report.number} {report.title}: {state}")
    stage.progress.say("$ kubectl get naksha -A")
    stage.progress.block(stage.kubectl("get", "naksha", "-A"))
