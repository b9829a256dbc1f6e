"""Detectors that follow a tuned model: the worker polls each model's alias and hot-swaps.

For every detector with ``model: {name, alias}`` the follower reads the model's alias map every
``interval`` seconds; when the holder changes it reads the holder's artifact, checks its sha256
and swaps the detector's parameters in place (``domain.learning.swap``), the detector-wide set
and each tuned series' own: no restart, the series' state kept. A corrupt or unreadable
artifact, or one without an entry for the detector, changes nothing: the detector keeps its
current parameters and ``state()`` reports the error (in ``/health`` and the stream's status).
The first parameters come from the spec until a holder exists. Reads run in a thread; the swap
runs on the event loop, between batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from naksha.controllers.modelversion.aliases import read_aliases
from naksha.controllers.modelversion.training import read_artifact
from naksha.domain.insight.detectors import DetectorBank
from naksha.domain.insight.records import Labels
from naksha.domain.learning.artifact import ArtifactCorrupt
from naksha.domain.learning.swap import apply_tuned, tuned_series, tuned_spec
from naksha.kube import Kube, KubeError
from naksha.models.insightstream import Detector

logger = logging.getLogger(__name__)
DEFAULT_INTERVAL = 1.0


@dataclass
class Following:
    detector: Detector
    version: str | None = None  # the version whose parameters are in use (None: the spec's)
    sha256: str | None = None
    swapped_at: float | None = None
    state: str | None = None  # "kept" or "reset" at the last swap
    error: str | None = None
    swaps: int = 0

    def report(self) -> dict[str, Any]:
        assert self.detector.model is not None
        return {
            "model": self.detector.model.name,
            "alias": self.detector.model.alias,
            "version": self.version,
            "sha256": self.sha256,
            "swappedAt": self.swapped_at,
            "state": self.state,
            "error": self.error,
            "swaps": self.swaps,
        }


@dataclass
class ModelFollower:
    kube: Kube
    namespace: str
    bank: DetectorBank
    detectors: list[Detector]
    interval: float = DEFAULT_INTERVAL
    following: dict[str, Following] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.following = {d.name: Following(d) for d in self.detectors if d.model is not None}

    def version_of(self, detector: str) -> str | None:
        """The version whose parameters ``detector`` runs now (None: the spec's own)."""
        follow = self.following.get(detector)
        return follow.version if follow is not None else None

    def state(self) -> dict[str, dict[str, Any]]:
        return {name: f.report() for name, f in self.following.items()}

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)

    async def poll(self) -> None:
        for name, follow in self.following.items():
            model = follow.detector.model
            assert model is not None
            try:
                entry = (await asyncio.to_thread(read_aliases, self.kube, self.namespace, model.name)).get(
                    model.alias
                )
            except (KubeError, ValueError) as error:
                follow.error = f"reading the alias failed: {error}"
                continue
            if entry is None or (entry.holder.version, entry.holder.sha256) == (
                follow.version,
                follow.sha256,
            ):
                continue
            holder = entry.holder
            try:
                artifact = await asyncio.to_thread(
                    read_artifact, self.kube, self.namespace, holder.artifact, holder.sha256
                )
                spec = tuned_spec(artifact, follow.detector)
                series = tuned_series(artifact, follow.detector, spec) if spec is not None else {}
            except (ArtifactCorrupt, KubeError, ValueError) as error:
                if follow.error is None or holder.version not in follow.error:
                    logger.warning(
                        "detector %s keeps its parameters: %s of %s refused: %s",
                        name,
                        model.name,
                        holder.version,
                        error,
                    )
                follow.error = f"{holder.version} refused: {error}"
                continue
            if spec is None:
                follow.error = f"{holder.version} has no parameters for detector {name}"
                continue
            self._swap(name, follow, spec, series, holder.version, holder.sha256)

    def _swap(
        self,
        name: str,
        follow: Following,
        spec: Detector,
        series: dict[Labels, Detector],
        version: str,
        sha256: str,
    ) -> None:
        for runner in self.bank.runners:
            if runner.name == name:
                follow.state = apply_tuned(runner, spec, series)
        follow.version, follow.sha256, follow.error = version, sha256, None
        follow.swapped_at = time.time()
        follow.swaps += 1
        logger.info(
            "detector %s now runs %s of %s, %d series with their own parameters (state %s)",
            name,
            version,
            spec.method,
            len(series),
            follow.state,
        )
